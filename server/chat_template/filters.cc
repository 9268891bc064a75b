// Jinja2's built-in filters (the subset chat templates use), with transformers' tojson.
#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "server/chat_template/builtins.h"
#include "server/chat_template/text.h"

namespace strata::server::jinja {
namespace {

using Args = std::vector<std::optional<Value>>;

#define STRATA_BIND(fn, required, ...) \
  Args a;                              \
  if (absl::Status s_ = BindArgs(fn, args, {__VA_ARGS__}, required, &a); !s_.ok()) return s_

bool ArgTrue(const std::optional<Value>& v) { return v.has_value() && Truthy(*v); }

absl::StatusOr<std::vector<Value>> Seq(const Value& v) { return Iterate(v); }

absl::StatusOr<int64_t> Length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return static_cast<int64_t>(CodePointCount(v.str()));
    case Value::Kind::kList:
      if (v.seq_kind() != SeqKind::kIterator) return static_cast<int64_t>(v.items().size());
      break;
    case Value::Kind::kDict:
      return static_cast<int64_t>(v.dict().entries.size());
    default:
      break;
  }
  return RuntimeError(absl::StrCat("object of type '", TypeName(v), "' has no len()"));
}

// The string filters keep a Markup input Markup (markupsafe's str methods do).
Value SameKind(const Value& in, std::string s) {
  return in.is_markup() ? Value::Markup(std::move(s)) : Value::Str(std::move(s));
}

// Sort key: lower-cased strings unless case sensitive.
Value IgnoreCase(const Value& v, bool case_sensitive) {
  if (case_sensitive || !v.is_string()) return v;
  return Value::Str(PyLower(v.str()));
}

absl::StatusOr<Value> KeyOf(const Value& item, const std::optional<Value>& attribute,
                            bool case_sensitive) {
  Value key = item;
  if (attribute.has_value() && !attribute->is_none()) {
    if (attribute->is_integral()) {
      key = GetItem(item, *attribute);
    } else {
      absl::StatusOr<Value> k = GetAttrPath(item, ToStr(*attribute));
      if (!k.ok()) return k.status();
      key = *std::move(k);
    }
  }
  return IgnoreCase(key, case_sensitive);
}

// Stable sort by key with Python comparison (errors propagate).
absl::Status SortByKeys(std::vector<std::pair<Value, Value>>* pairs, bool reverse) {
  absl::Status error;
  std::stable_sort(pairs->begin(), pairs->end(), [&](const auto& x, const auto& y) {
    if (!error.ok()) return false;
    absl::StatusOr<int> c = reverse ? Compare(y.first, x.first) : Compare(x.first, y.first);
    if (!c.ok()) {
      error = c.status();
      return false;
    }
    return *c < 0;
  });
  return error;
}

absl::StatusOr<Value> FAbs(const Value& in, CallArgs& args) {
  if (in.is_undefined()) return UndefinedError(in);
  if (in.kind() == Value::Kind::kFloat) return Value::Float(std::fabs(in.as_double()));
  if (in.is_integral()) return Value::Int(std::llabs(in.as_int()));
  return RuntimeError(absl::StrCat("bad operand type for abs(): '", TypeName(in), "'"));
}

absl::StatusOr<Value> FAttr(const Value& in, CallArgs& args) {
  STRATA_BIND("attr", 1, "name");
  if (in.is_undefined()) return UndefinedError(in);
  const std::string name = ToStr(*a[0]);
  Value v = GetAttr(in, name);
  // attr() looks up attributes only: a dict's items are not attributes.
  if (in.is_dict() && !v.is_undefined() && v.kind() != Value::Kind::kFunction) {
    return Value::Undefined(absl::StrCat("'dict object' has no attribute '", name, "'"));
  }
  return v;
}

absl::StatusOr<Value> FCapitalize(const Value& in, CallArgs& args) {
  return SameKind(in, PyCapitalize(ToStr(in)));
}

absl::StatusOr<Value> FDefault(const Value& in, CallArgs& args) {
  STRATA_BIND("default", 0, "default_value", "boolean");
  if (in.is_undefined() || (ArgTrue(a[1]) && !Truthy(in))) {
    return a[0].has_value() ? *a[0] : Value::Str("");
  }
  return in;
}

absl::StatusOr<Value> FDictsort(const Value& in, CallArgs& args) {
  STRATA_BIND("dictsort", 0, "case_sensitive", "by", "reverse");
  if (in.is_undefined()) return UndefinedError(in);
  if (!in.is_dict()) return RuntimeError("dictsort: value must be a mapping");
  const bool by_value = a[1].has_value() && a[1]->is_string() && a[1]->str() == "value";
  std::vector<std::pair<Value, Value>> pairs;
  for (const auto& [k, v] : in.dict().entries) {
    Value item = Value::List({Value::Str(k), v}, SeqKind::kTuple);
    pairs.emplace_back(IgnoreCase(by_value ? v : Value::Str(k), ArgTrue(a[0])), std::move(item));
  }
  if (absl::Status s = SortByKeys(&pairs, ArgTrue(a[2])); !s.ok()) return s;
  std::vector<Value> out;
  for (auto& p : pairs) out.push_back(std::move(p.second));
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FEscape(const Value& in, CallArgs& args) {
  if (in.is_markup()) return in;
  return Value::Markup(HtmlEscape(ToStr(in)));
}

absl::StatusOr<Value> FFirst(const Value& in, CallArgs& args) {
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  if (items->empty()) return Value::Undefined("No first item, sequence was empty.");
  return items->front();
}

absl::StatusOr<Value> FLast(const Value& in, CallArgs& args) {
  if (in.is_list() && in.seq_kind() == SeqKind::kIterator) {
    return RuntimeError("'generator' object is not reversible");
  }
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  if (items->empty()) return Value::Undefined("No last item, sequence was empty.");
  return items->back();
}

std::optional<double> ParseFloat(const std::string& s) {
  std::string t = PyStrip(s, nullptr, true, true);
  t.erase(std::remove(t.begin(), t.end(), '_'), t.end());
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return d;
}

absl::StatusOr<Value> FFloat(const Value& in, CallArgs& args) {
  STRATA_BIND("float", 0, "default");
  if (in.is_undefined()) return UndefinedError(in);
  if (in.is_number()) return Value::Float(in.as_double());
  if (in.is_string()) {
    if (std::optional<double> d = ParseFloat(in.str())) return Value::Float(*d);
  }
  return a[0].has_value() ? *a[0] : Value::Float(0.0);
}

absl::StatusOr<Value> FInt(const Value& in, CallArgs& args) {
  STRATA_BIND("int", 0, "default", "base");
  if (in.is_undefined()) return UndefinedError(in);
  const Value fallback = a[0].has_value() ? *a[0] : Value::Int(0);
  if (in.is_integral()) return Value::Int(in.as_int());
  if (in.kind() == Value::Kind::kFloat) {
    const double d = in.as_double();
    if (std::isnan(d) || std::isinf(d)) return fallback;
    return Value::Int(static_cast<int64_t>(std::trunc(d)));
  }
  if (in.is_string()) {
    const int base =
        a[1].has_value() && a[1]->is_integral() ? static_cast<int>(a[1]->as_int()) : 10;
    std::string t = PyStrip(in.str(), nullptr, true, true);
    t.erase(std::remove(t.begin(), t.end(), '_'), t.end());
    if (!t.empty()) {
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(t.c_str(), &end, base);
      if (*end == '\0' && errno == 0) return Value::Int(v);
    }
    if (std::optional<double> d = ParseFloat(in.str()); d && std::isfinite(*d)) {
      return Value::Int(static_cast<int64_t>(std::trunc(*d)));
    }
  }
  return fallback;
}

absl::StatusOr<Value> FIndent(const Value& in, CallArgs& args) {
  STRATA_BIND("indent", 0, "width", "first", "blank");
  if (in.is_undefined()) return UndefinedError(in);
  if (!in.is_string()) {
    return RuntimeError(
        absl::StrCat("unsupported operand type(s) for +=: '", TypeName(in), "' and 'str'"));
  }
  std::string indention = "    ";
  if (a[0].has_value()) {
    indention = a[0]->is_string()
                    ? a[0]->str()
                    : std::string(static_cast<size_t>(std::max<int64_t>(0, a[0]->as_int())), ' ');
  }
  CallArgs none;
  absl::StatusOr<Value> lines_v =
      GetAttr(Value::Str(ToStr(in) + "\n"), "splitlines").function().fn(none);
  if (!lines_v.ok()) return lines_v.status();
  const std::vector<Value>& lines = lines_v->items();
  std::string rv;
  if (ArgTrue(a[2])) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) rv += "\n" + indention;
      rv += lines[i].str();
    }
  } else if (!lines.empty()) {
    rv = lines[0].str();
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].str().empty()) rv += indention;
      rv += lines[i].str();
    }
  }
  if (ArgTrue(a[1])) rv = indention + rv;
  return SameKind(in, std::move(rv));
}

absl::StatusOr<Value> FItems(const Value& in, CallArgs& args) {
  if (in.is_undefined()) return Value::List({}, SeqKind::kIterator);
  if (!in.is_dict()) return RuntimeError("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, v] : in.dict().entries) {
    out.push_back(Value::List({Value::Str(k), v}, SeqKind::kTuple));
  }
  return Value::List(std::move(out), SeqKind::kIterator);
}

absl::StatusOr<Value> FJoin(const Value& in, CallArgs& args) {
  STRATA_BIND("join", 0, "d", "attribute");
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  const std::string sep = a[0].has_value() ? ToStr(*a[0]) : "";
  std::string out;
  for (size_t i = 0; i < items->size(); ++i) {
    Value item = (*items)[i];
    if (a[1].has_value() && !a[1]->is_none()) {
      absl::StatusOr<Value> v = KeyOf(item, a[1], true);
      if (!v.ok()) return v.status();
      item = *std::move(v);
    }
    if (i > 0) out += sep;
    AppendStr(item, &out);
  }
  return Value::Str(std::move(out));
}

absl::StatusOr<Value> FLength(const Value& in, CallArgs& args) {
  absl::StatusOr<int64_t> n = Length(in);
  if (!n.ok()) return n.status();
  return Value::Int(*n);
}

absl::StatusOr<Value> FList(const Value& in, CallArgs& args) {
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  return Value::List(*std::move(items));
}

absl::StatusOr<Value> FLower(const Value& in, CallArgs& args) {
  return SameKind(in, PyLower(ToStr(in)));
}
absl::StatusOr<Value> FUpper(const Value& in, CallArgs& args) {
  return SameKind(in, PyUpper(ToStr(in)));
}

absl::StatusOr<Value> FMap(const Value& in, CallArgs& args) {
  // Like Jinja, a falsy input (None, undefined, empty) maps to nothing without checks.
  if (!Truthy(in)) return Value::List({}, SeqKind::kIterator);
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  std::vector<Value> out;
  if (args.positional.empty()) {
    std::optional<Value> attribute;
    Value fallback = Value::None();
    bool has_default = false;
    for (auto& [k, v] : args.keyword) {
      if (k == "attribute") {
        attribute = v;
      } else if (k == "default") {
        fallback = v;
        has_default = true;
      } else {
        return RuntimeError(absl::StrCat("map: unexpected keyword argument '", k, "'"));
      }
    }
    if (!attribute.has_value()) return RuntimeError("map: no filter or attribute given");
    for (const Value& item : *items) {
      absl::StatusOr<Value> v = KeyOf(item, attribute, true);
      if (!v.ok()) return v.status();
      out.push_back(v->is_undefined() && has_default ? fallback : *std::move(v));
    }
    return Value::List(std::move(out), SeqKind::kIterator);
  }
  const std::string name = ToStr(args.positional[0]);
  FilterFn f = FindFilter(name);
  if (f == nullptr) return RuntimeError(absl::StrCat("No filter named '", name, "'."));
  for (const Value& item : *items) {
    CallArgs sub;
    sub.positional.assign(args.positional.begin() + 1, args.positional.end());
    sub.keyword = args.keyword;
    absl::StatusOr<Value> v = f(item, sub);
    if (!v.ok()) return v.status();
    out.push_back(*std::move(v));
  }
  return Value::List(std::move(out), SeqKind::kIterator);
}

absl::StatusOr<Value> MinMax(const Value& in, CallArgs& args, bool want_max) {
  STRATA_BIND(want_max ? "max" : "min", 0, "case_sensitive", "attribute");
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  if (items->empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  absl::StatusOr<Value> best_key = KeyOf((*items)[0], a[1], ArgTrue(a[0]));
  if (!best_key.ok()) return best_key.status();
  for (size_t i = 1; i < items->size(); ++i) {
    absl::StatusOr<Value> key = KeyOf((*items)[i], a[1], ArgTrue(a[0]));
    if (!key.ok()) return key.status();
    absl::StatusOr<int> c = Compare(*key, *best_key);
    if (!c.ok()) return c.status();
    if (want_max ? *c > 0 : *c < 0) {
      best = i;
      best_key = *std::move(key);
    }
  }
  return (*items)[best];
}
absl::StatusOr<Value> FMax(const Value& in, CallArgs& args) { return MinMax(in, args, true); }
absl::StatusOr<Value> FMin(const Value& in, CallArgs& args) { return MinMax(in, args, false); }

// select / reject / selectattr / rejectattr.
absl::StatusOr<Value> SelectOrReject(const Value& in, CallArgs& args, bool by_attr, bool select) {
  // Like Jinja, a falsy input (None, undefined, empty) selects nothing without checks.
  if (!Truthy(in)) return Value::List({}, SeqKind::kIterator);
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (args.positional.empty()) return RuntimeError("selectattr/rejectattr: missing attribute");
    attr = ToStr(args.positional[next++]);
  }
  TestFn test = nullptr;
  if (next < args.positional.size()) {
    const std::string name = ToStr(args.positional[next++]);
    test = FindTest(name);
    if (test == nullptr) return RuntimeError(absl::StrCat("No test named '", name, "'."));
  }
  std::vector<Value> out;
  for (const Value& item : *items) {
    Value subject = item;
    if (by_attr) {
      absl::StatusOr<Value> v = GetAttrPath(item, attr);
      if (!v.ok()) return v.status();
      subject = *std::move(v);
    }
    bool pass;
    if (test != nullptr) {
      CallArgs sub;
      sub.positional.assign(args.positional.begin() + static_cast<ptrdiff_t>(next),
                            args.positional.end());
      sub.keyword = args.keyword;
      absl::StatusOr<bool> r = test(subject, sub);
      if (!r.ok()) return r.status();
      pass = *r;
    } else {
      pass = Truthy(subject);
    }
    if (pass == select) out.push_back(item);
  }
  return Value::List(std::move(out), SeqKind::kIterator);
}
absl::StatusOr<Value> FSelect(const Value& in, CallArgs& args) {
  return SelectOrReject(in, args, false, true);
}
absl::StatusOr<Value> FReject(const Value& in, CallArgs& args) {
  return SelectOrReject(in, args, false, false);
}
absl::StatusOr<Value> FSelectattr(const Value& in, CallArgs& args) {
  return SelectOrReject(in, args, true, true);
}
absl::StatusOr<Value> FRejectattr(const Value& in, CallArgs& args) {
  return SelectOrReject(in, args, true, false);
}

absl::StatusOr<Value> FReplace(const Value& in, CallArgs& args) {
  STRATA_BIND("replace", 2, "old", "new", "count");
  CallArgs sub;
  sub.positional = {Value::Str(ToStr(*a[0])), Value::Str(ToStr(*a[1]))};
  if (a[2].has_value() && !a[2]->is_none()) sub.positional.push_back(*a[2]);
  return GetAttr(Value::Str(ToStr(in)), "replace").function().fn(sub);
}

absl::StatusOr<Value> FReverse(const Value& in, CallArgs& args) {
  if (in.is_string()) {
    std::u32string cs = DecodeUtf8(in.str());
    std::reverse(cs.begin(), cs.end());
    return Value::Str(EncodeUtf8(cs));
  }
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return RuntimeError("argument must be iterable");
  std::reverse(items->begin(), items->end());
  // reversed() works on sequences, dicts, views and (empty) undefined; a generator is
  // copied to a list first.
  const bool iterator =
      (in.is_list() && in.seq_kind() != SeqKind::kIterator) || in.is_dict() || in.is_undefined();
  return Value::List(*std::move(items), iterator ? SeqKind::kIterator : SeqKind::kList);
}

absl::StatusOr<Value> FRound(const Value& in, CallArgs& args) {
  STRATA_BIND("round", 0, "precision", "method");
  const int64_t precision = a[0].has_value() && a[0]->is_integral() ? a[0]->as_int() : 0;
  const std::string method = a[1].has_value() ? ToStr(*a[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    return RuntimeError("method must be common, ceil or floor");
  }
  if (in.is_undefined()) return UndefinedError(in);
  if (!in.is_number()) {
    return RuntimeError(absl::StrCat("type ", TypeName(in), " doesn't define __round__ method"));
  }
  if (in.is_integral() && method == "common") return Value::Int(in.as_int());
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = in.as_double() * scale;
  double r;
  if (method == "ceil") {
    r = std::ceil(x);
  } else if (method == "floor") {
    r = std::floor(x);
  } else {
    std::fesetround(FE_TONEAREST);
    r = std::nearbyint(x);
  }
  return Value::Float(r / scale);
}

absl::StatusOr<Value> FSafe(const Value& in, CallArgs& args) { return Value::Markup(ToStr(in)); }

absl::StatusOr<Value> FSort(const Value& in, CallArgs& args) {
  STRATA_BIND("sort", 0, "reverse", "case_sensitive", "attribute");
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  std::vector<std::pair<Value, Value>> pairs;
  for (const Value& item : *items) {
    absl::StatusOr<Value> key = KeyOf(item, a[2], ArgTrue(a[1]));
    if (!key.ok()) return key.status();
    pairs.emplace_back(*std::move(key), item);
  }
  if (absl::Status s = SortByKeys(&pairs, ArgTrue(a[0])); !s.ok()) return s;
  std::vector<Value> out;
  for (auto& p : pairs) out.push_back(std::move(p.second));
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FString(const Value& in, CallArgs& args) {
  return in.is_string() ? in : Value::Str(ToStr(in));
}

absl::StatusOr<Value> FSum(const Value& in, CallArgs& args) {
  STRATA_BIND("sum", 0, "attribute", "start");
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  Value total = a[1].has_value() ? *a[1] : Value::Int(0);
  for (const Value& item : *items) {
    absl::StatusOr<Value> v = KeyOf(item, a[0], true);
    if (!v.ok()) return v.status();
    absl::StatusOr<Value> t = ApplyBinary(BinaryOp::kAdd, total, *v);
    if (!t.ok()) return t.status();
    total = *std::move(t);
  }
  return total;
}

absl::StatusOr<Value> FTitle(const Value& in, CallArgs& args) {
  return SameKind(in, JinjaTitle(ToStr(in)));
}

absl::StatusOr<Value> FTojson(const Value& in, CallArgs& args) {
  STRATA_BIND("tojson", 0, "ensure_ascii", "indent", "separators", "sort_keys");
  JsonOptions options;
  options.ensure_ascii = ArgTrue(a[0]);
  if (a[1].has_value() && !a[1]->is_none()) {
    options.has_indent = true;
    if (a[1]->is_string()) {
      options.indent = a[1]->str();
    } else if (a[1]->is_integral()) {
      options.indent.assign(static_cast<size_t>(std::max<int64_t>(0, a[1]->as_int())), ' ');
    } else {
      return RuntimeError("tojson: indent must be an int or a string");
    }
  }
  if (a[2].has_value() && !a[2]->is_none()) {
    if (!a[2]->is_list() || a[2]->items().size() != 2 || !a[2]->items()[0].is_string() ||
        !a[2]->items()[1].is_string()) {
      return RuntimeError("tojson: separators must be a pair of strings");
    }
    options.has_separators = true;
    options.item_separator = a[2]->items()[0].str();
    options.key_separator = a[2]->items()[1].str();
  }
  options.sort_keys = ArgTrue(a[3]);
  std::string out;
  if (absl::Status s = AppendJson(in, options, 0, &out); !s.ok()) return s;
  return Value::Str(std::move(out));
}

absl::StatusOr<Value> FTrim(const Value& in, CallArgs& args) {
  STRATA_BIND("trim", 0, "chars");
  if (a[0].has_value() && !a[0]->is_none()) {
    const std::string chars = ToStr(*a[0]);
    return SameKind(in, PyStrip(ToStr(in), &chars, true, true));
  }
  return SameKind(in, PyStrip(ToStr(in), nullptr, true, true));
}

absl::StatusOr<Value> FUnique(const Value& in, CallArgs& args) {
  STRATA_BIND("unique", 0, "case_sensitive", "attribute");
  absl::StatusOr<std::vector<Value>> items = Seq(in);
  if (!items.ok()) return items.status();
  std::vector<Value> seen;
  std::vector<Value> out;
  for (const Value& item : *items) {
    absl::StatusOr<Value> key = KeyOf(item, a[1], ArgTrue(a[0]));
    if (!key.ok()) return key.status();
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, *key); })) {
      continue;
    }
    seen.push_back(*std::move(key));
    out.push_back(item);
  }
  return Value::List(std::move(out), SeqKind::kIterator);
}

absl::StatusOr<Value> FWordcount(const Value& in, CallArgs& args) {
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : DecodeUtf8(ToStr(in))) {
    const bool word = c >= 0x80 ? !IsPySpace(c)
                                : ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                   (c >= '0' && c <= '9') || c == '_');
    if (word && !in_word) ++n;
    in_word = word;
  }
  return Value::Int(n);
}

#undef STRATA_BIND

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

constexpr FilterEntry kFilters[] = {
    {"abs", FAbs},           {"attr", FAttr},       {"capitalize", FCapitalize},
    {"count", FLength},      {"d", FDefault},       {"default", FDefault},
    {"dictsort", FDictsort}, {"e", FEscape},        {"escape", FEscape},
    {"first", FFirst},       {"float", FFloat},     {"indent", FIndent},
    {"int", FInt},           {"items", FItems},     {"join", FJoin},
    {"last", FLast},         {"length", FLength},   {"list", FList},
    {"lower", FLower},       {"map", FMap},         {"max", FMax},
    {"min", FMin},           {"reject", FReject},   {"rejectattr", FRejectattr},
    {"replace", FReplace},   {"reverse", FReverse}, {"round", FRound},
    {"safe", FSafe},         {"select", FSelect},   {"selectattr", FSelectattr},
    {"sort", FSort},         {"string", FString},   {"sum", FSum},
    {"title", FTitle},       {"tojson", FTojson},   {"trim", FTrim},
    {"unique", FUnique},     {"upper", FUpper},     {"wordcount", FWordcount},
};

}  // namespace

FilterFn FindFilter(std::string_view name) {
  for (const FilterEntry& e : kFilters) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace strata::server::jinja
