// SentencePiece-style BPE (Scores ranking): start from UTF-8 characters, repeatedly merge the adjacent pair whose
// concatenation is a vocabulary piece of the highest score (leftmost on ties), and spell symbols that are not
// pieces with their bytes. Unused pieces may be formed while merging but are split back into the two parts
// they were made of, as SentencePiece does.
#include <string>
#include <unordered_map>

#include "tokenizer/merge.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace gqa::tok {

namespace {

bool mergeable(TokenType t) {
    return t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused;
}

using RevMerge = std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>>;

// `known`: the id of `text` when the caller has it (a merged symbol), else -1.
void emitPiece(const BpeModel& model, const Vocab& vocab, const RevMerge& rev, std::string_view text,
               std::vector<int32_t>& out, int32_t known = -1) {
    const int32_t id = known >= 0 ? known : vocab.find(text);
    if (id >= 0 && vocab.type(id) != TokenType::Unused && mergeable(vocab.type(id))) {
        out.push_back(id);
        return;
    }
    if (id >= 0) {
        const auto it = rev.find(text);
        if (it != rev.end()) {
            emitPiece(model, vocab, rev, it->second.first, out);
            emitPiece(model, vocab, rev, it->second.second, out);
            return;
        }
    }
    emitUnknown(model, vocab, text, out);
}

}  // namespace

void emitUnknown(const BpeModel& model, const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
    if (model.byte_fallback) {
        bool all = true;
        for (char c : text) all = all && vocab.byte_ids[static_cast<uint8_t>(c)] >= 0;
        if (all) {
            for (char c : text) out.push_back(vocab.byte_ids[static_cast<uint8_t>(c)]);
            return;
        }
    }
    if (vocab.unk < 0) return;
    if (model.fuse_unk && !out.empty() && out.back() == vocab.unk) return;
    out.push_back(vocab.unk);
}

void encodeScored(const BpeModel& model, const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) {
    if (word.empty()) return;
    thread_local std::vector<Symbol> syms;
    makeSymbols(word, syms);
    RevMerge rev;
    auto lookup = [&](const Symbol& l, const Symbol& r, MergeCandidate& c) {
        const int32_t id = vocab.find(word.substr(l.start, l.len + r.len));
        if (id < 0 || !mergeable(vocab.type(id))) return false;
        c.id = id;
        c.priority = vocab.scores.empty() ? 0.0 : vocab.scores[static_cast<std::size_t>(id)];
        return true;
    };
    auto on_merge = [&](const Symbol& l, const Symbol& r) {
        if (!model.has_unused) return;
        const std::string_view merged = word.substr(l.start, l.len + r.len);
        const int32_t id = vocab.find(merged);
        if (id >= 0 && vocab.type(id) == TokenType::Unused)
            rev[merged] = {word.substr(l.start, l.len), word.substr(r.start, r.len)};
    };
    mergeSymbols(syms, lookup, on_merge);
    for (int32_t k = 0; k >= 0; k = syms[static_cast<std::size_t>(k)].next) {
        const Symbol& s = syms[static_cast<std::size_t>(k)];
        emitPiece(model, vocab, rev, word.substr(s.start, s.len), out, s.id);
    }
}

}  // namespace gqa::tok
