// The model stage: BPE over one pre-tokenized piece. Two rankings of adjacent pairs:
//   Scores (SentencePiece): a pair merges when its concatenation is a piece; the highest piece score first.
//   Merges (GPT-2 / Hugging Face): a pair merges when it is in the merge list; the lowest rank first.
// Symbols that end outside the vocabulary fall back to their bytes' "<0xAB>" pieces (byte_fallback) or <unk>.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace gqa::tok {

struct MergeRule {
    int32_t rank = 0;
    int32_t id = -1;  // the merged piece
};

struct BpeModel {
    enum class Ranking { Scores, Merges } ranking = Ranking::Merges;
    bool byte_fallback = false;
    bool ignore_merges = false;                      // a piece that is a whole vocabulary entry is taken as it is
    bool fuse_unk = false;                           // consecutive unknowns become one <unk>
    std::unordered_map<uint64_t, MergeRule> merges;  // (left id << 32 | right id) -> rule
    bool has_unused = false;                         // Scores: unused pieces exist and must be resegmented

    static uint64_t pairKey(int32_t left, int32_t right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    }
    // Adds "left right" with the next rank; false when a part or the merged piece is not in the vocabulary.
    bool addMerge(const Vocab& vocab, std::string_view left, std::string_view right);

    void encode(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) const;
};

// Scores ranking (spm.cpp) and Merges ranking (bpe.cpp).
void encodeScored(const BpeModel& model, const Vocab& vocab, std::string_view word, std::vector<int32_t>& out);
void encodeRanked(const BpeModel& model, const Vocab& vocab, std::string_view word, std::vector<int32_t>& out);
// A symbol outside the vocabulary: its bytes' pieces when byte_fallback allows, else <unk> (or nothing).
void emitUnknown(const BpeModel& model, const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

}  // namespace gqa::tok
