// tokenizer.json -> TokenizerSpec. Supported: model BPE (byte_fallback, fuse_unk, ignore_merges, unk_token;
// merges as "a b" strings or [a, b] pairs); normalizers Sequence / Prepend / Replace / NFC (NFC is taken as
// already satisfied: the text is used as given); pre-tokenizers Sequence / Split / Digits / ByteLevel /
// Metaspace / Punctuation / WhitespaceSplit; decoders Sequence / Replace / ByteFallback / Fuse / Strip /
// ByteLevel / Metaspace; post-processor TemplateProcessing (its leading special token is BOS).
// Anything else is refused with a message naming it.
#include <nlohmann/json.hpp>

#include <stdexcept>

#include "tokenizer/loaders.h"

namespace gqa::tok {

namespace {

using nlohmann::json;

// A problem in the file's contents; `what()` names the key.
struct SchemaError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct Unsupported : std::runtime_error {
    using std::runtime_error::runtime_error;
};

const json& need(const json& obj, const char* key, const std::string& where) {
    if (!obj.is_object() || !obj.contains(key)) throw SchemaError(where + "." + key + " is missing");
    return obj.at(key);
}

bool flagOr(const json& obj, const char* key, bool fallback, const std::string& where) {
    if (!obj.is_object() || !obj.contains(key) || obj.at(key).is_null()) return fallback;
    if (!obj.at(key).is_boolean()) throw SchemaError(where + "." + key + " is not a bool");
    return obj.at(key).get<bool>();
}

std::string stringOr(const json& obj, const char* key, const std::string& fallback, const std::string& where) {
    if (!obj.is_object() || !obj.contains(key) || obj.at(key).is_null()) return fallback;
    if (!obj.at(key).is_string()) throw SchemaError(where + "." + key + " is not a string");
    return obj.at(key).get<std::string>();
}

// A Split / Replace "pattern": {"String": "..."} or {"Regex": "..."}.
void readPattern(const json& p, std::string& literal, std::shared_ptr<const Regex>& regex, const std::string& where) {
    if (p.is_object() && p.contains("String") && p.at("String").is_string()) {
        literal = p.at("String").get<std::string>();
        return;
    }
    if (p.is_object() && p.contains("Regex") && p.at("Regex").is_string()) {
        auto re = Regex::compile(p.at("Regex").get<std::string>());
        if (!re) throw SchemaError(where + ": " + re.error().message);
        regex = std::move(re.value());
        return;
    }
    throw SchemaError(where + " is neither {\"String\": ...} nor {\"Regex\": ...}");
}

void readNormalizer(const json& n, std::vector<NormalizerOp>& ops, const std::string& where) {
    if (n.is_null()) return;
    const std::string type = stringOr(n, "type", "", where);
    if (type == "Sequence") {
        const json& list = need(n, "normalizers", where);
        if (!list.is_array()) throw SchemaError(where + ".normalizers is not an array");
        for (std::size_t i = 0; i < list.size(); ++i)
            readNormalizer(list[i], ops, where + ".normalizers[" + std::to_string(i) + "]");
    } else if (type == "Prepend") {
        ops.push_back({NormalizerOp::Kind::Prepend, {}, nullptr, stringOr(n, "prepend", "", where)});
    } else if (type == "Replace") {
        NormalizerOp op;
        op.kind = NormalizerOp::Kind::Replace;
        readPattern(need(n, "pattern", where), op.pattern, op.regex, where + ".pattern");
        op.content = stringOr(n, "content", "", where);
        ops.push_back(std::move(op));
    } else if (type == "NFC") {
        // Accepted as a no-op: text already in NFC (the common case) is unchanged by it.
    } else {
        throw Unsupported(where + ": normalizer type '" + type + "' is not supported");
    }
}

SplitBehavior readBehavior(const json& p, const std::string& where) {
    const std::string b = stringOr(p, "behavior", "Isolated", where);
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    throw SchemaError(where + ".behavior '" + b + "' is not a split behaviour");
}

PreStage regexStage(const std::string& pattern, SplitBehavior behavior, bool invert, const std::string& where) {
    auto st = makeRegexSplit(pattern, behavior, invert);
    if (!st) throw SchemaError(where + ": " + st.error().message);
    return std::move(st.value());
}

void readPreTokenizer(const json& p, PreTokenizer& pt, const std::string& where) {
    if (p.is_null()) return;
    const std::string type = stringOr(p, "type", "", where);
    if (type == "Sequence") {
        const json& list = need(p, "pretokenizers", where);
        if (!list.is_array()) throw SchemaError(where + ".pretokenizers is not an array");
        for (std::size_t i = 0; i < list.size(); ++i)
            readPreTokenizer(list[i], pt, where + ".pretokenizers[" + std::to_string(i) + "]");
    } else if (type == "Split") {
        PreStage st;
        st.kind = PreStage::Kind::Split;
        readPattern(need(p, "pattern", where), st.literal, st.regex, where + ".pattern");
        st.behavior = readBehavior(p, where);
        st.invert = flagOr(p, "invert", false, where);
        pt.stages.push_back(std::move(st));
    } else if (type == "Digits") {
        const bool single = flagOr(p, "individual_digits", false, where);
        pt.stages.push_back(regexStage(single ? R"(\p{N})" : R"(\p{N}+)", SplitBehavior::Isolated, false, where));
    } else if (type == "Punctuation") {
        pt.stages.push_back(regexStage(R"([\p{P}!-/:-@\[-`{-~])", readBehavior(p, where), false, where));
    } else if (type == "WhitespaceSplit") {
        pt.stages.push_back(regexStage(R"(\s+)", SplitBehavior::Removed, false, where));
    } else if (type == "ByteLevel") {
        auto st = makeByteLevel(flagOr(p, "add_prefix_space", false, where), flagOr(p, "use_regex", true, where));
        if (!st) throw SchemaError(where + ": " + st.error().message);
        pt.stages.push_back(std::move(st.value()));
        pt.byte_level = true;
    } else if (type == "Metaspace") {
        PreStage st;
        st.kind = PreStage::Kind::Metaspace;
        st.replacement = stringOr(p, "replacement", "\xE2\x96\x81", where);
        if (st.replacement.empty()) throw SchemaError(where + ".replacement is empty");
        const std::string scheme = stringOr(p, "prepend_scheme", "", where);
        if (scheme == "always")
            st.prepend_scheme = PrependScheme::Always;
        else if (scheme == "first")
            st.prepend_scheme = PrependScheme::First;
        else if (scheme == "never")
            st.prepend_scheme = PrependScheme::Never;
        else if (scheme.empty())
            st.prepend_scheme =
                flagOr(p, "add_prefix_space", true, where) ? PrependScheme::Always : PrependScheme::Never;
        else
            throw SchemaError(where + ".prepend_scheme '" + scheme + "' is not always/first/never");
        st.split = flagOr(p, "split", true, where);
        pt.stages.push_back(std::move(st));
    } else {
        throw Unsupported(where + ": pre-tokenizer type '" + type + "' is not supported");
    }
}

void readDecoder(const json& d, DecoderSpec& dec, const std::string& where) {
    if (d.is_null()) return;
    const std::string type = stringOr(d, "type", "", where);
    if (type == "Sequence") {
        const json& list = need(d, "decoders", where);
        if (!list.is_array()) throw SchemaError(where + ".decoders is not an array");
        for (std::size_t i = 0; i < list.size(); ++i)
            readDecoder(list[i], dec, where + ".decoders[" + std::to_string(i) + "]");
    } else if (type == "Replace") {
        std::string literal;
        std::shared_ptr<const Regex> re;
        readPattern(need(d, "pattern", where), literal, re, where + ".pattern");
        if (re || stringOr(d, "content", "", where) != " ")
            throw Unsupported(where + ": only Replace(<marker> -> \" \") decoders are supported");
        dec.space_marker = literal;
    } else if (type == "ByteFallback") {
        dec.byte_pieces = true;
    } else if (type == "Fuse") {
    } else if (type == "Strip") {
        if (stringOr(d, "content", " ", where) == " " && need(d, "start", where).get<int>() >= 1)
            dec.strip_leading_space = true;
    } else if (type == "ByteLevel") {
        dec.byte_level = true;
    } else if (type == "Metaspace") {
        dec.space_marker = stringOr(d, "replacement", "\xE2\x96\x81", where);
        const std::string scheme = stringOr(d, "prepend_scheme", "", where);
        dec.strip_leading_space = scheme.empty() ? flagOr(d, "add_prefix_space", true, where) : scheme != "never";
    } else {
        throw Unsupported(where + ": decoder type '" + type + "' is not supported");
    }
}

// The id of a special token string: added tokens first, then the vocabulary.
int32_t idOf(const TokenizerSpec& spec, const std::string& content) {
    for (const AddedToken& t : spec.added)
        if (t.content == content) return t.id;
    return spec.vocab.find(content);
}

void readPostProcessor(const json& p, TokenizerSpec& spec, bool& found, const std::string& where) {
    if (p.is_null()) return;
    const std::string type = stringOr(p, "type", "", where);
    if (type == "Sequence") {
        const json& list = need(p, "processors", where);
        if (!list.is_array()) throw SchemaError(where + ".processors is not an array");
        for (std::size_t i = 0; i < list.size(); ++i)
            readPostProcessor(list[i], spec, found, where + ".processors[" + std::to_string(i) + "]");
    } else if (type == "TemplateProcessing") {
        found = true;
        const json& single = need(p, "single", where);
        spec.add_bos = false;
        if (single.is_array() && !single.empty() && single[0].is_object() && single[0].contains("SpecialToken")) {
            const std::string name = stringOr(single[0].at("SpecialToken"), "id", "", where + ".single[0]");
            int32_t id = -1;
            if (p.contains("special_tokens") && p.at("special_tokens").contains(name)) {
                const json& ids = p.at("special_tokens").at(name).at("ids");
                if (ids.is_array() && !ids.empty()) id = ids[0].get<int32_t>();
            }
            if (id < 0) id = idOf(spec, name);
            if (id < 0) throw SchemaError(where + ": the template's special token '" + name + "' has no id");
            spec.bos = id;
            spec.add_bos = true;
        }
    }
    // ByteLevel (offsets only), RobertaProcessing, BertProcessing: no BOS handling here.
}

}  // namespace

Expected<TokenizerSpec> specFromTokenizerJson(const std::string& path) {
    auto text = readTextFile(path);
    if (!text) return text.error();
    return specFromTokenizerJsonText(*text, path);
}

Expected<TokenizerSpec> specFromTokenizerJsonText(const std::string& text, const std::string& path) {
    TokenizerSpec spec;
    spec.source = path;
    try {
        const json root = json::parse(text);
        if (!root.is_object()) throw SchemaError("the top level is not an object");
        const json& model = need(root, "model", "");
        const std::string type = stringOr(model, "type", "BPE", "model");
        if (type != "BPE") throw Unsupported("model.type '" + type + "' is not supported (only BPE)");
        if (!stringOr(model, "continuing_subword_prefix", "", "model").empty() ||
            !stringOr(model, "end_of_word_suffix", "", "model").empty())
            throw Unsupported("model: continuing_subword_prefix / end_of_word_suffix are not supported");

        // Vocabulary: model.vocab plus added_tokens (which may extend it).
        const json& vocab = need(model, "vocab", "model");
        if (!vocab.is_object()) throw SchemaError("model.vocab is not an object");
        const json added = root.contains("added_tokens") ? root.at("added_tokens") : json::array();
        if (!added.is_array()) throw SchemaError("added_tokens is not an array");
        int64_t max_id = -1;
        for (const auto& [piece, id] : vocab.items()) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > 0x7FFFFFF)
                throw SchemaError("model.vocab['" + piece + "'] is not a valid id");
            max_id = std::max(max_id, id.get<int64_t>());
        }
        for (std::size_t i = 0; i < added.size(); ++i) {
            const json& id = need(added[i], "id", "added_tokens[" + std::to_string(i) + "]");
            if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > 0x7FFFFFF)
                throw SchemaError("added_tokens[" + std::to_string(i) + "].id is not a valid id");
            max_id = std::max(max_id, id.get<int64_t>());
        }
        // Ids index one table, so its size follows from the largest id: refuse a file whose ids are mostly
        // holes (a hostile "x": 100000000 would otherwise cost gigabytes for one entry). Real vocabularies are
        // dense; a few reserved gaps (added tokens past the model's vocabulary) stay well inside this bound.
        const int64_t named = static_cast<int64_t>(vocab.size() + added.size());
        if (max_id + 1 > 2 * named + 4096)
            throw SchemaError("token ids are sparse: the largest id is " + std::to_string(max_id) + " but only " +
                              std::to_string(named) + " tokens are named (model.vocab and added_tokens)");
        const auto n = static_cast<std::size_t>(max_id + 1);
        spec.vocab.pieces.assign(n, std::string());
        spec.vocab.types.assign(n, TokenType::Unused);  // ids nobody names stay unused holes
        for (const auto& [piece, id] : vocab.items()) {
            spec.vocab.pieces[id.get<std::size_t>()] = piece;
            spec.vocab.types[id.get<std::size_t>()] = TokenType::Normal;
        }
        for (std::size_t i = 0; i < added.size(); ++i) {
            const std::string where = "added_tokens[" + std::to_string(i) + "]";
            AddedToken t;
            t.id = need(added[i], "id", where).get<int32_t>();
            t.content = need(added[i], "content", where).get<std::string>();
            t.lstrip = flagOr(added[i], "lstrip", false, where);
            t.rstrip = flagOr(added[i], "rstrip", false, where);
            const bool special = flagOr(added[i], "special", false, where);
            spec.vocab.pieces[static_cast<std::size_t>(t.id)] = t.content;
            spec.vocab.types[static_cast<std::size_t>(t.id)] = special ? TokenType::Control : TokenType::UserDefined;
            spec.added.push_back(std::move(t));
        }
        spec.vocab.finish();
        const std::string unk = stringOr(model, "unk_token", "", "model");
        if (!unk.empty()) {
            spec.vocab.unk = spec.vocab.find(unk);
            if (spec.vocab.unk >= 0) spec.vocab.types[static_cast<std::size_t>(spec.vocab.unk)] = TokenType::Unknown;
        }

        BpeModel& m = spec.model;
        m.ranking = BpeModel::Ranking::Merges;
        m.byte_fallback = flagOr(model, "byte_fallback", false, "model");
        m.fuse_unk = flagOr(model, "fuse_unk", false, "model");
        m.ignore_merges = flagOr(model, "ignore_merges", false, "model");
        if (m.byte_fallback)
            for (int b = 0; b < 256; ++b) {
                const int32_t id = spec.vocab.byte_ids[static_cast<std::size_t>(b)];
                if (id >= 0 && spec.vocab.type(id) == TokenType::Normal)
                    spec.vocab.types[static_cast<std::size_t>(id)] = TokenType::Byte;
            }
        const json& merges = need(model, "merges", "model");
        if (!merges.is_array()) throw SchemaError("model.merges is not an array");
        m.merges.reserve(merges.size());
        for (std::size_t i = 0; i < merges.size(); ++i) {
            const json& e = merges[i];
            std::string left, right;
            if (e.is_string()) {
                const std::string s = e.get<std::string>();
                const std::size_t sp = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
                if (sp == std::string::npos)
                    throw SchemaError("model.merges[" + std::to_string(i) + "] '" + s + "' is not \"left right\"");
                left = s.substr(0, sp);
                right = s.substr(sp + 1);
            } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                left = e[0].get<std::string>();
                right = e[1].get<std::string>();
            } else {
                throw SchemaError("model.merges[" + std::to_string(i) + "] is neither \"a b\" nor [\"a\", \"b\"]");
            }
            if (!m.addMerge(spec.vocab, left, right))
                throw SchemaError("model.merges[" + std::to_string(i) + "] '" + left + " " + right +
                                  "' names a piece that is not in model.vocab");
        }

        readNormalizer(root.value("normalizer", json()), spec.normalizer, "normalizer");
        readPreTokenizer(root.value("pre_tokenizer", json()), spec.pre, "pre_tokenizer");
        readDecoder(root.value("decoder", json()), spec.decoder, "decoder");
        if (m.byte_fallback) spec.decoder.byte_pieces = true;
        bool template_found = false;
        readPostProcessor(root.value("post_processor", json()), spec, template_found, "post_processor");
        spec.kind = m.byte_fallback || !spec.decoder.space_marker.empty() ? "spm" : "bpe";
    } catch (const Unsupported& e) {
        return makeError(ErrorCode::Unavailable, path + ": " + e.what());
    } catch (const SchemaError& e) {
        return makeError(ErrorCode::Corrupt, path + ": " + e.what());
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Corrupt, path + ": " + e.what());
    }
    return spec;
}

}  // namespace gqa::tok
