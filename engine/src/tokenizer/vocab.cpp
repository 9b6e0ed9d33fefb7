#include "tokenizer/vocab.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace gqa::tok {

void Vocab::finish() {
    if (types.size() != pieces.size()) types.assign(pieces.size(), TokenType::Normal);
    index.clear();
    index.reserve(pieces.size());
    byte_ids.fill(-1);
    for (int32_t id = 0; id < size(); ++id) {
        const std::string& p = pieces[static_cast<std::size_t>(id)];
        index.try_emplace(p, id);
        const int b = parseBytePiece(p);
        if (b >= 0 && byte_ids[static_cast<std::size_t>(b)] < 0) byte_ids[static_cast<std::size_t>(b)] = id;
        if (unk < 0 && type(id) == TokenType::Unknown) unk = id;
    }
}

void AddedTokenSplitter::build(std::vector<AddedToken> tokens) {
    tokens.erase(std::remove_if(tokens.begin(), tokens.end(), [](const AddedToken& t) { return t.content.empty(); }),
                 tokens.end());
    m_tokens = std::move(tokens);
    m_trie.assign(1, Node{});
    for (std::size_t k = 0; k < m_tokens.size(); ++k) {
        int32_t node = 0;
        for (char c : m_tokens[k].content) {
            const auto b = static_cast<uint8_t>(c);
            auto& ch = m_trie[static_cast<std::size_t>(node)].children;
            auto it = std::lower_bound(ch.begin(), ch.end(), b,
                                       [](const std::pair<uint8_t, int32_t>& e, uint8_t v) { return e.first < v; });
            if (it != ch.end() && it->first == b) {
                node = it->second;
            } else {
                const auto next = static_cast<int32_t>(m_trie.size());
                ch.insert(it, {b, next});
                m_trie.push_back(Node{});  // may reallocate: `ch` is not used after this
                node = next;
            }
        }
        // The first token with a given content wins (duplicates cannot both match).
        if (m_trie[static_cast<std::size_t>(node)].token < 0)
            m_trie[static_cast<std::size_t>(node)].token = static_cast<int32_t>(k);
    }
}

int32_t AddedTokenSplitter::longestAt(std::string_view text, std::size_t pos) const {
    int32_t node = 0, best = -1;
    for (std::size_t i = pos; i < text.size(); ++i) {
        const auto b = static_cast<uint8_t>(text[i]);
        const auto& ch = m_trie[static_cast<std::size_t>(node)].children;
        auto it = std::lower_bound(ch.begin(), ch.end(), b,
                                   [](const std::pair<uint8_t, int32_t>& e, uint8_t v) { return e.first < v; });
        if (it == ch.end() || it->first != b) break;
        node = it->second;
        if (m_trie[static_cast<std::size_t>(node)].token >= 0) best = m_trie[static_cast<std::size_t>(node)].token;
    }
    return best;
}

namespace {
bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
}  // namespace

std::vector<Fragment> AddedTokenSplitter::split(std::string_view text) const {
    std::vector<Fragment> out;
    std::size_t raw_begin = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const int32_t k = longestAt(text, i);
        const AddedToken* hit = k >= 0 ? &m_tokens[static_cast<std::size_t>(k)] : nullptr;
        if (!hit) {
            ++i;
            continue;
        }
        std::size_t raw_end = i;
        if (hit->lstrip)
            while (raw_end > raw_begin && isSpace(text[raw_end - 1])) --raw_end;
        if (raw_end > raw_begin) out.push_back({text.substr(raw_begin, raw_end - raw_begin), -1});
        out.push_back({text.substr(i, hit->content.size()), hit->id});
        i += hit->content.size();
        if (hit->rstrip)
            while (i < text.size() && isSpace(text[i])) ++i;
        raw_begin = i;
    }
    if (raw_begin < text.size()) out.push_back({text.substr(raw_begin), -1});
    return out;
}

}  // namespace gqa::tok
