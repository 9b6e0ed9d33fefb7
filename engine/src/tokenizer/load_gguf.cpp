// tokenizerFromGguf: the tokenizer.ggml.* metadata of a GGUF file into a TokenizerSpec.
//   model "llama": SentencePiece BPE over scored pieces, "▁" dummy prefix (tokenizer.ggml.add_space_prefix,
//                  default true), byte fallback;
//   model "gpt2":  byte-level BPE over tokenizer.ggml.merges with the pre-tokenizer named by tokenizer.ggml.pre.
// CONTROL, USER_DEFINED and UNKNOWN tokens are matched literally in the text before the model runs.
#include "gqa/gguf.h"
#include "gqa/tokenizer.h"
#include "tokenizer/pipeline.h"

namespace gqa {

namespace {

using tok::TokenType;

Error corrupt(const GgufFile& f, const std::string& key, const std::string& problem) {
    return makeError(ErrorCode::Corrupt, f.path + ": " + key + " " + problem);
}

Expected<const GgufValue*> findArray(const GgufFile& f, const std::string& key, bool required) {
    const GgufValue* v = f.find(key);
    if (!v) {
        if (required) return corrupt(f, key, "is missing");
        return static_cast<const GgufValue*>(nullptr);
    }
    if (v->type != GgufType::Array) return corrupt(f, key, "is not an array");
    return v;
}

// An optional integer key naming a token id; -1 when absent.
Expected<int32_t> tokenId(const GgufFile& f, const std::string& key, int32_t fallback, int32_t n_tokens) {
    const GgufValue* v = f.find(key);
    if (!v) return fallback;
    if (!v->isInteger()) return corrupt(f, key, "is not an integer");
    if (v->i < 0 || v->i >= n_tokens)
        return corrupt(f, key,
                       std::to_string(v->i) + " is outside the vocabulary (" + std::to_string(n_tokens) + " tokens)");
    return static_cast<int32_t>(v->i);
}

Expected<bool> flag(const GgufFile& f, const std::string& key, bool fallback) {
    const GgufValue* v = f.find(key);
    if (!v) return fallback;
    if (!v->isInteger()) return corrupt(f, key, "is not a bool");
    return v->i != 0;
}

}  // namespace

Expected<std::shared_ptr<const Tokenizer>> tokenizerFromGguf(const GgufFile& f) {
    const GgufValue* model_v = f.find("tokenizer.ggml.model");
    if (!model_v) return corrupt(f, "tokenizer.ggml.model", "is missing (the file has no vocabulary)");
    if (model_v->type != GgufType::String) return corrupt(f, "tokenizer.ggml.model", "is not a string");
    const std::string model = model_v->s;
    if (model != "llama" && model != "gpt2")
        return makeError(ErrorCode::Unavailable, f.path + ": tokenizer.ggml.model '" + model +
                                                     "' is not supported (only \"llama\" and \"gpt2\")");

    tok::TokenizerSpec spec;
    spec.source = f.path;
    auto tokens = findArray(f, "tokenizer.ggml.tokens", true);
    if (!tokens) return tokens.error();
    if ((*tokens)->elem != GgufType::String) return corrupt(f, "tokenizer.ggml.tokens", "is not an array of strings");
    spec.vocab.pieces = (*tokens)->strings;
    const auto n = static_cast<int32_t>(spec.vocab.pieces.size());
    if (n == 0) return corrupt(f, "tokenizer.ggml.tokens", "is empty");

    auto scores = findArray(f, "tokenizer.ggml.scores", false);
    if (!scores) return scores.error();
    if (*scores) {
        const GgufValue& v = **scores;
        if (v.elem != GgufType::Float32 && v.elem != GgufType::Float64)
            return corrupt(f, "tokenizer.ggml.scores", "is not an array of floats");
        if (v.floats.size() != spec.vocab.pieces.size())
            return corrupt(f, "tokenizer.ggml.scores",
                           "has " + std::to_string(v.floats.size()) + " entries for " + std::to_string(n) + " tokens");
        spec.vocab.scores.assign(v.floats.begin(), v.floats.end());
    }
    auto types = findArray(f, "tokenizer.ggml.token_type", false);
    if (!types) return types.error();
    if (*types) {
        const GgufValue& v = **types;
        if (v.elem == GgufType::String || v.elem == GgufType::Float32 || v.elem == GgufType::Float64 ||
            v.elem == GgufType::Array)
            return corrupt(f, "tokenizer.ggml.token_type", "is not an array of integers");
        if (v.ints.size() != spec.vocab.pieces.size())
            return corrupt(f, "tokenizer.ggml.token_type",
                           "has " + std::to_string(v.ints.size()) + " entries for " + std::to_string(n) + " tokens");
        spec.vocab.types.reserve(spec.vocab.pieces.size());
        for (std::size_t i = 0; i < v.ints.size(); ++i) {
            const int64_t t = v.ints[i];
            if (t < 0 || t > 6)
                return corrupt(f, "tokenizer.ggml.token_type",
                               "of token " + std::to_string(i) + " is " + std::to_string(t) + " (known: 0..6)");
            spec.vocab.types.push_back(static_cast<TokenType>(t == 0 ? 1 : t));
        }
    }
    spec.vocab.finish();

    const bool spm = model == "llama";
    auto bos = tokenId(f, "tokenizer.ggml.bos_token_id", spm && n > 1 ? 1 : -1, n);
    if (!bos) return bos.error();
    auto eos = tokenId(f, "tokenizer.ggml.eos_token_id", spm && n > 2 ? 2 : -1, n);
    if (!eos) return eos.error();
    auto unk = tokenId(f, "tokenizer.ggml.unknown_token_id", spec.vocab.unk, n);
    if (!unk) return unk.error();
    auto add_bos = flag(f, "tokenizer.ggml.add_bos_token", spm);
    if (!add_bos) return add_bos.error();
    spec.bos = *bos;
    spec.eos = *eos;
    spec.vocab.unk = *unk;
    spec.add_bos = *add_bos;

    for (int32_t id = 0; id < n; ++id) {
        const TokenType t = spec.vocab.type(id);
        if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown)
            spec.added.push_back({spec.vocab.pieces[static_cast<std::size_t>(id)], id, false, false});
    }

    if (spm) {
        auto prefix = flag(f, "tokenizer.ggml.add_space_prefix", true);
        if (!prefix) return prefix.error();
        spec.kind = "spm";
        const std::string marker = "\xE2\x96\x81";  // "▁"
        if (*prefix) spec.normalizer.push_back({tok::NormalizerOp::Kind::Prepend, {}, nullptr, marker});
        spec.normalizer.push_back({tok::NormalizerOp::Kind::Replace, " ", nullptr, marker});
        spec.model.ranking = tok::BpeModel::Ranking::Scores;
        spec.model.byte_fallback = true;
        spec.decoder.byte_pieces = true;
        spec.decoder.space_marker = marker;
        spec.decoder.strip_leading_space = *prefix;
    } else {
        spec.kind = "bpe";
        const GgufValue* pre_v = f.find("tokenizer.ggml.pre");
        if (pre_v && pre_v->type != GgufType::String) return corrupt(f, "tokenizer.ggml.pre", "is not a string");
        const std::string pre = pre_v ? pre_v->s : "default";
        auto pt = tok::presetPreTokenizer(pre);
        if (!pt) return makeError(pt.error().code, f.path + ": " + pt.error().message);
        spec.pre = std::move(pt.value());
        auto merges = findArray(f, "tokenizer.ggml.merges", true);
        if (!merges) return merges.error();
        if ((*merges)->elem != GgufType::String)
            return corrupt(f, "tokenizer.ggml.merges", "is not an array of strings");
        spec.model.ranking = tok::BpeModel::Ranking::Merges;
        spec.model.merges.reserve((*merges)->strings.size());
        for (std::size_t i = 0; i < (*merges)->strings.size(); ++i) {
            const std::string& m = (*merges)->strings[i];
            const std::size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
            if (sp == std::string::npos)
                return corrupt(f, "tokenizer.ggml.merges",
                               "entry " + std::to_string(i) + " '" + m + "' is not of the form \"left right\"");
            // Merges whose parts are not tokens can never apply; they are skipped as llama.cpp does.
            (void)spec.model.addMerge(spec.vocab, std::string_view(m).substr(0, sp),
                                      std::string_view(m).substr(sp + 1));
        }
        // Llama 3's tokenizer takes a word that is itself a token whole (Hugging Face ignore_merges).
        spec.model.ignore_merges = pre == "llama-bpe";
        spec.decoder.byte_level = true;
    }
    return tok::PipelineTokenizer::create(std::move(spec));
}

}  // namespace gqa
