// Jinja2's built-in tests (`x is defined`, ...) and the global functions a chat template can
// call: range, dict, namespace (Jinja), raise_exception and strftime_now (transformers).
#include <ctime>
#include <memory>

#include "absl/strings/str_cat.h"
#include "server/chat_template/builtins.h"
#include "server/chat_template/text.h"

namespace strata::server::jinja {
namespace {

// Mirrors the sandbox's MAX_RANGE.
constexpr int64_t kMaxRange = 100000;

absl::StatusOr<Value> OneArg(std::string_view test, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  if (absl::Status s = BindArgs(test, args, {"other"}, 1, &a); !s.ok()) return s;
  return *std::move(a[0]);
}

absl::StatusOr<bool> TDefined(const Value& v, CallArgs&) { return !v.is_undefined(); }
absl::StatusOr<bool> TUndefined(const Value& v, CallArgs&) { return v.is_undefined(); }
absl::StatusOr<bool> TNone(const Value& v, CallArgs&) { return v.is_none(); }
absl::StatusOr<bool> TBoolean(const Value& v, CallArgs&) { return v.kind() == Value::Kind::kBool; }
absl::StatusOr<bool> TFalse(const Value& v, CallArgs&) {
  return v.kind() == Value::Kind::kBool && !v.as_bool();
}
absl::StatusOr<bool> TTrue(const Value& v, CallArgs&) {
  return v.kind() == Value::Kind::kBool && v.as_bool();
}
absl::StatusOr<bool> TInteger(const Value& v, CallArgs&) { return v.kind() == Value::Kind::kInt; }
absl::StatusOr<bool> TFloat(const Value& v, CallArgs&) { return v.kind() == Value::Kind::kFloat; }
absl::StatusOr<bool> TNumber(const Value& v, CallArgs&) { return v.is_number(); }
absl::StatusOr<bool> TString(const Value& v, CallArgs&) { return v.is_string(); }
absl::StatusOr<bool> TMapping(const Value& v, CallArgs&) { return v.is_dict(); }
absl::StatusOr<bool> TIterable(const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
absl::StatusOr<bool> TSequence(const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_dict() || v.is_sequence();
}
// Jinja's Undefined defines __call__ (which raises), so it counts as callable.
absl::StatusOr<bool> TCallable(const Value& v, CallArgs&) {
  return v.kind() == Value::Kind::kFunction || v.is_undefined();
}
absl::StatusOr<bool> TEscaped(const Value& v, CallArgs&) { return v.is_markup(); }

absl::StatusOr<bool> TSameas(const Value& v, CallArgs& args) {
  absl::StatusOr<Value> other = OneArg("sameas", args);
  if (!other.ok()) return other.status();
  if (v.kind() != other->kind()) return false;
  switch (v.kind()) {
    case Value::Kind::kNone:
    case Value::Kind::kUndefined:
      return v.is_none();
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
      return Equals(v, *other);
    default:
      return v.identity() == other->identity();
  }
}

absl::StatusOr<bool> TIn(const Value& v, CallArgs& args) {
  absl::StatusOr<Value> seq = OneArg("in", args);
  if (!seq.ok()) return seq.status();
  return Contains(*seq, v);
}

template <CompareOp kOp>
absl::StatusOr<bool> TCompare(const Value& v, CallArgs& args) {
  absl::StatusOr<Value> other = OneArg("comparison", args);
  if (!other.ok()) return other.status();
  if (kOp == CompareOp::kEq) return Equals(v, *other);
  if (kOp == CompareOp::kNe) return !Equals(v, *other);
  absl::StatusOr<int> c = Compare(v, *other);
  if (!c.ok()) return c.status();
  switch (kOp) {
    case CompareOp::kLt:
      return *c < 0;
    case CompareOp::kLe:
      return *c <= 0;
    case CompareOp::kGt:
      return *c > 0;
    default:
      return *c >= 0;
  }
}

// value % 2 == remainder, with Python's % (ints and floats alike).
absl::StatusOr<bool> Parity(const Value& v, int remainder) {
  absl::StatusOr<Value> m = ApplyBinary(BinaryOp::kMod, v, Value::Int(2));
  if (!m.ok()) return m.status();
  return Equals(*m, Value::Int(remainder));
}
absl::StatusOr<bool> TOdd(const Value& v, CallArgs&) { return Parity(v, 1); }
absl::StatusOr<bool> TEven(const Value& v, CallArgs&) { return Parity(v, 0); }
absl::StatusOr<bool> TDivisibleby(const Value& v, CallArgs& args) {
  absl::StatusOr<Value> num = OneArg("divisibleby", args);
  if (!num.ok()) return num.status();
  absl::StatusOr<Value> m = ApplyBinary(BinaryOp::kMod, v, *num);
  if (!m.ok()) return m.status();
  return Equals(*m, Value::Int(0));
}

absl::StatusOr<bool> TLower(const Value& v, CallArgs&) { return PyIsLower(ToStr(v)); }
absl::StatusOr<bool> TUpper(const Value& v, CallArgs&) { return PyIsUpper(ToStr(v)); }

absl::StatusOr<bool> TFilter(const Value& v, CallArgs&) {
  return v.is_string() && FindFilter(v.str()) != nullptr;
}
absl::StatusOr<bool> TTest(const Value& v, CallArgs&) {
  return v.is_string() && FindTest(v.str()) != nullptr;
}

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

constexpr TestEntry kTests[] = {
    {"odd", TOdd},
    {"even", TEven},
    {"divisibleby", TDivisibleby},
    {"defined", TDefined},
    {"undefined", TUndefined},
    {"filter", TFilter},
    {"test", TTest},
    {"none", TNone},
    {"boolean", TBoolean},
    {"false", TFalse},
    {"true", TTrue},
    {"integer", TInteger},
    {"float", TFloat},
    {"lower", TLower},
    {"upper", TUpper},
    {"string", TString},
    {"mapping", TMapping},
    {"number", TNumber},
    {"sequence", TSequence},
    {"iterable", TIterable},
    {"callable", TCallable},
    {"sameas", TSameas},
    {"escaped", TEscaped},
    {"in", TIn},
    {"==", TCompare<CompareOp::kEq>},
    {"eq", TCompare<CompareOp::kEq>},
    {"equalto", TCompare<CompareOp::kEq>},
    {"!=", TCompare<CompareOp::kNe>},
    {"ne", TCompare<CompareOp::kNe>},
    {">", TCompare<CompareOp::kGt>},
    {"gt", TCompare<CompareOp::kGt>},
    {"greaterthan", TCompare<CompareOp::kGt>},
    {">=", TCompare<CompareOp::kGe>},
    {"ge", TCompare<CompareOp::kGe>},
    {"<", TCompare<CompareOp::kLt>},
    {"lt", TCompare<CompareOp::kLt>},
    {"lessthan", TCompare<CompareOp::kLt>},
    {"<=", TCompare<CompareOp::kLe>},
    {"le", TCompare<CompareOp::kLe>},
};

absl::StatusOr<Value> Range(CallArgs& args) {
  if (!args.keyword.empty()) return RuntimeError("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    return RuntimeError("range expected 1 to 3 arguments");
  }
  int64_t bounds[3] = {0, 0, 1};
  for (size_t i = 0; i < args.positional.size(); ++i) {
    const Value& v = args.positional[i];
    if (v.is_undefined()) return UndefinedError(v);
    if (!v.is_integral()) {
      return RuntimeError(
          absl::StrCat("'", TypeName(v), "' object cannot be interpreted as an integer"));
    }
  }
  if (args.positional.size() == 1) {
    bounds[1] = args.positional[0].as_int();
  } else {
    bounds[0] = args.positional[0].as_int();
    bounds[1] = args.positional[1].as_int();
    if (args.positional.size() == 3) bounds[2] = args.positional[2].as_int();
  }
  const int64_t start = bounds[0], stop = bounds[1], step = bounds[2];
  if (step == 0) return RuntimeError("range() arg 3 must not be zero");
  int64_t count = 0;
  if (step > 0 && start < stop) count = (stop - start + step - 1) / step;
  if (step < 0 && start > stop) count = (start - stop - step - 1) / -step;
  if (count > kMaxRange) {
    return RuntimeError(absl::StrCat(
        "Range too big. The sandbox blocks ranges larger than MAX_RANGE (", kMaxRange, ")."));
  }
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out.push_back(Value::Int(start + i * step));
  return Value::List(std::move(out));
}

// dict(mapping_or_pairs?, **kwargs) and namespace(...) share argument handling.
absl::StatusOr<std::shared_ptr<DictData>> DictFromArgs(std::string_view fn, CallArgs& args) {
  auto d = std::make_shared<DictData>();
  if (args.positional.size() > 1) {
    return RuntimeError(absl::StrCat(Sv(fn), " expected at most 1 positional argument"));
  }
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict() || src.kind() == Value::Kind::kNamespace) {
      const DictData& s = src.is_dict() ? src.dict() : src.ns();
      for (const auto& [k, v] : s.entries) d->Set(k, v);
    } else if (src.is_list()) {
      for (const Value& pair : src.items()) {
        if (!pair.is_list() || pair.items().size() != 2 || !pair.items()[0].is_string()) {
          return RuntimeError(
              absl::StrCat(Sv(fn), ": sequence elements must be (str, value) pairs"));
        }
        d->Set(pair.items()[0].str(), pair.items()[1]);
      }
    } else {
      return RuntimeError(absl::StrCat("'", TypeName(src), "' object is not iterable"));
    }
  }
  for (auto& [k, v] : args.keyword) d->Set(k, v);
  return d;
}

absl::StatusOr<Value> MakeDict(CallArgs& args) {
  absl::StatusOr<std::shared_ptr<DictData>> d = DictFromArgs("dict", args);
  if (!d.ok()) return d.status();
  return Value::Dict(*std::move(d));
}

absl::StatusOr<Value> MakeNamespace(CallArgs& args) {
  absl::StatusOr<std::shared_ptr<DictData>> d = DictFromArgs("namespace", args);
  if (!d.ok()) return d.status();
  return Value::Namespace(*std::move(d));
}

absl::StatusOr<Value> RaiseException(CallArgs& args) {
  std::vector<std::optional<Value>> a;
  if (absl::Status s = BindArgs("raise_exception", args, {"message"}, 1, &a); !s.ok()) return s;
  return RaisedError(ToStr(*a[0]));
}

absl::StatusOr<Value> StrftimeNow(CallArgs& args) {
  std::vector<std::optional<Value>> a;
  if (absl::Status s = BindArgs("strftime_now", args, {"format"}, 1, &a); !s.ok()) return s;
  if (!a[0]->is_string()) return RuntimeError("strftime_now: format must be a string");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string out(256, '\0');
  const size_t n = std::strftime(out.data(), out.size(), a[0]->str().c_str(), &local);
  if (n == 0 && !a[0]->str().empty()) return RuntimeError("strftime_now: result too long");
  out.resize(n);
  return Value::Str(std::move(out));
}

}  // namespace

TestFn FindTest(std::string_view name) {
  for (const TestEntry& e : kTests) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

std::vector<std::pair<std::string, Value>> MakeGlobals() {
  std::vector<std::pair<std::string, Value>> g;
  g.emplace_back("range", Value::Function("range", Range));
  g.emplace_back("dict", Value::Function("dict", MakeDict));
  g.emplace_back("namespace", Value::Function("namespace", MakeNamespace));
  g.emplace_back("raise_exception", Value::Function("raise_exception", RaiseException));
  g.emplace_back("strftime_now", Value::Function("strftime_now", StrftimeNow));
  return g;
}

}  // namespace strata::server::jinja
