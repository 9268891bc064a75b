// Python semantics of the template operators, iteration and argument binding.
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "server/chat_template/builtins.h"
#include "server/chat_template/text.h"

namespace strata::server::jinja {
namespace {

// Upper bound on strings and lists built by repetition (`'ab' * n`).
constexpr int64_t kMaxRepeatSize = int64_t{1} << 26;

const char* OpSymbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kFloorDiv:
      return "//";
    case BinaryOp::kMod:
      return "%";
    case BinaryOp::kPow:
      return "**";
  }
  return "?";
}

absl::Status Unsupported(BinaryOp op, const Value& a, const Value& b) {
  if (op == BinaryOp::kAdd && (a.is_string() || a.is_list())) {
    return RuntimeError(absl::StrCat("can only concatenate ", TypeName(a), " (not \"", TypeName(b),
                                     "\") to ", TypeName(a)));
  }
  return RuntimeError(absl::StrCat("unsupported operand type(s) for ", OpSymbol(op), ": '",
                                   TypeName(a), "' and '", TypeName(b), "'"));
}

absl::Status Overflow() { return RuntimeError("integer overflow in template arithmetic"); }

absl::StatusOr<Value> Repeat(const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    if (n > 0 && static_cast<int64_t>(seq.str().size()) > kMaxRepeatSize / n) {
      return RuntimeError("string repetition result too large");
    }
    std::string out;
    out.reserve(seq.str().size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return seq.is_markup() ? Value::Markup(std::move(out)) : Value::Str(std::move(out));
  }
  if (n > 0 && static_cast<int64_t>(seq.items().size()) > kMaxRepeatSize / n) {
    return RuntimeError("list repetition result too large");
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return Value::List(std::move(out), seq.seq_kind());
}

// printf-style `format % args` for the conversions templates use: s, r, d, i, f, F, e, E, x,
// X, o, c and %%, with flags, width and precision; `%(name)s` with a dict argument. As in
// Python, a tuple supplies the arguments, anything else is the single argument, and an argument
// with __getitem__ (dict, list, undefined) need not be consumed.
absl::StatusOr<Value> PercentFormat(const std::string& fmt, const Value& args, bool escape) {
  const bool tuple = args.is_list() && args.seq_kind() == SeqKind::kTuple;
  const bool mapping = !tuple && (args.is_dict() || args.is_list() || args.is_undefined());
  std::vector<Value> positional;
  if (tuple) {
    positional = args.items();
  } else {
    positional.push_back(args);
  }
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) return RuntimeError("incomplete format");
    const Value* arg = nullptr;
    if (fmt[i] == '(') {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos || !mapping) return RuntimeError("format requires a mapping");
      if (!args.is_dict()) return RuntimeError("format requires a dict for %(name) fields");
      arg = args.dict().Find(std::string_view(fmt).substr(i + 1, close - i - 1));
      if (arg == nullptr) return RuntimeError("format key not found");
      i = close + 1;
    }
    std::string spec = "%";
    while (i < fmt.size() && std::string_view("-+ 0#").find(fmt[i]) != std::string_view::npos) {
      spec.push_back(fmt[i++]);
    }
    while (i < fmt.size() && ((fmt[i] >= '0' && fmt[i] <= '9') || fmt[i] == '.')) {
      spec.push_back(fmt[i++]);
    }
    if (i >= fmt.size()) return RuntimeError("incomplete format");
    const char conv = fmt[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (arg == nullptr) {
      if (next >= positional.size()) return RuntimeError("not enough arguments for format string");
      arg = &positional[next++];
    }
    char buf[512];
    switch (conv) {
      case 's':
      case 'r': {
        std::string text;
        if (conv == 's') {
          text = ToStr(*arg);
        } else {
          AppendRepr(*arg, &text);
        }
        if (escape && !arg->is_markup()) text = HtmlEscape(text);
        std::snprintf(buf, sizeof(buf), (spec + "s").c_str(), text.c_str());
        out += text.size() < 256 && spec.size() > 1 ? std::string(buf) : text;
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o':
      case 'c': {
        if (!arg->is_number()) {
          return RuntimeError(absl::StrCat("%", std::string(1, conv),
                                           " format: a real number is required, not ",
                                           TypeName(*arg)));
        }
        const long long v = arg->kind() == Value::Kind::kFloat
                                ? static_cast<long long>(arg->as_double())
                                : static_cast<long long>(arg->as_int());
        std::snprintf(buf, sizeof(buf), (spec + "ll" + (conv == 'i' ? 'd' : conv)).c_str(), v);
        out += buf;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        if (!arg->is_number()) {
          return RuntimeError(absl::StrCat("must be real number, not ", TypeName(*arg)));
        }
        std::snprintf(buf, sizeof(buf), (spec + conv).c_str(), arg->as_double());
        out += buf;
        break;
      default:
        return RuntimeError(
            absl::StrCat("unsupported format character '", std::string(1, conv), "'"));
    }
  }
  if (!mapping && next < positional.size()) {
    return RuntimeError("not all arguments converted during string formatting");
  }
  return Value::Str(std::move(out));
}

absl::StatusOr<Value> IntArith(BinaryOp op, int64_t x, int64_t y) {
  int64_t r = 0;
  switch (op) {
    case BinaryOp::kAdd:
      if (__builtin_add_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    case BinaryOp::kSub:
      if (__builtin_sub_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    case BinaryOp::kMul:
      if (__builtin_mul_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    case BinaryOp::kDiv:
      if (y == 0) return RuntimeError("division by zero");
      return Value::Float(static_cast<double>(x) / static_cast<double>(y));
    case BinaryOp::kFloorDiv: {
      if (y == 0) return RuntimeError("integer division or modulo by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow();
      int64_t q = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
      return Value::Int(q);
    }
    case BinaryOp::kMod: {
      if (y == 0) return RuntimeError("integer division or modulo by zero");
      if (y == -1) return Value::Int(0);
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value::Int(m);
    }
    case BinaryOp::kPow: {
      if (y < 0) {
        if (x == 0) return RuntimeError("0.0 cannot be raised to a negative power");
        return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
      }
      int64_t result = 1;
      int64_t base = x;
      int64_t e = y;
      while (e > 0) {
        if (e & 1) {
          if (__builtin_mul_overflow(result, base, &result)) return Overflow();
        }
        e >>= 1;
        if (e > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
      }
      return Value::Int(result);
    }
  }
  return Value::None();
}

absl::StatusOr<Value> FloatArith(BinaryOp op, double x, double y) {
  switch (op) {
    case BinaryOp::kAdd:
      return Value::Float(x + y);
    case BinaryOp::kSub:
      return Value::Float(x - y);
    case BinaryOp::kMul:
      return Value::Float(x * y);
    case BinaryOp::kDiv:
      if (y == 0) return RuntimeError("float division by zero");
      return Value::Float(x / y);
    case BinaryOp::kFloorDiv:
      if (y == 0) return RuntimeError("float floor division by zero");
      return Value::Float(std::floor(x / y));
    case BinaryOp::kMod: {
      if (y == 0) return RuntimeError("float modulo");
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value::Float(m);
    }
    case BinaryOp::kPow:
      if (x == 0 && y < 0) return RuntimeError("0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) return RuntimeError("complex results are not supported");
      if (std::isfinite(x) && std::isfinite(y) && !std::isfinite(std::pow(x, y))) {
        return RuntimeError("(34, 'Numerical result out of range')");
      }
      return Value::Float(std::pow(x, y));
  }
  return Value::None();
}

}  // namespace

absl::StatusOr<Value> ApplyBinary(BinaryOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) return UndefinedError(a);
  if (op == BinaryOp::kMod && a.is_string()) {  // str % args takes any argument
    absl::StatusOr<Value> formatted = PercentFormat(a.str(), b, a.is_markup());
    if (formatted.ok() && a.is_markup()) return Value::Markup(formatted->str());
    return formatted;
  }
  if (b.is_undefined()) return UndefinedError(b);
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::kFloat || b.kind() == Value::Kind::kFloat) {
      return FloatArith(op, a.as_double(), b.as_double());
    }
    return IntArith(op, a.as_int(), b.as_int());
  }
  const bool seq_a = a.is_string() || a.is_sequence();
  const bool seq_b = b.is_string() || b.is_sequence();
  switch (op) {
    case BinaryOp::kAdd:
      if (a.is_string() && b.is_string()) {
        if (a.is_markup() || b.is_markup()) {
          // markupsafe: the plain operand is escaped, the result is Markup.
          return Value::Markup((a.is_markup() ? a.str() : HtmlEscape(a.str())) +
                               (b.is_markup() ? b.str() : HtmlEscape(b.str())));
        }
        return Value::Str(a.str() + b.str());
      }
      if (seq_a && a.is_list() && b.is_list() && a.seq_kind() == b.seq_kind()) {
        std::vector<Value> out = a.items();
        out.insert(out.end(), b.items().begin(), b.items().end());
        return Value::List(std::move(out), a.seq_kind());
      }
      break;
    case BinaryOp::kMul:
      if (seq_a && b.is_integral()) return Repeat(a, b.as_int());
      if (seq_b && a.is_integral()) return Repeat(b, a.as_int());
      break;
    default:
      break;
  }
  return Unsupported(op, a, b);
}

absl::StatusOr<Value> ApplyUnary(bool negate, const Value& v) {
  if (v.is_undefined()) return UndefinedError(v);
  if (v.kind() == Value::Kind::kFloat) return Value::Float(negate ? -v.as_double() : v.as_double());
  if (v.is_integral()) {
    if (negate && v.as_int() == std::numeric_limits<int64_t>::min()) return Overflow();
    return Value::Int(negate ? -v.as_int() : v.as_int());
  }
  return RuntimeError(
      absl::StrCat("bad operand type for unary ", negate ? "-" : "+", ": '", TypeName(v), "'"));
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        return RuntimeError(
            absl::StrCat("'in <string>' requires string as left operand, not ", TypeName(item)));
      }
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& v : container.items()) {
        if (Equals(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (item.is_dict() || item.kind() == Value::Kind::kNamespace ||
          (item.is_list() && item.seq_kind() != SeqKind::kTuple)) {
        return RuntimeError(absl::StrCat("unhashable type: '", TypeName(item), "'"));
      }
      return item.is_string() && container.dict().Find(item.str()) != nullptr;
    default:
      return RuntimeError(
          absl::StrCat("argument of type '", TypeName(container), "' is not iterable"));
  }
}

absl::StatusOr<std::vector<Value>> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return std::vector<Value>();
    case Value::Kind::kList:
      return v.items();
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().entries.size());
      for (const auto& [k, unused] : v.dict().entries) keys.push_back(Value::Str(k));
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      std::string one;
      for (char32_t c : DecodeUtf8(v.str())) {
        one.clear();
        AppendUtf8(c, &one);
        chars.push_back(Value::Str(one));
      }
      return chars;
    }
    default:
      return RuntimeError(absl::StrCat("'", TypeName(v), "' object is not iterable"));
  }
}

absl::Status BindArgs(std::string_view function, CallArgs& args,
                      std::initializer_list<std::string_view> names, size_t required,
                      std::vector<std::optional<Value>>* out) {
  out->assign(names.size(), std::nullopt);
  if (args.positional.size() > names.size()) {
    return RuntimeError(absl::StrCat(Sv(function), "() takes at most ", names.size(),
                                     " argument(s) (", args.positional.size(), " given)"));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) (*out)[i] = std::move(args.positional[i]);
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    for (std::string_view n : names) {
      if (n == key) break;
      ++i;
    }
    if (i == names.size()) {
      return RuntimeError(
          absl::StrCat(Sv(function), "() got an unexpected keyword argument '", key, "'"));
    }
    if ((*out)[i].has_value()) {
      return RuntimeError(
          absl::StrCat(Sv(function), "() got multiple values for argument '", key, "'"));
    }
    (*out)[i] = std::move(value);
  }
  size_t i = 0;
  for (std::string_view n : names) {
    if (i < required && !(*out)[i].has_value()) {
      return RuntimeError(absl::StrCat(Sv(function), "() missing required argument '", Sv(n), "'"));
    }
    ++i;
  }
  return absl::OkStatus();
}

}  // namespace strata::server::jinja
