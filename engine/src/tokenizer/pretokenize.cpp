#include "tokenizer/pretokenize.h"

#include <algorithm>
#include <utility>

#include "tokenizer/unicode.h"

namespace gqa::tok {

const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

using Span = std::pair<uint32_t, uint32_t>;

struct Piece {
    Span span;
    bool is_delim;
};

// Working vectors of one run, reused from stage to stage and piece to piece.
struct Scratch {
    std::vector<Span> matches;
    std::vector<Piece> marked;
    std::vector<Span> spans;
    std::vector<PreSpan> next;
};

// Splits `text` into delimiter / non-delimiter spans covering it entirely.
void markDelimiters(const PreStage& st, std::string_view text, Scratch& s) {
    std::vector<Span>& matches = s.matches;
    matches.clear();
    if (st.regex) {
        if (!st.regex->findAll(text, matches)) {
            // The matcher gave up (retry limit): the rest of the text stays one piece rather than failing.
        }
    } else if (!st.literal.empty()) {
        for (std::size_t pos = text.find(st.literal); pos != std::string_view::npos;
             pos = text.find(st.literal, pos + st.literal.size()))
            matches.emplace_back(static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + st.literal.size()));
    }
    std::vector<Piece>& out = s.marked;
    out.clear();
    uint32_t last = 0;
    for (const Span& m : matches) {
        if (m.first > last) out.push_back({{last, m.first}, false});
        out.push_back({m, true});
        last = m.second;
    }
    if (last < text.size()) out.push_back({{last, static_cast<uint32_t>(text.size())}, false});
    if (st.invert)
        for (Piece& p : out) p.is_delim = !p.is_delim;
}

void applyBehavior(const std::vector<Piece>& in, SplitBehavior behavior, std::vector<Span>& out) {
    out.clear();
    switch (behavior) {
        case SplitBehavior::Removed:
            for (const Piece& p : in)
                if (!p.is_delim) out.push_back(p.span);
            break;
        case SplitBehavior::Isolated:
            for (const Piece& p : in) out.push_back(p.span);
            break;
        case SplitBehavior::Contiguous:
            for (std::size_t k = 0; k < in.size(); ++k) {
                if (in[k].is_delim && k > 0 && in[k - 1].is_delim)
                    out.back().second = in[k].span.second;
                else
                    out.push_back(in[k].span);
            }
            break;
        case SplitBehavior::MergedWithPrevious:
            // "a-b--c" -> "a-", "b-", "-", "c": a delimiter joins the piece before it unless that is one too.
            for (std::size_t k = 0; k < in.size(); ++k) {
                if (in[k].is_delim && k > 0 && !in[k - 1].is_delim)
                    out.back().second = in[k].span.second;
                else
                    out.push_back(in[k].span);
            }
            break;
        case SplitBehavior::MergedWithNext: {
            // "a-b--c" -> "a", "-b", "-", "-c": a delimiter joins the piece after it unless that is one too.
            for (std::size_t k = in.size(); k-- > 0;) {
                if (in[k].is_delim && k + 1 < in.size() && !in[k + 1].is_delim)
                    out.back().first = in[k].span.first;
                else
                    out.push_back(in[k].span);
            }
            std::reverse(out.begin(), out.end());
            break;
        }
    }
}

void splitPieces(const PreStage& st, PreTokenized& pt, Scratch& s) {
    std::vector<PreSpan>& out = s.next;
    out.clear();
    out.reserve(pt.pieces.size());
    for (const PreSpan& p : pt.pieces) {
        if (p.opaque) {
            out.push_back(p);
            continue;
        }
        markDelimiters(st, pt.view(p), s);
        applyBehavior(s.marked, st.behavior, s.spans);
        for (const Span& sp : s.spans)
            if (sp.second > sp.first) out.push_back({p.begin + sp.first, sp.second - sp.first, false});
    }
    pt.pieces.swap(out);
}

// Invalid UTF-8 bytes become opaque pieces of their own, so the regex engine only ever sees valid text.
void isolateInvalidBytes(std::string_view text, PreTokenized& pt) {
    pt.text.assign(text);
    pt.pieces.clear();
    std::size_t run = 0, i = 0;
    while (i < text.size()) {
        const std::size_t len = utf8SeqLen(text, i);
        if (len > 0) {
            i += len;
            continue;
        }
        if (i > run) pt.pieces.push_back({static_cast<uint32_t>(run), static_cast<uint32_t>(i - run), false});
        pt.pieces.push_back({static_cast<uint32_t>(i), 1, true});
        run = ++i;
    }
    if (i > run) pt.pieces.push_back({static_cast<uint32_t>(run), static_cast<uint32_t>(i - run), false});
}

// Rewrites every piece of `pt` through `edit(piece text, index, new text)`, rebuilding the text buffer.
template <class Edit>
void rewritePieces(PreTokenized& pt, Edit&& edit) {
    std::string text;
    text.reserve(pt.text.size() + pt.pieces.size());
    for (std::size_t k = 0; k < pt.pieces.size(); ++k) {
        PreSpan& p = pt.pieces[k];
        const auto begin = static_cast<uint32_t>(text.size());
        edit(pt.view(p), k, text);
        p.begin = begin;
        p.len = static_cast<uint32_t>(text.size()) - begin;
    }
    pt.text = std::move(text);
}

void appendReplacingSpaces(std::string_view s, const std::string& to, std::string& out) {
    for (char c : s) {
        if (c == ' ')
            out += to;
        else
            out += c;
    }
}

}  // namespace

void PreTokenizer::run(std::string_view text, bool first_fragment, PreTokenized& out) const {
    isolateInvalidBytes(text, out);
    thread_local Scratch scratch;
    for (const PreStage& st : stages) {
        switch (st.kind) {
            case PreStage::Kind::Split: splitPieces(st, out, scratch); break;
            case PreStage::Kind::ByteLevel: {
                if (st.add_prefix_space) {
                    bool any = false;
                    for (const PreSpan& p : out.pieces)
                        any = any || (!p.opaque && (p.len == 0 || out.text[p.begin] != ' '));
                    if (any)
                        rewritePieces(out, [&](std::string_view s, std::size_t k, std::string& dst) {
                            if (!out.pieces[k].opaque && (s.empty() || s[0] != ' ')) dst += ' ';
                            dst.append(s);
                        });
                }
                if (st.regex) splitPieces(st, out, scratch);
                break;
            }
            case PreStage::Kind::Metaspace: {
                bool first_piece = true;
                rewritePieces(out, [&](std::string_view s, std::size_t k, std::string& dst) {
                    if (out.pieces[k].opaque) {
                        first_piece = false;
                        dst.append(s);
                        return;
                    }
                    const bool prepend = st.prepend_scheme == PrependScheme::Always ||
                                         (st.prepend_scheme == PrependScheme::First && first_fragment && first_piece);
                    const std::size_t at = dst.size();
                    appendReplacingSpaces(s, st.replacement, dst);
                    if (prepend && dst.compare(at, st.replacement.size(), st.replacement) != 0)
                        dst.insert(at, st.replacement);
                    first_piece = false;
                });
                if (st.split) {
                    PreStage delim;
                    delim.literal = st.replacement;
                    delim.behavior = SplitBehavior::MergedWithNext;
                    splitPieces(delim, out, scratch);
                }
                break;
            }
        }
    }
}

std::vector<PreToken> PreTokenizer::run(std::string_view text, bool first_fragment) const {
    PreTokenized pt;
    run(text, first_fragment, pt);
    std::vector<PreToken> out;
    out.reserve(pt.pieces.size());
    for (const PreSpan& p : pt.pieces) out.push_back({std::string(pt.view(p)), p.opaque});
    return out;
}

Expected<PreStage> makeRegexSplit(const std::string& pattern, SplitBehavior behavior, bool invert) {
    auto re = Regex::compile(pattern);
    if (!re) return re.error();
    PreStage st;
    st.kind = PreStage::Kind::Split;
    st.regex = std::move(re.value());
    st.behavior = behavior;
    st.invert = invert;
    return st;
}

Expected<PreStage> makeByteLevel(bool add_prefix_space, bool use_regex) {
    PreStage st;
    st.kind = PreStage::Kind::ByteLevel;
    st.add_prefix_space = add_prefix_space;
    st.use_regex = use_regex;
    st.behavior = SplitBehavior::Isolated;
    if (use_regex) {
        auto re = Regex::compile(kGpt2Pattern);
        if (!re) return re.error();
        st.regex = std::move(re.value());
    }
    return st;
}

namespace {

// The Split regexes of each model's published tokenizer.json pre-tokenizer (all Isolated, not inverted).
bool presetPatterns(const std::string& pre, std::vector<std::string>& out) {
    // Llama 3: Split(regex) then ByteLevel(use_regex false).
    static const char* const llama3 =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    // Qwen2: as Llama 3 but single digits.
    static const char* const qwen2 =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    if (pre == "default" || pre == "gpt2" || pre.empty()) {
        out = {kGpt2Pattern};
    } else if (pre == "llama-bpe" || pre == "llama3") {
        out = {llama3};
    } else if (pre == "qwen2") {
        out = {qwen2};
    } else if (pre == "smollm") {
        // SmolLM: Digits(individual_digits) then ByteLevel(use_regex true).
        out = {R"(\p{N})", kGpt2Pattern};
    } else if (pre == "deepseek-llm") {
        // The cased-letter class is spelled with \x{...} escapes: several of its code points (U+1F7D, U+1FBE,
        // U+1FD3, U+1FDB, U+2126, U+212A) have canonical singleton decompositions, so as literal characters
        // they would be silently rewritten by any tool that NFC-normalizes source text.
        out = {
            R"([\r\n])",
            R"(\s?[)"
            R"(A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
            R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})"
            R"(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
            R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
            R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
            R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D})"
            R"(\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
            R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})"
            R"(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
            R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})"
            R"(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
            R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
            R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
            R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})"
            R"(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})"
            R"(\x{1E900}-\x{1E943})"
            R"(]+)",
            R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)",
            R"(\s+$)",
            R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)",
            R"(\p{N}+)",
        };
    } else if (pre == "deepseek-coder") {
        out = {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)",
               R"(\p{N})"};
    } else if (pre == "falcon") {
        // Falcon: Punctuation, ByteLevel(use_regex true), Split("[0-9][0-9][0-9]").
        out = {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2Pattern, R"([0-9][0-9][0-9])"};
    } else {
        return false;
    }
    return true;
}

}  // namespace

Expected<PreTokenizer> presetPreTokenizer(const std::string& pre) {
    std::vector<std::string> patterns;
    if (!presetPatterns(pre, patterns))
        return makeError(ErrorCode::Unavailable,
                         "tokenizer.ggml.pre '" + pre +
                             "' is not a supported pre-tokenizer (supported: default, gpt2, llama-bpe, qwen2, "
                             "deepseek-llm, deepseek-coder, smollm, falcon)");
    PreTokenizer pt;
    for (const std::string& p : patterns) {
        auto st = makeRegexSplit(p, SplitBehavior::Isolated, false);
        if (!st) return st.error();
        pt.stages.push_back(std::move(st.value()));
    }
    auto bl = makeByteLevel(false, false);
    if (!bl) return bl.error();
    pt.stages.push_back(std::move(bl.value()));
    pt.byte_level = true;
    return pt;
}

}  // namespace gqa::tok
