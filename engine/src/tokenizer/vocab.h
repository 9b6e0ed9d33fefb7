// The vocabulary shared by every tokenizer stage: pieces with their scores and types, the piece -> id index,
// the byte-fallback ids, and the added/special tokens that are cut out of the text before the model runs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gqa::tok {

// GGUF tokenizer.ggml.token_type values (the same numbers as SentencePiece's ModelProto piece types + 1).
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceIndex = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
    std::vector<std::string> pieces;      // by id
    std::vector<float> scores;            // by id; empty when the vocabulary has none
    std::vector<TokenType> types;         // by id
    PieceIndex index;                     // piece -> id; the lowest id wins when a piece repeats
    std::array<int32_t, 256> byte_ids{};  // the "<0xAB>" piece of each byte, or -1
    int32_t unk = -1;

    int32_t size() const { return static_cast<int32_t>(pieces.size()); }
    int32_t find(std::string_view piece) const {
        const auto it = index.find(piece);
        return it == index.end() ? -1 : it->second;
    }
    TokenType type(int32_t id) const { return types[static_cast<std::size_t>(id)]; }
    // Fills `index` and `byte_ids` from `pieces` (and `types` when empty: all Normal).
    void finish();
};

struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool lstrip = false;  // swallow whitespace to the left of the match
    bool rstrip = false;  // swallow whitespace to the right
};

// A run of the input: raw text for the model (id < 0), or one added token.
struct Fragment {
    std::string_view text;
    int32_t id = -1;
};

// Finds added tokens in text, leftmost first and the longest at a position (as Hugging Face's
// leftmost-longest matcher does); everything between them is raw text. A byte trie keeps each position's
// check proportional to the longest token there, however many tokens share a prefix ("[PAD100015]", ...).
class AddedTokenSplitter {
public:
    void build(std::vector<AddedToken> tokens);
    bool empty() const { return m_tokens.empty(); }
    std::vector<Fragment> split(std::string_view text) const;

private:
    struct Node {
        std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
        int32_t token = -1;                                 // index into m_tokens ending here
    };
    // Index of the longest token that `text` starts with at `pos`, or -1.
    int32_t longestAt(std::string_view text, std::size_t pos) const;

    std::vector<AddedToken> m_tokens;
    std::vector<Node> m_trie;  // m_trie[0] is the root
};

}  // namespace gqa::tok
