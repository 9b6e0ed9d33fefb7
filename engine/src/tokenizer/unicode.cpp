#include "tokenizer/unicode.h"

#include <array>

namespace gqa::tok {

std::size_t utf8SeqLen(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<uint8_t>(s[k]); };
    const std::size_t n = s.size();
    const uint8_t c = b(i);
    if (c < 0x80) return 1;
    std::size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else
        return 0;
    if (i + len > n) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return len;
}

std::vector<uint32_t> utf8CharStarts(std::string_view s) {
    std::vector<uint32_t> starts;
    starts.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        starts.push_back(static_cast<uint32_t>(i));
        const std::size_t len = utf8SeqLen(s, i);
        i += len == 0 ? 1 : len;
    }
    return starts;
}

bool isValidUtf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t len = utf8SeqLen(s, i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

uint32_t utf8Decode(std::string_view s, std::size_t i, std::size_t len) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (len == 1) return c;
    uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
    return cp;
}

void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

namespace {

struct ByteMap {
    std::array<uint32_t, 256> to_cp{};
    std::array<std::string, 256> to_utf8;
    ByteMap() {
        // Printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') keeps its code point; the remaining bytes take
        // U+0100, U+0101, ... in byte order.
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            to_cp[b] = printable ? b : next++;
            appendUtf8(to_utf8[b], to_cp[b]);
        }
    }
};

const ByteMap& byteMap() {
    static const ByteMap map;  // immutable after the thread-safe static initialisation
    return map;
}

}  // namespace

const std::string& byteToUnicode(uint8_t byte) {
    return byteMap().to_utf8[byte];
}

int unicodeToByte(uint32_t cp) {
    if (cp >= 0x21 && cp <= 0x7E) return static_cast<int>(cp);
    if ((cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return static_cast<int>(cp);
    if (cp >= 256 && cp < 256 + 68) {
        const auto& m = byteMap();
        for (int b = 0; b < 256; ++b)
            if (m.to_cp[b] == cp) return b;
    }
    return -1;
}

std::string bytesToUnicode(std::string_view raw) {
    std::string out;
    appendBytesToUnicode(raw, out);
    return out;
}

void appendBytesToUnicode(std::string_view raw, std::string& out) {
    out.reserve(out.size() + raw.size() * 2);
    const ByteMap& m = byteMap();
    for (char c : raw) out += m.to_utf8[static_cast<uint8_t>(c)];
}

std::string unicodeToBytes(std::string_view mapped) {
    std::string out;
    out.reserve(mapped.size());
    for (std::size_t i = 0; i < mapped.size();) {
        const std::size_t len = utf8SeqLen(mapped, i);
        if (len == 0) {
            out += mapped[i++];
            continue;
        }
        const int b = unicodeToByte(utf8Decode(mapped, i, len));
        if (b >= 0)
            out += static_cast<char>(b);
        else
            out.append(mapped.substr(i, len));
        i += len;
    }
    return out;
}

int parseBytePiece(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; ++k) {
        const char c = piece[k];
        int d = -1;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

}  // namespace gqa::tok
