// Pre-tokenizer stage: cuts normalized text into the pieces the model encodes one by one (Hugging Face
// Split / Digits / ByteLevel / Metaspace, applied in sequence, each stage to every piece of the previous).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gqa/status.h"
#include "tokenizer/regex.h"

namespace gqa::tok {

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
enum class PrependScheme { Always, First, Never };

struct PreStage {
    enum class Kind { Split, ByteLevel, Metaspace } kind = Kind::Split;
    // Split: a regex or (regex null) a literal delimiter.
    std::shared_ptr<const Regex> regex;
    std::string literal;
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    // ByteLevel: prefix a space to pieces without one; split with the GPT-2 regex first.
    bool add_prefix_space = false;
    bool use_regex = true;
    // Metaspace: spaces become `replacement`, prefixed per `prepend_scheme`, optionally split before each.
    std::string replacement = "\xE2\x96\x81";  // "▁"
    PrependScheme prepend_scheme = PrependScheme::Always;
    bool split = true;
};

struct PreToken {
    std::string text;
    bool opaque = false;  // an invalid UTF-8 byte: never fed to a regex, never split further
};

// The pieces as spans of one text buffer (what the encoder iterates without a string per piece).
struct PreSpan {
    uint32_t begin = 0, len = 0;
    bool opaque = false;
};
struct PreTokenized {
    std::string text;  // the (possibly rewritten) text the spans point into
    std::vector<PreSpan> pieces;
    std::string_view view(const PreSpan& p) const { return std::string_view(text).substr(p.begin, p.len); }
};

struct PreTokenizer {
    std::vector<PreStage> stages;
    bool byte_level = false;  // a ByteLevel stage is present: pieces are byte-mapped before the model

    // `first_fragment`: the text starts the input (not after an added token), for Metaspace "first".
    std::vector<PreToken> run(std::string_view text, bool first_fragment) const;
    // The same pieces as spans into `out.text` (its buffers are reused).
    void run(std::string_view text, bool first_fragment, PreTokenized& out) const;
};

// The GPT-2 / ByteLevel(use_regex) pattern.
extern const char* const kGpt2Pattern;

Expected<PreStage> makeRegexSplit(const std::string& pattern, SplitBehavior behavior, bool invert);
Expected<PreStage> makeByteLevel(bool add_prefix_space, bool use_regex);

// The pre-tokenizer of a GGUF tokenizer.ggml.pre name ("default", "gpt2", "llama-bpe", "qwen2",
// "deepseek-llm", "deepseek-coder", "smollm", "falcon"): its models' published Split regexes followed by
// ByteLevel. Unknown names are refused (Unavailable) naming the name.
Expected<PreTokenizer> presetPreTokenizer(const std::string& pre);

}  // namespace gqa::tok
