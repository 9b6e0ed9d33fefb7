// Pre-tokenizer regex (a tokenizer.json Split / Replace pattern) and a subject: "<pattern>\0<subject>".
// Regex::compile analyses each pattern for the characters every non-empty match needs, and findAll skips
// the search on pieces without them; this target checks that shortcut never changes a result: findAll
// (with it, and with the one-character results it remembers) must give exactly the matches of
// findAllUnfiltered, on each valid UTF-8 run of the subject, each one-character piece and some substrings.
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace {

using Matches = std::vector<std::pair<uint32_t, uint32_t>>;

void check(const gqa::tok::Regex& re, std::string_view s) {
    Matches filtered, plain;
    re.findAll(s, filtered);
    re.findAllUnfiltered(s, plain);
    if (filtered != plain) __builtin_trap();
    if (!plain.empty() && !re.mayMatch(s)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const auto* sep = static_cast<const uint8_t*>(std::memchr(data, 0, size));
    if (!sep) return 0;
    const std::string pattern(reinterpret_cast<const char*>(data), static_cast<std::size_t>(sep - data));
    std::string_view subject(reinterpret_cast<const char*>(sep + 1), size - static_cast<std::size_t>(sep - data) - 1);
    if (subject.size() > 64) subject = subject.substr(0, 64);  // a bad pattern may backtrack a lot per character
    auto re = gqa::tok::Regex::compile(pattern);
    if (!re) return 0;
    const gqa::tok::Regex& r = **re;
    // findAll takes valid UTF-8 only: check each valid run, as the pre-tokenizer feeds it.
    std::size_t i = 0;
    while (i < subject.size()) {
        std::size_t j = i;
        while (j < subject.size()) {
            const std::size_t len = gqa::tok::utf8SeqLen(subject, j);
            if (len == 0) break;
            j += len;
        }
        const std::string_view run = subject.substr(i, j - i);
        check(r, run);
        // Each character alone (twice: the second call uses the remembered one-character result), and the
        // run cut at each space, as a Split stage's pieces would be.
        for (std::size_t k = 0; k < run.size();) {
            const std::size_t len = gqa::tok::utf8SeqLen(run, k);
            check(r, run.substr(k, len));
            check(r, run.substr(k, len));
            k += len;
        }
        for (std::size_t a = 0, b; a < run.size(); a = b + 1) {
            b = run.find(' ', a + 1);
            if (b == std::string_view::npos) b = run.size();
            check(r, run.substr(a, b - a));
        }
        i = j + 1;  // skip the invalid byte
    }
    return 0;
}
