// tokenizerFromHfDir: tokenizer.json when present, else tokenizer.model; then tokenizer_config.json
// (add_bos_token, bos_token / eos_token strings, added_tokens_decoder) and config.json (bos/eos ids) where the
// tokenizer files leave them open.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gqa/tokenizer.h"
#include "tokenizer/loaders.h"

namespace gqa {

namespace tok {

Expected<std::string> readTextFile(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return makeError(ErrorCode::IoError, path + " is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) return makeError(ErrorCode::IoError, path + " cannot be opened");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return makeError(ErrorCode::IoError, path + " cannot be read");
    return ss.str();
}

}  // namespace tok

namespace {

using nlohmann::json;

// A special-token entry of tokenizer_config.json: "<s>" or {"content": "<s>", ...}.
std::string tokenString(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v.at("content").is_string())
        return v.at("content").get<std::string>();
    return {};
}

int32_t idOf(const tok::TokenizerSpec& spec, const std::string& content) {
    for (const tok::AddedToken& t : spec.added)
        if (t.content == content) return t.id;
    return spec.vocab.find(content);
}

Status applyTokenizerConfig(const std::string& path, tok::TokenizerSpec& spec, bool from_json) {
    auto text = tok::readTextFile(path);
    if (!text) return text.error();
    try {
        const json cfg = json::parse(*text);
        if (!cfg.is_object()) return makeError(ErrorCode::Corrupt, path + ": the top level is not an object");
        // Extra added tokens (a tokenizer.model directory's only source of them).
        if (!from_json && cfg.contains("added_tokens_decoder") && cfg.at("added_tokens_decoder").is_object()) {
            for (const auto& [key, entry] : cfg.at("added_tokens_decoder").items()) {
                const std::string where = path + ": added_tokens_decoder['" + key + "']";
                std::size_t used = 0;
                const long id = std::stol(key, &used);
                const std::string content = tokenString(entry);
                if (used != key.size() || id < 0 || content.empty())
                    return makeError(ErrorCode::Corrupt, where + " is not an id with a content string");
                const bool special = entry.value("special", false);
                if (id == spec.vocab.size()) {
                    spec.vocab.pieces.push_back(content);
                    spec.vocab.types.push_back(special ? tok::TokenType::Control : tok::TokenType::UserDefined);
                    if (!spec.vocab.scores.empty()) spec.vocab.scores.push_back(0.0f);
                    spec.vocab.index.try_emplace(content, static_cast<int32_t>(id));
                } else if (id > spec.vocab.size()) {
                    return makeError(ErrorCode::Corrupt, where + " leaves a gap after the vocabulary (" +
                                                             std::to_string(spec.vocab.size()) + " tokens)");
                } else if (spec.vocab.pieces[static_cast<std::size_t>(id)] != content) {
                    return makeError(ErrorCode::Corrupt, where + " '" + content + "' differs from the vocabulary's '" +
                                                             spec.vocab.pieces[static_cast<std::size_t>(id)] + "'");
                }
                bool known = false;
                for (const tok::AddedToken& t : spec.added) known = known || t.id == id;
                if (!known)
                    spec.added.push_back({content, static_cast<int32_t>(id), entry.value("lstrip", false),
                                          entry.value("rstrip", false)});
            }
        }
        if (cfg.contains("add_bos_token") && cfg.at("add_bos_token").is_boolean())
            spec.add_bos = cfg.at("add_bos_token").get<bool>();
        if (cfg.contains("bos_token")) {
            const std::string s = tokenString(cfg.at("bos_token"));
            if (!s.empty()) {
                const int32_t id = idOf(spec, s);
                if (id < 0) return makeError(ErrorCode::Corrupt, path + ": bos_token '" + s + "' is not a token");
                spec.bos = id;
            }
        }
        if (cfg.contains("eos_token")) {
            const std::string s = tokenString(cfg.at("eos_token"));
            if (!s.empty()) {
                const int32_t id = idOf(spec, s);
                if (id < 0) return makeError(ErrorCode::Corrupt, path + ": eos_token '" + s + "' is not a token");
                spec.eos = id;
            }
        }
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Corrupt, path + ": " + e.what());
    }
    return Status::ok();
}

// config.json's bos_token_id / eos_token_id (an id or a list of ids: the first) where still unset.
Status applyModelConfig(const std::string& path, tok::TokenizerSpec& spec) {
    auto text = tok::readTextFile(path);
    if (!text) return text.error();
    try {
        const json cfg = json::parse(*text);
        auto idFrom = [&](const char* key, int32_t& target) -> Status {
            if (target >= 0 || !cfg.contains(key) || cfg.at(key).is_null()) return Status::ok();
            json v = cfg.at(key);
            if (v.is_array() && !v.empty()) v = v[0];
            if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= spec.vocab.size())
                return makeError(ErrorCode::Corrupt, path + ": " + key + " is not an id in the vocabulary (" +
                                                         std::to_string(spec.vocab.size()) + " tokens)");
            target = v.get<int32_t>();
            return Status::ok();
        };
        GQA_TRY(idFrom("bos_token_id", spec.bos));
        GQA_TRY(idFrom("eos_token_id", spec.eos));
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Corrupt, path + ": " + e.what());
    }
    return Status::ok();
}

}  // namespace

Expected<std::shared_ptr<const Tokenizer>> tokenizerFromHfDir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return makeError(ErrorCode::IoError, dir + " is not a directory");
    const std::string json_path = (fs::path(dir) / "tokenizer.json").string();
    const std::string model_path = (fs::path(dir) / "tokenizer.model").string();
    const bool from_json = fs::exists(json_path, ec);
    if (!from_json && !fs::exists(model_path, ec))
        return makeError(ErrorCode::IoError, dir + " has neither tokenizer.json nor tokenizer.model");
    auto spec = from_json ? tok::specFromTokenizerJson(json_path) : tok::specFromSentencePiece(model_path);
    if (!spec) return spec.error();
    const std::string tcfg = (fs::path(dir) / "tokenizer_config.json").string();
    if (fs::exists(tcfg, ec)) GQA_TRY(applyTokenizerConfig(tcfg, *spec, from_json));
    const std::string mcfg = (fs::path(dir) / "config.json").string();
    if (fs::exists(mcfg, ec)) GQA_TRY(applyModelConfig(mcfg, *spec));
    return tok::PipelineTokenizer::create(std::move(spec.value()));
}

}  // namespace gqa
