// Attribute and item access, slicing, and the dict/list methods visible to templates
// (the immutable sandbox of transformers hides the mutating ones).
#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/chat_template/builtins.h"
#include "server/chat_template/text.h"

namespace strata::server::jinja {
namespace {

std::string ObjectTypeRepr(const Value& v) {
  if (v.is_none()) return "None";
  return TypeName(v) + " object";
}

Value NoAttribute(const Value& obj, std::string_view name) {
  return Value::Undefined(
      absl::StrCat("'", ObjectTypeRepr(obj), "' has no attribute '", Sv(name), "'"));
}

Value Unsafe(const Value& obj, std::string_view name) {
  return Value::Undefined(absl::StrCat("access to attribute '", Sv(name), "' of '", TypeName(obj),
                                       "' object is unsafe."));
}

// Python slice index normalisation for a sequence of `len` elements.
void SliceIndices(int64_t len, const std::optional<int64_t>& start_in,
                  const std::optional<int64_t>& stop_in, int64_t step, int64_t* start,
                  int64_t* stop) {
  auto adjust = [&](const std::optional<int64_t>& v, int64_t def_pos, int64_t def_neg) {
    if (!v.has_value()) return step > 0 ? def_pos : def_neg;
    int64_t i = *v;
    if (i < 0) {
      i += len;
      if (i < 0) i = step > 0 ? 0 : -1;
    } else if (i >= len) {
      i = step > 0 ? len : len - 1;
    }
    return i;
  };
  *start = adjust(start_in, 0, len - 1);
  *stop = adjust(stop_in, len, -1);
}

// Positions (code point indices -> byte offsets) of a string, for index/slice on non-ASCII.
std::u32string Chars(const std::string& s) { return DecodeUtf8(s); }

absl::StatusOr<Value> DictGet(const Value& self, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("get", args, {"key", "default"}, 1, &a);
  if (!s.ok()) return s;
  if (a[0]->is_string()) {
    if (const Value* v = self.dict().Find(a[0]->str()); v != nullptr) return *v;
  }
  return a[1].has_value() ? *a[1] : Value::None();
}
absl::StatusOr<Value> DictItems(const Value& self, CallArgs& args) {
  std::vector<Value> out;
  for (const auto& [k, v] : self.dict().entries) {
    out.push_back(Value::List({Value::Str(k), v}, SeqKind::kTuple));
  }
  return Value::List(std::move(out), SeqKind::kItemsView);
}
absl::StatusOr<Value> DictKeys(const Value& self, CallArgs& args) {
  return Value::List(Iterate(self).value(), SeqKind::kKeysView);
}
absl::StatusOr<Value> DictValues(const Value& self, CallArgs& args) {
  std::vector<Value> out;
  for (const auto& [k, v] : self.dict().entries) out.push_back(v);
  return Value::List(std::move(out), SeqKind::kValuesView);
}
absl::StatusOr<Value> Copy(const Value& self, CallArgs& args) { return self; }

absl::StatusOr<Value> ListIndex(const Value& self, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("index", args, {"value"}, 1, &a);
  if (!s.ok()) return s;
  for (size_t i = 0; i < self.items().size(); ++i) {
    if (Equals(self.items()[i], *a[0])) return Value::Int(static_cast<int64_t>(i));
  }
  return RuntimeError("value is not in list");
}
absl::StatusOr<Value> ListCount(const Value& self, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("count", args, {"value"}, 1, &a);
  if (!s.ok()) return s;
  int64_t n = 0;
  for (const Value& v : self.items()) n += Equals(v, *a[0]) ? 1 : 0;
  return Value::Int(n);
}

struct MethodEntry {
  std::string_view name;
  Method fn;
};

constexpr MethodEntry kDictMethods[] = {
    {"get", DictGet},       {"items", DictItems}, {"keys", DictKeys},
    {"values", DictValues}, {"copy", Copy},
};
constexpr MethodEntry kListMethods[] = {{"index", ListIndex}, {"count", ListCount}, {"copy", Copy}};
constexpr std::string_view kDictMutators[] = {"pop", "popitem", "setdefault", "update", "clear"};
constexpr std::string_view kListMutators[] = {"append", "extend",  "insert", "pop",
                                              "remove", "reverse", "sort",   "clear"};

template <size_t N>
Method FindMethod(const MethodEntry (&table)[N], std::string_view name) {
  for (const MethodEntry& e : table) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

template <size_t N>
bool Contains(const std::string_view (&table)[N], std::string_view name) {
  return std::find(std::begin(table), std::end(table), name) != std::end(table);
}

Value Bind(const Value& self, std::string_view name, Method fn) {
  return Value::Function(std::string(name), [self, fn](CallArgs& args) -> absl::StatusOr<Value> {
    return fn(self, args);
  });
}

}  // namespace

Value GetAttr(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Value::Kind::kString:
      if (Method m = FindStrMethod(name)) return Bind(obj, name, m);
      break;
    case Value::Kind::kDict: {
      if (Method m = FindMethod(kDictMethods, name)) return Bind(obj, name, m);
      if (Contains(kDictMutators, name)) return Unsafe(obj, name);
      if (const Value* v = obj.dict().Find(name)) return *v;
      break;
    }
    case Value::Kind::kList:
      if (!obj.is_sequence()) break;
      if (Method m = FindMethod(kListMethods, name)) {
        if (obj.seq_kind() == SeqKind::kList || name != "copy") return Bind(obj, name, m);
      }
      if (obj.seq_kind() == SeqKind::kList && Contains(kListMutators, name))
        return Unsafe(obj, name);
      break;
    case Value::Kind::kNamespace:
      if (const Value* v = obj.ns().Find(name)) return *v;
      break;
    default:
      break;
  }
  return NoAttribute(obj, name);
}

Value GetItem(const Value& obj, const Value& key) {
  if (key.is_integral() && (obj.is_string() || obj.is_sequence())) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      const int64_t n = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.items()[static_cast<size_t>(i)];
    } else {
      std::u32string cs = Chars(obj.str());
      const int64_t n = static_cast<int64_t>(cs.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        std::string one;
        AppendUtf8(cs[static_cast<size_t>(i)], &one);
        return Value::Str(std::move(one));
      }
    }
    return Value::Undefined(
        absl::StrCat("'", ObjectTypeRepr(obj), "' has no element ", key.as_int()));
  }
  if (obj.is_dict() && key.is_string()) {
    if (const Value* v = obj.dict().Find(key.str())) return *v;
  }
  if (key.is_string()) return GetAttr(obj, key.str());
  std::string key_repr;
  AppendRepr(key, &key_repr);
  return Value::Undefined(absl::StrCat("'", ObjectTypeRepr(obj), "' has no element ", key_repr));
}

absl::StatusOr<Value> SliceOf(const Value& obj, const Value& start, const Value& stop,
                              const Value& step) {
  auto bound = [](const Value& v, bool* ok) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_integral()) {
      *ok = false;
      return std::nullopt;
    }
    return v.as_int();
  };
  // Jinja compiles slices to Python subscripts: errors are raised, not turned into undefined.
  if (obj.is_dict()) return RuntimeError("unhashable type: 'slice'");
  if (!obj.is_string() && !obj.is_sequence()) {
    return RuntimeError(absl::StrCat("'", TypeName(obj), "' object is not subscriptable"));
  }
  bool ok = true;
  std::optional<int64_t> b = bound(start, &ok);
  std::optional<int64_t> e = bound(stop, &ok);
  std::optional<int64_t> st = bound(step, &ok);
  if (!ok) {
    return RuntimeError("slice indices must be integers or None or have an __index__ method");
  }
  const int64_t stride = st.value_or(1);
  if (stride == 0) return RuntimeError("slice step cannot be zero");
  std::u32string cs;
  int64_t len;
  if (obj.is_string()) {
    cs = Chars(obj.str());
    len = static_cast<int64_t>(cs.size());
  } else {
    len = static_cast<int64_t>(obj.items().size());
  }
  int64_t from, to;
  SliceIndices(len, b, e, stride, &from, &to);
  std::vector<size_t> picks;
  for (int64_t i = from; stride > 0 ? i < to : i > to; i += stride) {
    picks.push_back(static_cast<size_t>(i));
  }
  if (obj.is_string()) {
    std::string out;
    for (size_t i : picks) AppendUtf8(cs[i], &out);
    return Value::Str(std::move(out));
  }
  std::vector<Value> out;
  out.reserve(picks.size());
  for (size_t i : picks) out.push_back(obj.items()[i]);
  return Value::List(std::move(out), obj.seq_kind());
}

absl::StatusOr<Value> GetAttrPath(const Value& obj, std::string_view path) {
  Value cur = obj;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string_view part =
        path.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (cur.is_undefined()) return UndefinedError(cur);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
    cur = numeric ? GetItem(cur, Value::Int(std::stoll(std::string(part))))
                  : GetItem(cur, Value::Str(std::string(part)));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return cur;
}

}  // namespace strata::server::jinja
