// The one Tokenizer implementation: added-token splitting -> normalizer -> pre-tokenizer -> BPE model ->
// BOS, and the matching decoder. GGUF and Hugging Face loaders differ only in how they fill a TokenizerSpec.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gqa/status.h"
#include "gqa/tokenizer.h"
#include "tokenizer/model.h"
#include "tokenizer/normalize.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/vocab.h"

namespace gqa::tok {

struct DecoderSpec {
    bool byte_level = false;           // reverse the GPT-2 byte map
    bool byte_pieces = false;          // "<0xAB>" pieces stand for one byte
    std::string space_marker;          // e.g. "▁", written back as " " (empty: none)
    bool strip_leading_space = false;  // drop one leading space of the text (the dummy prefix)
};

struct TokenizerSpec {
    std::string kind;               // "spm" or "bpe"
    std::string source;             // file name, for error messages
    Vocab vocab;                    // types: Control / Unknown ids are skipped when decoding
    std::vector<AddedToken> added;  // matched in the raw text first
    std::vector<NormalizerOp> normalizer;
    PreTokenizer pre;
    BpeModel model;
    DecoderSpec decoder;
    int32_t bos = -1, eos = -1;
    bool add_bos = false;
};

class PipelineTokenizer final : public Tokenizer {
public:
    // Checks ids against the vocabulary (Corrupt errors naming `spec.source`), indexes the vocabulary.
    static Expected<std::shared_ptr<const Tokenizer>> create(TokenizerSpec spec);

    std::string kind() const override { return m_spec.kind; }
    int64_t vocabSize() const override { return m_spec.vocab.size(); }
    std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
    std::string decode(const std::vector<int32_t>& ids) const override;
    std::string piece(int32_t id) const override;
    std::string displayPiece(int32_t id) const override;

private:
    explicit PipelineTokenizer(TokenizerSpec spec);
    // Bytes of one non-skipped token, before the leading-space strip.
    void appendBytes(int32_t id, std::string& out) const;

    TokenizerSpec m_spec;
    AddedTokenSplitter m_splitter;
};

}  // namespace gqa::tok
