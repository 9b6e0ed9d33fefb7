// GPT-2 / Hugging Face BPE (Merges ranking): start from the piece's characters (byte-mapped for byte-level
// models), repeatedly apply the listed merge of the lowest rank (leftmost on ties).
#include <string>

#include "tokenizer/merge.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace gqa::tok {

bool BpeModel::addMerge(const Vocab& vocab, std::string_view left, std::string_view right) {
    const int32_t l = vocab.find(left), r = vocab.find(right);
    if (l < 0 || r < 0) return false;
    std::string joined(left);
    joined += right;
    const int32_t id = vocab.find(joined);
    if (id < 0) return false;
    merges.try_emplace(pairKey(l, r), MergeRule{static_cast<int32_t>(merges.size()), id});
    return true;
}

void BpeModel::encode(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) const {
    if (ranking == Ranking::Scores)
        encodeScored(*this, vocab, word, out);
    else
        encodeRanked(*this, vocab, word, out);
}

void encodeRanked(const BpeModel& model, const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) {
    if (word.empty()) return;
    if (model.ignore_merges) {
        const int32_t id = vocab.find(word);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    if (utf8SeqLen(word, 0) == word.size()) {
        // One character: nothing to merge.
        const int32_t id = vocab.find(word);
        if (id >= 0)
            out.push_back(id);
        else
            emitUnknown(model, vocab, word, out);
        return;
    }
    thread_local std::vector<Symbol> syms;
    makeSymbols(word, syms);
    for (Symbol& s : syms) s.id = vocab.find(word.substr(s.start, s.len));
    auto lookup = [&](const Symbol& l, const Symbol& r, MergeCandidate& c) {
        if (l.id < 0 || r.id < 0) return false;
        const auto it = model.merges.find(BpeModel::pairKey(l.id, r.id));
        if (it == model.merges.end()) return false;
        c.priority = -static_cast<double>(it->second.rank);
        c.id = it->second.id;
        return true;
    };
    mergeSymbols(syms, lookup, [](const Symbol&, const Symbol&) {});
    for (int32_t k = 0; k >= 0; k = syms[static_cast<std::size_t>(k)].next) {
        const Symbol& s = syms[static_cast<std::size_t>(k)];
        if (s.id >= 0)
            out.push_back(s.id);
        else
            emitUnknown(model, vocab, word.substr(s.start, s.len), out);
    }
}

}  // namespace gqa::tok
