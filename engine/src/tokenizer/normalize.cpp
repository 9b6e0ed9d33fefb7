#include "tokenizer/normalize.h"

#include "tokenizer/unicode.h"

namespace gqa::tok {

namespace {

std::string replaceLiteral(const std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    std::string out;
    out.reserve(s.size());
    std::size_t last = 0;
    for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, last)) {
        out.append(s, last, pos - last);
        out += to;
        last = pos + from.size();
    }
    out.append(s, last, std::string::npos);
    return out;
}

// Regex replacement over the valid UTF-8 runs only; invalid bytes are copied through.
std::string replaceRegex(const std::string& s, const Regex& re, const std::string& to) {
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    std::vector<std::pair<uint32_t, uint32_t>> matches;
    while (i < s.size()) {
        std::size_t j = i;
        while (j < s.size()) {
            const std::size_t len = utf8SeqLen(s, j);
            if (len == 0) break;
            j += len;
        }
        const std::string_view run(s.data() + i, j - i);
        matches.clear();
        re.findAll(run, matches);
        std::size_t last = 0;
        for (const auto& [b, e] : matches) {
            out.append(run.substr(last, b - last));
            out += to;
            last = e;
        }
        out.append(run.substr(last));
        if (j < s.size()) out += s[j++];
        i = j;
    }
    return out;
}

}  // namespace

std::string normalize(const std::vector<NormalizerOp>& ops, std::string_view text) {
    std::string s(text);
    for (const NormalizerOp& op : ops) {
        if (op.kind == NormalizerOp::Kind::CollapseSpaces) {
            std::string t;
            t.reserve(s.size());
            for (char c : s)
                if (c != ' ' || (!t.empty() && t.back() != ' ')) t += c;
            while (!t.empty() && t.back() == ' ') t.pop_back();
            s = std::move(t);
        } else if (op.kind == NormalizerOp::Kind::Prepend) {
            if (!s.empty()) s.insert(0, op.content);
        } else if (op.regex) {
            s = replaceRegex(s, *op.regex, op.content);
        } else {
            s = replaceLiteral(s, op.pattern, op.content);
        }
    }
    return s;
}

}  // namespace gqa::tok
