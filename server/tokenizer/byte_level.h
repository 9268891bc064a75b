// The GPT-2 "byte-level" alphabet: every byte maps to one printable code point (printable
// Latin-1 bytes map to themselves, the rest to U+0100 and up, e.g. ' ' -> U+0120 'Ġ').
// Byte-level BPE vocabularies are written in this alphabet.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace strata::server::byte_level {

// The code point that stands for byte b.
uint32_t ByteToCodePoint(uint8_t b);
// The byte that code point cp stands for, or -1 when cp is not in the alphabet.
int CodePointToByte(uint32_t cp);

// Maps raw bytes to their byte-level spelling (a UTF-8 string).
std::string Encode(std::string_view bytes);
// Maps a byte-level spelling back to raw bytes; nullopt when some character of `token` is not
// in the alphabet (or `token` is not valid UTF-8).
std::optional<std::string> Decode(std::string_view token);

}  // namespace strata::server::byte_level
