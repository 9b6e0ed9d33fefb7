#include "tokenizer/regex.h"

#include <oniguruma.h>

#include <mutex>
#include <unordered_map>

#include "tokenizer/unicode.h"

namespace gqa::tok {

namespace {

void initOniguruma() {
    static std::once_flag once;
    std::call_once(once, [] {
        OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
        onig_initialize(encodings, 1);
    });
}

std::string onigMessage(int code, OnigErrorInfo* info) {
    UChar buf[ONIG_MAX_ERROR_MESSAGE_LEN];
    const int n = info ? onig_error_code_to_str(buf, code, info) : onig_error_code_to_str(buf, code);
    return std::string(reinterpret_cast<const char*>(buf), n > 0 ? static_cast<std::size_t>(n) : 0);
}

regex_t* onigCompile(std::string_view pattern, OnigErrorInfo* info) {
    regex_t* re = nullptr;
    const auto* p = reinterpret_cast<const UChar*>(pattern.data());
    const int rc =
        onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, info);
    return rc == ONIG_NORMAL ? re : nullptr;
}

// One match region per thread, reused by every search (onig_search resizes and clears it itself).
struct ThreadRegion {
    OnigRegion* region = onig_region_new();
    ~ThreadRegion() {
        if (region) onig_region_free(region, 1);
    }
};

OnigRegion* threadRegion() {
    thread_local ThreadRegion r;
    return r.region;
}

// ---- Needed characters ----------------------------------------------------------------------------------
// For a (sub)pattern X, Needed(X) is a set N of ASCII characters such that every non-empty string X matches
// holds a character of N or a non-ASCII character ("top": no such set is known). Rules:
//   single-character atom (literal, class, escape like \s or \p{..}, '.'): the ASCII characters it matches,
//     found by asking Oniguruma (probe below); a non-ASCII literal: {} (it needs a non-ASCII character);
//   zero-width (anchors, look-arounds): {} and never non-empty, so it adds nothing;
//   X quantified: Needed(X) (a non-empty match is a run of X matches, one of them non-empty);
//   alternation: the union; concatenation: Needed of any item that always consumes a character (the
//     smallest), else the union.
// Anything else (back-references, \K, options such as (?i) with their case folds, conditionals, absent
// operators, unusual escapes, a '{' that is not an interval) makes the whole analysis give up: the pattern is
// then searched on every piece, as before.
struct Info {
    bool top = false;
    std::bitset<128> chars;
    bool nonempty = false;  // every match consumes at least one character
};

// The ASCII characters a single-character atom matches: Oniguruma searches "(?:atom)+" over the 128 ASCII
// characters; each match is a run of characters the atom matches, one per repetition. Cached process-wide
// (the same few atoms recur in every tokenizer). False when the atom does not compile alone or matches empty.
bool probeAtom(std::string_view atom, std::bitset<128>& chars) {
    static std::mutex mutex;
    static std::unordered_map<std::string, std::bitset<128>> cache;
    const std::string key(atom);
    {
        std::lock_guard<std::mutex> lock(mutex);
        const auto it = cache.find(key);
        if (it != cache.end()) {
            chars = it->second;
            return true;
        }
    }
    regex_t* re = onigCompile("(?:" + key + ")+", nullptr);
    if (!re) return false;
    OnigRegion* region = onig_region_new();
    if (!region) {
        onig_free(re);
        return false;
    }
    UChar all[128];
    for (int c = 0; c < 128; ++c) all[c] = static_cast<UChar>(c);
    const UChar* end = all + 128;
    bool ok = true;
    chars.reset();
    for (const UChar* pos = all; ok && pos <= end;) {
        const int r = onig_search(re, all, end, pos, end, region, ONIG_OPTION_NONE);
        if (r == ONIG_MISMATCH) break;
        const int b = r < 0 ? 0 : region->beg[0], e = r < 0 ? 0 : region->end[0];
        if (r < 0 || e <= b || b < pos - all) {
            ok = false;  // a matcher error, or an empty match: not a single-character atom
            break;
        }
        for (int c = b; c < e; ++c) chars.set(static_cast<std::size_t>(c));
        pos = all + e;
    }
    onig_region_free(region, 1);
    onig_free(re);
    if (!ok) return false;
    std::lock_guard<std::mutex> lock(mutex);
    if (cache.size() < 4096) cache.emplace(key, chars);
    return true;
}

class Analyzer {
public:
    explicit Analyzer(std::string_view p) : m_p(p) {}
    // False when the pattern uses something this analysis does not model.
    bool run(Info& out) { return alt(out, 0) && m_i == m_p.size(); }

private:
    static constexpr int kMaxDepth = 64;

    bool at(char c) const { return m_i < m_p.size() && m_p[m_i] == c; }

    bool alt(Info& out, int depth) {
        if (depth > kMaxDepth) return false;
        if (!seq(out, depth)) return false;
        while (at('|')) {
            ++m_i;
            Info b;
            if (!seq(b, depth)) return false;
            out.top = out.top || b.top;
            out.chars |= b.chars;
            out.nonempty = out.nonempty && b.nonempty;
        }
        return true;
    }

    bool seq(Info& out, int depth) {
        Info all;   // the union of the items
        Info best;  // the item that always consumes a character with the fewest needed characters
        bool have_best = false;
        while (m_i < m_p.size() && !at('|') && !at(')')) {
            Info it;
            if (!quantified(it, depth)) return false;
            all.top = all.top || it.top;
            all.chars |= it.chars;
            all.nonempty = all.nonempty || it.nonempty;
            if (it.nonempty && !it.top && (!have_best || it.chars.count() < best.chars.count())) {
                best = it;
                have_best = true;
            }
        }
        out = have_best ? best : all;
        out.nonempty = all.nonempty;
        return true;
    }

    bool quantified(Info& out, int depth) {
        if (!atom(out, depth)) return false;
        while (m_i < m_p.size()) {
            const char c = m_p[m_i];
            if (c == '?' || c == '*') {
                out.nonempty = false;  // optional, or a lazy suffix: either way no longer counted on
                ++m_i;
            } else if (c == '+') {
                ++m_i;  // one or more, or possessive: a match still holds one of the atom's
            } else if (c == '{') {
                std::size_t lower = 0;
                if (!interval(lower)) return false;
                if (lower == 0) out.nonempty = false;
            } else {
                break;
            }
        }
        return true;
    }

    // "{n}", "{n,}", "{,m}", "{n,m}" at m_i; false for any other '{' (Oniguruma may read it as a literal).
    bool interval(std::size_t& lower) {
        std::size_t j = m_i + 1, digits = 0;
        lower = 0;
        while (j < m_p.size() && m_p[j] >= '0' && m_p[j] <= '9') {
            if (lower < 100000) lower = lower * 10 + static_cast<std::size_t>(m_p[j] - '0');
            ++j;
            ++digits;
        }
        if (j < m_p.size() && m_p[j] == ',') {
            ++j;
            while (j < m_p.size() && m_p[j] >= '0' && m_p[j] <= '9') {
                ++j;
                ++digits;
            }
        }
        if (digits == 0 || j >= m_p.size() || m_p[j] != '}') return false;
        m_i = j + 1;
        return true;
    }

    bool probe(std::size_t begin, std::size_t end, Info& out) {
        if (!probeAtom(m_p.substr(begin, end - begin), out.chars)) return false;
        out.top = false;
        out.nonempty = true;
        m_i = end;
        return true;
    }

    static bool isAlnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
    static bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

    bool atom(Info& out, int depth) {
        out = Info{};
        const std::size_t n = m_p.size();
        const char c = m_p[m_i];
        switch (c) {
            case '(': return group(out, depth);
            case '[': return charClass(out);
            case '.': return probe(m_i, m_i + 1, out);
            case '^':
            case '$': ++m_i; return true;  // zero-width
            case '\\': return escape(out);
            case '*':
            case '+':
            case '?':
            case '{':
            case ')':
            case '|': return false;
            default: break;
        }
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x80) {
            out.chars.set(b);
            out.nonempty = true;
            ++m_i;
            return true;
        }
        const std::size_t len = utf8SeqLen(m_p, m_i);  // the pattern is valid UTF-8
        if (len == 0 || m_i + len > n) return false;
        out.nonempty = true;  // a non-ASCII literal: needs a non-ASCII character
        m_i += len;
        return true;
    }

    bool escape(Info& out) {
        const std::size_t n = m_p.size();
        if (m_i + 1 >= n) return false;
        const char d = m_p[m_i + 1];
        switch (d) {
            case 'A':
            case 'z':
            case 'Z':
            case 'b':
            case 'B':
            case 'G': m_i += 2; return true;  // zero-width
            case 's':
            case 'S':
            case 'd':
            case 'D':
            case 'w':
            case 'W':
            case 'h':
            case 'H':
            case 't':
            case 'n':
            case 'r':
            case 'f':
            case 'v':
            case 'a':
            case 'e': return probe(m_i, m_i + 2, out);
            case 'p':
            case 'P': {
                // \p{Name} / \p{^Name}: a property name of letters, digits and '_' only.
                std::size_t j = m_i + 3;
                if (m_i + 2 >= n || m_p[m_i + 2] != '{') return false;
                if (j < n && m_p[j] == '^') ++j;
                const std::size_t name = j;
                while (j < n && (isAlnum(m_p[j]) || m_p[j] == '_')) ++j;
                if (j == name || j >= n || m_p[j] != '}') return false;
                return probe(m_i, j + 1, out);
            }
            case 'x': {
                if (m_i + 2 < n && m_p[m_i + 2] == '{') {
                    // \x{H...}: one code point of 1 to 8 hex digits (anything else, e.g. a list of code points,
                    // is not modelled).
                    std::size_t j = m_i + 3;
                    while (j < n && j < m_i + 11 && isHex(m_p[j])) ++j;
                    if (j == m_i + 3 || j >= n || m_p[j] != '}') return false;
                    return probe(m_i, j + 1, out);
                }
                // \xHH: a raw byte; one of 0x80 and above would be part of a multi-byte sequence.
                std::size_t j = m_i + 2;
                while (j < n && j < m_i + 4 && isHex(m_p[j])) ++j;
                if (j == m_i + 2 || (j == m_i + 4 && m_p[m_i + 2] >= '8')) return false;
                return probe(m_i, j, out);
            }
            case 'u': {
                if (m_i + 6 > n) return false;
                for (std::size_t j = m_i + 2; j < m_i + 6; ++j)
                    if (!isHex(m_p[j])) return false;
                return probe(m_i, m_i + 6, out);
            }
            default: break;
        }
        // An escaped ASCII punctuation character stands for itself (probed all the same); letters, digits
        // (back-references, octal), '<', '>', '\'', '`' and non-ASCII escapes are not modelled.
        static const std::string_view kLiteral = "\\.*+?()[]{}|^$/-\"#,:;=!@%&~_ ";
        if (kLiteral.find(d) == std::string_view::npos) return false;
        return probe(m_i, m_i + 2, out);
    }

    // "[:name:]" or "[:^name:]" at j with a POSIX bracket name Oniguruma knows; its length, else 0.
    std::size_t posixBracket(std::size_t j) const {
        static const std::string_view kNames[] = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit",  "graph",
                                                  "lower", "print", "punct", "space", "upper", "xdigit", "word"};
        std::size_t k = j + 2;
        if (m_p.compare(j, 2, "[:") != 0) return 0;
        if (k < m_p.size() && m_p[k] == '^') ++k;
        for (std::string_view name : kNames)
            if (m_p.compare(k, name.size(), name) == 0 && m_p.compare(k + name.size(), 2, ":]") == 0)
                return k + name.size() + 2 - j;
        return 0;
    }

    // A bracket class up to its ']'. Inside it only escapes and well-formed POSIX brackets are taken: any other
    // '[' (a nested class, or a literal after a malformed "[:...") is not modelled.
    bool charClass(Info& out) {
        const std::size_t n = m_p.size();
        std::size_t j = m_i + 1;
        if (j < n && m_p[j] == '^') ++j;
        if (j < n && m_p[j] == ']') return false;  // a ']' first: a literal in some syntaxes, not modelled
        while (j < n && m_p[j] != ']') {
            const char c = m_p[j];
            if (c == '\\') {
                j += 2;  // the escaped character (a multi-byte one's continuation bytes are never special)
            } else if (c == '[') {
                const std::size_t len = posixBracket(j);
                if (len == 0) return false;
                j += len;
            } else {
                ++j;
            }
        }
        if (j >= n) return false;
        return probe(m_i, j + 1, out);
    }

    bool group(Info& out, int depth) {
        const std::size_t n = m_p.size();
        bool zero_width = false;
        std::size_t j = m_i + 1;
        if (j < n && m_p[j] == '?') {
            const char k = j + 1 < n ? m_p[j + 1] : '\0';
            if (k == ':' || k == '>') {
                j += 2;
            } else if (k == '=' || k == '!') {
                zero_width = true;
                j += 2;
            } else if (k == '<' && j + 2 < n && (m_p[j + 2] == '=' || m_p[j + 2] == '!')) {
                zero_width = true;
                j += 3;
            } else if (k == '<') {
                // (?<name>...): a named capture.
                std::size_t e = j + 2;
                while (e < n && ((m_p[e] >= 'a' && m_p[e] <= 'z') || (m_p[e] >= 'A' && m_p[e] <= 'Z') ||
                                 (m_p[e] >= '0' && m_p[e] <= '9') || m_p[e] == '_'))
                    ++e;
                if (e == j + 2 || e >= n || m_p[e] != '>') return false;
                j = e + 1;
            } else {
                return false;  // options, comments, conditionals, absent operators, callouts, ...
            }
        }
        m_i = j;
        Info inner;
        if (!alt(inner, depth + 1) || !at(')')) return false;
        ++m_i;
        if (!zero_width) out = inner;
        return true;
    }

    std::string_view m_p;
    std::size_t m_i = 0;
};

bool searchAll(regex_t* re, std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) {
    OnigRegion* region = threadRegion();
    if (!region) return false;
    const auto* begin = reinterpret_cast<const UChar*>(s.data());
    const auto* end = begin + s.size();
    std::size_t pos = 0;
    while (pos < s.size()) {
        const int r = onig_search(re, begin, end, begin + pos, end, region, ONIG_OPTION_NONE);
        if (r == ONIG_MISMATCH) break;
        if (r < 0) return false;
        const auto mb = static_cast<std::size_t>(region->beg[0]);
        const auto me = static_cast<std::size_t>(region->end[0]);
        if (me > mb) {
            out.emplace_back(static_cast<uint32_t>(mb), static_cast<uint32_t>(me));
            pos = me;
        } else {
            // An empty match: step over one character so the scan always advances. At the end of `s` (e.g.
            // "$") there is nothing left to scan, and no character to read there.
            if (mb >= s.size()) break;
            const std::size_t len = utf8SeqLen(s, mb);
            pos = mb + (len == 0 ? 1 : len);
        }
    }
    return true;
}

}  // namespace

Expected<std::shared_ptr<const Regex>> Regex::compile(const std::string& pattern) {
    initOniguruma();
    if (!isValidUtf8(pattern)) return makeError(ErrorCode::InvalidArgument, "pre-tokenizer regex is not valid UTF-8");
    OnigErrorInfo info{};
    regex_t* re = nullptr;
    {
        const auto* p = reinterpret_cast<const UChar*>(pattern.data());
        const int rc =
            onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
        if (rc != ONIG_NORMAL)
            return makeError(ErrorCode::InvalidArgument,
                             "pre-tokenizer regex '" + pattern + "' does not compile: " + onigMessage(rc, &info));
    }
    std::shared_ptr<Regex> r(new Regex());
    r->m_re = re;
    r->m_pattern = pattern;
    Info needed;
    if (Analyzer(pattern).run(needed) && !needed.top && !needed.chars.all()) {
        r->m_prefilter = true;
        r->m_needed = needed.chars;
    }
    return std::shared_ptr<const Regex>(std::move(r));
}

Regex::~Regex() {
    if (m_re) onig_free(static_cast<regex_t*>(m_re));
}

bool Regex::mayMatch(std::string_view s) const {
    if (!m_prefilter) return true;
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x80 || m_needed.test(b)) return true;
    }
    return false;
}

bool Regex::findAll(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
    if (!mayMatch(s)) return true;  // no non-empty match: what the search would have found
    auto* re = static_cast<regex_t*>(m_re);
    if (s.size() == 1 && static_cast<unsigned char>(s[0]) < 0x80) {
        // One character: the only non-empty match is the whole piece, and it depends on that character only.
        std::atomic<int8_t>& known = m_single[static_cast<unsigned char>(s[0])];
        int8_t v = known.load(std::memory_order_relaxed);
        if (v == 0) {
            const std::size_t before = out.size();
            if (!searchAll(re, s, out)) return false;  // not remembered
            v = out.size() > before ? 2 : 1;
            out.resize(before);
            known.store(v, std::memory_order_relaxed);
        }
        if (v == 2) out.emplace_back(0u, 1u);
        return true;
    }
    return searchAll(re, s, out);
}

bool Regex::findAllUnfiltered(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
    return searchAll(static_cast<regex_t*>(m_re), s, out);
}

}  // namespace gqa::tok
