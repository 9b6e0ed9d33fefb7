// Tokenizers of the models GQA Lab loads, as one pipeline of small stages (as in Hugging Face tokenizers):
// normalizer -> pre-tokenizer -> model (BPE with byte fallback, or byte-level BPE) -> post-processor (BOS)
// -> decoder. Two model kinds:
//   "spm": SentencePiece-style BPE over scored pieces with byte fallback (<0xAB> pieces) and the "▁" space
//          (Llama 2, TinyLlama, Mistral v0.1; GGUF tokenizer.ggml.model = "llama"; HF tokenizer.model or a
//          tokenizer.json whose model has byte_fallback).
//   "bpe": byte-level BPE over ranked merges, the GPT-2 byte-to-unicode map, and the model's own regex
//          pre-tokenizer (GPT-2, Llama 3, Qwen2, DeepSeek LLM, SmolLM2; GGUF "gpt2" + tokenizer.ggml.pre; HF
//          tokenizer.json with ByteLevel / Split / Digits / Sequence pre-tokenizers).
// Special and added tokens are matched in the text before the model runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gqa/status.h"

namespace gqa {

struct GgufFile;

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    // "spm" or "bpe".
    virtual std::string kind() const = 0;
    virtual int64_t vocabSize() const = 0;
    // Ids of `text` (any bytes: invalid UTF-8 is tokenized byte-wise, never refused); BOS first when
    // add_bos and the vocabulary has one.
    virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
    // Text of ids (special tokens such as BOS/EOS are skipped; byte pieces are reassembled into UTF-8).
    virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
    // The vocabulary's string for one id, as stored ("▁the", "Ġthe", "<0x0A>"); empty when out of range.
    virtual std::string piece(int32_t id) const = 0;
    // A readable form of one token for display (spaces as spaces, bytes as text where they decode).
    virtual std::string displayPiece(int32_t id) const = 0;
    int32_t bos() const { return m_bos; }
    int32_t eos() const { return m_eos; }
    bool addBosByDefault() const { return m_add_bos; }

protected:
    int32_t m_bos = -1, m_eos = -1;
    bool m_add_bos = false;
};

// From GGUF metadata (tokenizer.ggml.*): model "llama" (spm) or "gpt2" (bpe, pre-tokenizer named by
// tokenizer.ggml.pre). A vocabulary-only GGUF (no tensors) is fine. Errors name the key and the problem.
Expected<std::shared_ptr<const Tokenizer>> tokenizerFromGguf(const GgufFile& f);
// From a Hugging Face model directory: tokenizer.json when present, else tokenizer.model (SentencePiece,
// read with libsentencepiece's model proto), with tokenizer_config.json for add_bos_token and special tokens.
Expected<std::shared_ptr<const Tokenizer>> tokenizerFromHfDir(const std::string& dir);

}  // namespace gqa
