// A compiled Oniguruma pattern (the engine Hugging Face tokenizers use, Ruby syntax, UTF-8), for the
// pre-tokenizers' Split stages. Searching is const and thread-safe: each call owns its match region.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gqa/status.h"

namespace gqa::tok {

class Regex {
public:
    // InvalidArgument naming the pattern and Oniguruma's message when it does not compile.
    static Expected<std::shared_ptr<const Regex>> compile(const std::string& pattern);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Appends the non-empty matches in `s` as [begin, end) byte offsets, scanning left to right.
    // `s` must be valid UTF-8 (callers split invalid bytes off first). False when the matcher failed
    // (e.g. its retry limit): the matches found before the failure are kept.
    bool findAll(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const;
    const std::string& pattern() const { return m_pattern; }

private:
    Regex() = default;
    void* m_re = nullptr;  // regex_t*, kept out of this header
    std::string m_pattern;
};

}  // namespace gqa::tok
