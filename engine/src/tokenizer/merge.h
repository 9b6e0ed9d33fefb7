// The merge loop shared by both BPE models: a word's symbols form a doubly linked list, candidate pairs sit in
// a max-heap (best priority first, leftmost on ties), and stale heap entries are skipped when popped, so a word
// of n characters costs O(n log n) instead of rescanning all pairs after every merge.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/unicode.h"

namespace gqa::tok {

struct Symbol {
    uint32_t start = 0;  // byte offset in the word
    uint32_t len = 0;    // bytes; 0 once merged into its left neighbour
    int32_t prev = -1, next = -1;
    int32_t id = -1;  // vocabulary id when known
};

struct MergeCandidate {
    double priority = 0.0;  // higher merges first
    int32_t id = -1;        // id of the merged symbol
};

namespace detail {
struct HeapEntry {
    double priority;
    int32_t left;
    uint32_t left_len, right_len;  // the pair as it was when queued; a mismatch later means stale
    int32_t id;
    bool operator<(const HeapEntry& o) const {
        if (priority != o.priority) return priority < o.priority;
        return left > o.left;  // leftmost first on ties
    }
};
}  // namespace detail

// One symbol per character of `word` (an invalid byte is a character of its own, as utf8CharStarts counts),
// written over `syms` (a buffer the caller reuses).
inline void makeSymbols(std::string_view word, std::vector<Symbol>& syms) {
    syms.clear();
    for (std::size_t i = 0; i < word.size();) {
        const std::size_t len = utf8SeqLen(word, i);
        Symbol s;
        s.start = static_cast<uint32_t>(i);
        s.len = static_cast<uint32_t>(len == 0 ? 1 : len);
        s.prev = static_cast<int32_t>(syms.size()) - 1;
        syms.push_back(s);
        i += s.len;
    }
    for (std::size_t k = 0; k + 1 < syms.size(); ++k) syms[k].next = static_cast<int32_t>(k + 1);
}

// `lookup(left, right, candidate)` says whether the adjacent pair may merge and with which priority / id;
// `on_merge(left, right)` is told each merge before it happens. Surviving symbols are reached from
// syms[0] through `next`.
// The heap is a per-thread buffer driven by push_heap / pop_heap exactly as std::priority_queue does, so equal
// entries come out in the same order.
template <class Lookup, class OnMerge>
void mergeSymbols(std::vector<Symbol>& syms, Lookup&& lookup, OnMerge&& on_merge) {
    thread_local std::vector<detail::HeapEntry> heap;
    heap.clear();
    auto offer = [&](int32_t l) {
        if (l < 0) return;
        const int32_t r = syms[static_cast<std::size_t>(l)].next;
        if (r < 0) return;
        MergeCandidate c;
        if (lookup(syms[static_cast<std::size_t>(l)], syms[static_cast<std::size_t>(r)], c)) {
            heap.push_back(
                {c.priority, l, syms[static_cast<std::size_t>(l)].len, syms[static_cast<std::size_t>(r)].len, c.id});
            std::push_heap(heap.begin(), heap.end());
        }
    };
    for (std::size_t k = 0; k + 1 < syms.size(); ++k) offer(static_cast<int32_t>(k));
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        const detail::HeapEntry e = heap.back();
        heap.pop_back();
        Symbol& left = syms[static_cast<std::size_t>(e.left)];
        if (left.len != e.left_len || left.next < 0) continue;
        Symbol& right = syms[static_cast<std::size_t>(left.next)];
        if (right.len != e.right_len) continue;
        on_merge(left, right);
        left.len += right.len;
        left.id = e.id;
        right.len = 0;
        left.next = right.next;
        if (right.next >= 0) syms[static_cast<std::size_t>(right.next)].prev = e.left;
        offer(left.prev);
        offer(e.left);
    }
}

}  // namespace gqa::tok
