// A compiled Oniguruma pattern (the engine Hugging Face tokenizers use, Ruby syntax, UTF-8), for the
// pre-tokenizers' Split stages. Searching is const and thread-safe (each thread has its own match region).
//
// Every onig_search that reaches Oniguruma's matcher allocates and copies a ~5 KB backtracking stack, and
// patterns whose classes hold non-ASCII characters (\p{L}, \s, most tokenizer classes) get no first-byte
// optimisation from Oniguruma, so each search costs that much even on a one-character piece that cannot
// match. compile() therefore works out, from the pattern, the ASCII characters of which every non-empty
// match must hold at least one (see regex.cpp); findAll skips the search for an all-ASCII piece that holds
// none of them. The results are the same with or without that shortcut. The result on each one-character
// ASCII piece (whole match or none) is also remembered after its first search.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
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
    // findAll without the needed-characters shortcut (for tests: both must give the same matches).
    bool findAllUnfiltered(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const;
    // False only when `s` cannot hold a non-empty match: it is all ASCII and has none of the needed characters.
    bool mayMatch(std::string_view s) const;
    // Whether the pattern was understood well enough to have needed characters (else mayMatch is always true).
    bool hasPrefilter() const { return m_prefilter; }
    const std::string& pattern() const { return m_pattern; }

private:
    Regex() = default;
    void* m_re = nullptr;  // regex_t*, kept out of this header
    std::string m_pattern;
    bool m_prefilter = false;
    std::bitset<128> m_needed;  // with m_prefilter: every non-empty match holds one of these or a non-ASCII char
    // findAll on the one-character piece c: 0 not searched yet, 1 no match, 2 matched whole.
    mutable std::array<std::atomic<int8_t>, 128> m_single{};
};

}  // namespace gqa::tok
