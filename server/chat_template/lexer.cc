#include "server/chat_template/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/chat_template/text.h"

namespace strata::server::jinja {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Newlines become "\n" and one trailing newline is dropped (Jinja's keep_trailing_newline=False).
std::string Normalize(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(Normalize(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      absl::Status s = LexRoot();
      if (!s.ok()) return s;
    }
    Token end;
    end.kind = TokenKind::kEnd;
    Locate(src_.size(), &end);
    tokens_.push_back(std::move(end));
    return std::move(tokens_);
  }

 private:
  bool StartsAt(size_t p, std::string_view s) const {
    return p <= src_.size() && src_.compare(p, s.size(), s) == 0;
  }

  void Locate(size_t offset, Token* t) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line_index = static_cast<size_t>(it - line_starts_.begin()) - 1;
    t->line = static_cast<int>(line_index) + 1;
    const size_t start = line_starts_[line_index];
    t->column =
        static_cast<int>(CodePointCount(std::string_view(src_).substr(start, offset - start))) + 1;
  }

  absl::Status Error(size_t offset, std::string_view message) const {
    Token t;
    Locate(offset, &t);
    return absl::InvalidArgumentError(absl::StrCat("chat template syntax error at line ", t.line,
                                                   ", column ", t.column, ": ",
                                                   std::string(message)));
  }

  void Emit(TokenKind kind, size_t offset, std::string value = {}) {
    Token t;
    t.kind = kind;
    t.value = std::move(value);
    Locate(offset, &t);
    tokens_.push_back(std::move(t));
  }

  // Skips whitespace from pos_; returns whether the last skipped character was a newline.
  bool SkipWhitespace() {
    bool newline_last = false;
    while (pos_ < src_.size()) {
      size_t next = pos_;
      char32_t c;
      if (static_cast<unsigned char>(src_[pos_]) < 0x80) {
        c = static_cast<unsigned char>(src_[pos_]);
        next = pos_ + 1;
      } else {
        std::u32string one = DecodeUtf8(std::string_view(src_).substr(pos_, 4));
        c = one.empty() ? 0 : one[0];
        std::string enc;
        AppendUtf8(c, &enc);
        next = pos_ + enc.size();
      }
      if (!IsPySpace(c)) break;
      newline_last = c == '\n';
      pos_ = next;
    }
    return newline_last;
  }

  static bool AllSpace(std::string_view s) {
    if (s.empty()) return false;
    for (char32_t c : DecodeUtf8(s)) {
      if (!IsPySpace(c)) return false;
    }
    return true;
  }

  // Whitespace control on the data before a tag: `-` strips all whitespace, otherwise
  // lstrip_blocks removes indentation before block and comment tags.
  void StripBefore(std::string* text, char sign, bool is_variable) const {
    if (sign == '-') {
      *text = PyStrip(*text, nullptr, false, true);
      return;
    }
    if (sign == '+' || is_variable) return;
    const size_t nl = text->rfind('\n');
    const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if ((l_pos > 0 || line_starting_) && AllSpace(std::string_view(*text).substr(l_pos))) {
      text->resize(l_pos);
    }
  }

  // Consumes a tag end after `pos_` points at it: `+X}` keeps, `-X}` strips following
  // whitespace, plain `X}` drops one newline when `trim` (trim_blocks).
  void EndTag(bool trim) {
    if (src_[pos_] == '+') {
      pos_ += 3;
      line_starting_ = false;
    } else if (src_[pos_] == '-') {
      pos_ += 3;
      line_starting_ = SkipWhitespace();
    } else {
      pos_ += 2;
      line_starting_ = false;
      if (trim && pos_ < src_.size() && src_[pos_] == '\n') {
        ++pos_;
        line_starting_ = true;
      }
    }
  }

  // Matches `{%[-+]? raw [-]?%}` at `p`; on success sets *end past it.
  bool MatchRawBegin(size_t p, size_t* end, bool* newline_last) {
    p += 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    while (p < src_.size() && IsPySpace(static_cast<unsigned char>(src_[p]))) ++p;
    if (!StartsAt(p, "raw")) return false;
    p += 3;
    while (p < src_.size() && IsPySpace(static_cast<unsigned char>(src_[p]))) ++p;
    *newline_last = false;
    if (StartsAt(p, "-%}")) {
      p += 3;
      while (p < src_.size() && IsPySpace(static_cast<unsigned char>(src_[p]))) {
        *newline_last = src_[p] == '\n';
        ++p;
      }
    } else if (StartsAt(p, "%}")) {
      p += 2;
    } else {
      return false;
    }
    *end = p;
    return true;
  }

  absl::Status LexRaw(size_t begin) {
    for (size_t i = pos_; i + 1 < src_.size(); ++i) {
      if (src_[i] != '{' || src_[i + 1] != '%') continue;
      size_t p = i + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      while (p < src_.size() && IsPySpace(static_cast<unsigned char>(src_[p]))) ++p;
      if (!StartsAt(p, "endraw")) continue;
      p += 6;
      while (p < src_.size() && IsPySpace(static_cast<unsigned char>(src_[p]))) ++p;
      if (!StartsAt(p, "+%}") && !StartsAt(p, "-%}") && !StartsAt(p, "%}")) continue;
      std::string text = src_.substr(pos_, i - pos_);
      StripBefore(&text, sign, false);
      if (!text.empty()) Emit(TokenKind::kText, pos_, std::move(text));
      pos_ = p;
      EndTag(true);
      return absl::OkStatus();
    }
    return Error(begin, "missing end of raw directive");
  }

  absl::Status LexComment(size_t begin) {
    for (size_t i = pos_; i < src_.size(); ++i) {
      if (StartsAt(i, "+#}") || StartsAt(i, "-#}") || StartsAt(i, "#}")) {
        pos_ = i;
        EndTag(true);
        return absl::OkStatus();
      }
    }
    return Error(begin, "missing end of comment tag");
  }

  absl::Status LexRoot() {
    size_t start = pos_;
    while (true) {
      start = src_.find('{', start);
      if (start == std::string::npos || start + 1 >= src_.size()) {
        start = std::string::npos;
        break;
      }
      const char d = src_[start + 1];
      if (d == '{' || d == '%' || d == '#') break;
      ++start;
    }
    if (start == std::string::npos) {
      Emit(TokenKind::kText, pos_, src_.substr(pos_));
      pos_ = src_.size();
      return absl::OkStatus();
    }
    const char delim = src_[start + 1];
    const char sign = start + 2 < src_.size() && (src_[start + 2] == '-' || src_[start + 2] == '+')
                          ? src_[start + 2]
                          : 0;
    std::string text = src_.substr(pos_, start - pos_);
    StripBefore(&text, sign, delim == '{');
    if (!text.empty()) Emit(TokenKind::kText, pos_, std::move(text));
    line_starting_ = false;
    size_t raw_end = 0;
    bool raw_newline = false;
    if (delim == '%' && MatchRawBegin(start, &raw_end, &raw_newline)) {
      pos_ = raw_end;
      line_starting_ = raw_newline;
      return LexRaw(start);
    }
    pos_ = start + 2 + (sign != 0 ? 1 : 0);
    if (delim == '#') return LexComment(start);
    Emit(delim == '{' ? TokenKind::kVariableBegin : TokenKind::kBlockBegin, start);
    return LexTag(delim == '%', start);
  }

  absl::Status LexTag(bool is_block, size_t begin) {
    std::vector<char> balance;
    while (true) {
      if (pos_ >= src_.size()) {
        return Error(begin, is_block ? "unexpected end of template, expected '%}'"
                                     : "unexpected end of template, expected '}}'");
      }
      if (balance.empty()) {
        const std::string end_plain = is_block ? "%}" : "}}";
        const bool plus = is_block && StartsAt(pos_, "+%}");
        if (plus || StartsAt(pos_, "-" + end_plain) || StartsAt(pos_, end_plain)) {
          Emit(is_block ? TokenKind::kBlockEnd : TokenKind::kVariableEnd, pos_);
          EndTag(is_block);
          return absl::OkStatus();
        }
      }
      const char c = src_[pos_];
      if (IsPySpace(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80) {
        const size_t before = pos_;
        SkipWhitespace();
        if (pos_ == before) return Error(pos_, "unexpected character in tag");
        continue;
      }
      if (IsDigit(c)) {
        absl::Status s = LexNumber();
        if (!s.ok()) return s;
        continue;
      }
      if (IsNameStart(c)) {
        const size_t start = pos_;
        while (pos_ < src_.size() && IsNameChar(src_[pos_])) ++pos_;
        Emit(TokenKind::kName, start, src_.substr(start, pos_ - start));
        continue;
      }
      if (c == '\'' || c == '"') {
        absl::Status s = LexString();
        if (!s.ok()) return s;
        continue;
      }
      absl::Status s = LexOperator(&balance);
      if (!s.ok()) return s;
    }
  }

  absl::Status LexNumber() {
    const size_t start = pos_;
    auto digits = [&](size_t p) {  // \d+(_\d+)* from p; returns end (p if none)
      size_t q = p;
      while (q < src_.size() && IsDigit(src_[q])) {
        ++q;
        if (q + 1 < src_.size() && src_[q] == '_' && IsDigit(src_[q + 1])) ++q;
      }
      return q;
    };
    size_t p = digits(pos_);
    bool is_float = false;
    const bool after_dot = start > 0 && src_[start - 1] == '.';
    if (!after_dot) {
      size_t q = p;
      if (q + 1 < src_.size() && src_[q] == '.' && IsDigit(src_[q + 1])) {
        q = digits(q + 1);
        is_float = true;
      }
      if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
        size_t r = q + 1;
        if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
        if (r < src_.size() && IsDigit(src_[r])) {
          q = digits(r);
          is_float = true;
        }
      }
      if (is_float) p = q;
    }
    std::string text;
    for (size_t i = start; i < p; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    Token t;
    Locate(start, &t);
    if (is_float) {
      t.kind = TokenKind::kFloat;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      int base = 10;
      if (text == "0" && p < src_.size()) {
        const char b = src_[p];
        if (b == 'x' || b == 'X') base = 16;
        if (b == 'o' || b == 'O') base = 8;
        if (b == 'b' || b == 'B') base = 2;
        if (base != 10) {
          text.clear();
          ++p;
          while (p < src_.size() && (HexValue(src_[p]) >= 0 || src_[p] == '_')) {
            if (src_[p] != '_') text.push_back(src_[p]);
            ++p;
          }
        }
      } else if (text.size() > 1 && text[0] == '0') {
        return Error(start, "invalid integer literal (leading zeros)");
      }
      errno = 0;
      char* endp = nullptr;
      const long long v = std::strtoll(text.c_str(), &endp, base);
      if (errno != 0 || text.empty() || *endp != '\0') {
        return Error(start, "integer literal out of range or malformed");
      }
      t.kind = TokenKind::kInteger;
      t.int_value = v;
    }
    t.value = src_.substr(start, p - start);
    tokens_.push_back(std::move(t));
    pos_ = p;
    return absl::OkStatus();
  }

  absl::Status LexString() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) return Error(start, "unterminated string literal");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= src_.size()) return Error(start, "unterminated string literal");
      const char e = src_[pos_++];
      switch (e) {
        case '\n':
          break;
        case '\\':
        case '\'':
        case '"':
          out.push_back(e);
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          char32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            if (pos_ >= src_.size() || HexValue(src_[pos_]) < 0) {
              return Error(pos_, absl::StrCat("truncated \\", std::string(1, e), " escape"));
            }
            cp = cp * 16 + static_cast<char32_t>(HexValue(src_[pos_++]));
          }
          if (cp > 0x10FFFF) return Error(start, "illegal Unicode character in escape");
          AppendUtf8(cp, &out);
          break;
        }
        case 'N':
          return Error(pos_ - 2, "\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7';
                 ++k) {
              cp = cp * 8 + static_cast<char32_t>(src_[pos_++] - '0');
            }
            AppendUtf8(cp, &out);
          } else {
            out.push_back('\\');
            out.push_back(e);
          }
      }
    }
    Emit(TokenKind::kString, start, std::move(out));
    return absl::OkStatus();
  }

  absl::Status LexOperator(std::vector<char>* balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwo) {
      if (StartsAt(pos_, op)) {
        Emit(TokenKind::kOperator, pos_, std::string(op));
        pos_ += 2;
        return absl::OkStatus();
      }
    }
    const char c = src_[pos_];
    static constexpr std::string_view kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      return Error(pos_, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
    if (c == '(') balance->push_back(')');
    if (c == '[') balance->push_back(']');
    if (c == '{') balance->push_back('}');
    if (c == ')' || c == ']' || c == '}') {
      if (balance->empty())
        return Error(pos_, absl::StrCat("unexpected '", std::string(1, c), "'"));
      if (balance->back() != c) {
        return Error(pos_, absl::StrCat("unexpected '", std::string(1, c), "', expected '",
                                        std::string(1, balance->back()), "'"));
      }
      balance->pop_back();
    }
    Emit(TokenKind::kOperator, pos_, std::string(1, c));
    ++pos_;
    return absl::OkStatus();
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source) { return Lexer(source).Run(); }

}  // namespace strata::server::jinja
