#include "server/tokenizer/byte_level.h"

#include "server/tokenizer/unicode.h"

namespace strata::server::byte_level {
namespace {

struct Tables {
  std::array<uint32_t, 256> byte_to_cp;
  std::array<int16_t, 512> cp_to_byte;  // every code point of the alphabet is below 0x200

  Tables() {
    cp_to_byte.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      byte_to_cp[b] = printable ? b : 256 + next++;
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

uint32_t ByteToCodePoint(uint8_t b) { return GetTables().byte_to_cp[b]; }

int CodePointToByte(uint32_t cp) { return cp < 512 ? GetTables().cp_to_byte[cp] : -1; }

std::string Encode(std::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) unicode::AppendUtf8(t.byte_to_cp[static_cast<uint8_t>(c)], &out);
  return out;
}

std::optional<std::string> Decode(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (size_t pos = 0; pos < token.size();) {
    const unicode::DecodedChar c = unicode::DecodeUtf8(token, pos);
    const int b = CodePointToByte(c.code_point);
    if (b < 0) return std::nullopt;
    out.push_back(static_cast<char>(b));
    pos += c.length;
  }
  return out;
}

}  // namespace strata::server::byte_level
