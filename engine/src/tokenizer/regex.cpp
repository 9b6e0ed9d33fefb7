#include "tokenizer/regex.h"

#include <oniguruma.h>

#include <mutex>

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

}  // namespace

Expected<std::shared_ptr<const Regex>> Regex::compile(const std::string& pattern) {
    initOniguruma();
    if (!isValidUtf8(pattern)) return makeError(ErrorCode::InvalidArgument, "pre-tokenizer regex is not valid UTF-8");
    regex_t* re = nullptr;
    OnigErrorInfo info{};
    const auto* p = reinterpret_cast<const UChar*>(pattern.data());
    const int rc =
        onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
    if (rc != ONIG_NORMAL)
        return makeError(ErrorCode::InvalidArgument,
                         "pre-tokenizer regex '" + pattern + "' does not compile: " + onigMessage(rc, &info));
    std::shared_ptr<Regex> r(new Regex());
    r->m_re = re;
    r->m_pattern = pattern;
    return std::shared_ptr<const Regex>(std::move(r));
}

Regex::~Regex() {
    if (m_re) onig_free(static_cast<regex_t*>(m_re));
}

bool Regex::findAll(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
    auto* re = static_cast<regex_t*>(m_re);
    OnigRegion* region = onig_region_new();
    if (!region) return false;
    const auto* begin = reinterpret_cast<const UChar*>(s.data());
    const auto* end = begin + s.size();
    std::size_t pos = 0;
    bool ok = true;
    while (pos < s.size()) {
        const int r = onig_search(re, begin, end, begin + pos, end, region, ONIG_OPTION_NONE);
        if (r == ONIG_MISMATCH) break;
        if (r < 0) {
            ok = false;
            break;
        }
        const auto mb = static_cast<std::size_t>(region->beg[0]);
        const auto me = static_cast<std::size_t>(region->end[0]);
        if (me > mb) {
            out.emplace_back(static_cast<uint32_t>(mb), static_cast<uint32_t>(me));
            pos = me;
        } else {
            // An empty match: step over one character so the scan always advances.
            const std::size_t len = utf8SeqLen(s, mb);
            pos = mb + (len == 0 ? 1 : len);
        }
    }
    onig_region_free(region, 1);
    return ok;
}

}  // namespace gqa::tok
