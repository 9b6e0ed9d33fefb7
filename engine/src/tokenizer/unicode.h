// UTF-8 helpers for the tokenizers: every function accepts arbitrary bytes (invalid UTF-8 is handled byte-wise,
// never refused), plus the GPT-2 byte <-> printable-character map of byte-level BPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gqa::tok {

// Length (1..4) of the well-formed UTF-8 sequence at s[i], or 0 when the bytes there are not one
// (stray continuation byte, overlong form, surrogate, above U+10FFFF, truncated).
std::size_t utf8SeqLen(std::string_view s, std::size_t i);
// Byte offsets where each character starts; an invalid byte counts as a character of its own.
std::vector<uint32_t> utf8CharStarts(std::string_view s);
bool isValidUtf8(std::string_view s);
// The code point of the well-formed sequence at s[i] (caller checked utf8SeqLen(s, i) > 0).
uint32_t utf8Decode(std::string_view s, std::size_t i, std::size_t len);
void appendUtf8(std::string& out, uint32_t cp);

// GPT-2 bytes_to_unicode: printable bytes map to themselves, the others to U+0100 and up, so every byte
// sequence becomes a string of visible characters. Returns the UTF-8 of the character for `byte`.
const std::string& byteToUnicode(uint8_t byte);
// The byte a mapped character stands for, or -1 when `cp` is not in the table.
int unicodeToByte(uint32_t cp);
// Maps each byte of `raw` to its character.
std::string bytesToUnicode(std::string_view raw);
void appendBytesToUnicode(std::string_view raw, std::string& out);
// Reverses bytesToUnicode; characters outside the table (added tokens' text) are copied as they are.
std::string unicodeToBytes(std::string_view mapped);

// "<0x0A>" -> 10; -1 when `piece` is not of that exact form.
int parseBytePiece(std::string_view piece);

}  // namespace gqa::tok
