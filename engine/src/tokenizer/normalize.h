// Normalizer stage: string rewrites applied to each raw-text fragment before pre-tokenization
// (Hugging Face "Prepend" and "Replace"; SentencePiece's dummy prefix and "▁" escaping are the same two ops).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace gqa::tok {

struct NormalizerOp {
    enum class Kind { Prepend, Replace, CollapseSpaces } kind = Kind::Replace;
    std::string pattern;                 // Replace: the literal to find (when regex is null)
    std::shared_ptr<const Regex> regex;  // Replace: a pattern instead of a literal
    std::string content;                 // Prepend: the prefix; Replace: the replacement
};

// CollapseSpaces (SentencePiece remove_extra_whitespaces): no leading/trailing spaces, runs of spaces as one.
// Applies the ops in order. Prepend leaves an empty string empty (as Hugging Face does).
std::string normalize(const std::vector<NormalizerOp>& ops, std::string_view text);

}  // namespace gqa::tok
