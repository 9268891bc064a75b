#include "server/chat_template/value.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "server/chat_template/text.h"

namespace strata::server::jinja {
namespace {

const std::string& EmptyString() {
  static const std::string* empty = new std::string();
  return *empty;
}

// Dicts with more entries than this keep a hash index next to the ordered entries.
constexpr size_t kIndexThreshold = 16;

constexpr std::string_view kRaisedPayload = "strata.chat_template.raise_exception";

}  // namespace

Value::Value() : data_(UndefinedTag{}) {}

Value Value::Undefined(std::string hint) {
  Value v;
  v.data_ = UndefinedTag{std::make_shared<const std::string>(std::move(hint))};
  return v;
}

Value Value::None() {
  Value v;
  v.data_ = NoneTag{};
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.data_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.data_ = i;
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.data_ = d;
  return v;
}

Value Value::Str(std::string s) {
  Value v;
  v.data_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::Markup(std::string s) {
  Value v = Str(std::move(s));
  v.markup_ = true;
  return v;
}

Value Value::List(std::vector<Value> items, SeqKind kind) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->kind = kind;
  Value v;
  v.data_ = ListPtr(std::move(data));
  return v;
}

Value Value::Dict(std::shared_ptr<const DictData> dict) {
  Value v;
  v.data_ = std::move(dict);
  return v;
}

Value Value::Namespace(std::shared_ptr<DictData> attrs) {
  Value v;
  v.data_ = std::move(attrs);
  return v;
}

Value Value::Function(std::string name, NativeFn fn) {
  auto f = std::make_shared<struct Function>();
  f->name = std::move(name);
  f->fn = std::move(fn);
  Value v;
  v.data_ = FnPtr(std::move(f));
  return v;
}

bool Value::is_number() const {
  const Kind k = kind();
  return k == Kind::kBool || k == Kind::kInt || k == Kind::kFloat;
}

int64_t Value::as_int() const {
  if (kind() == Kind::kBool) return as_bool() ? 1 : 0;
  return std::get<int64_t>(data_);
}

double Value::as_double() const {
  switch (kind()) {
    case Kind::kBool:
      return as_bool() ? 1.0 : 0.0;
    case Kind::kInt:
      return static_cast<double>(std::get<int64_t>(data_));
    default:
      return std::get<double>(data_);
  }
}

const std::vector<Value>& Value::items() const { return list().items; }

SeqKind Value::seq_kind() const { return list().kind; }

const std::string& Value::undefined_hint() const {
  const auto& tag = std::get<UndefinedTag>(data_);
  return tag.hint ? *tag.hint : EmptyString();
}

const void* Value::identity() const {
  switch (kind()) {
    case Kind::kString:
      return std::get<StrPtr>(data_).get();
    case Kind::kList:
      return std::get<ListPtr>(data_).get();
    case Kind::kDict:
      return std::get<DictPtr>(data_).get();
    case Kind::kNamespace:
      return std::get<NsPtr>(data_).get();
    case Kind::kFunction:
      return std::get<FnPtr>(data_).get();
    default:
      return nullptr;
  }
}

const Value* DictData::Find(std::string_view key) const {
  if (!index_.empty()) {
    auto it = index_.find(Sv(key));
    return it == index_.end() ? nullptr : &entries[it->second].second;
  }
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void DictData::Set(std::string key, Value value) {
  if (const Value* existing = Find(key); existing != nullptr) {
    *const_cast<Value*>(existing) = std::move(value);
    return;
  }
  entries.emplace_back(std::move(key), std::move(value));
  if (entries.size() > kIndexThreshold) {
    if (index_.empty()) {
      for (size_t i = 0; i < entries.size(); ++i) index_[entries[i].first] = i;
    } else {
      index_[entries.back().first] = entries.size() - 1;
    }
  }
}

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.as_bool();
    case Value::Kind::kInt:
      return v.as_int() != 0;
    case Value::Kind::kFloat:
      return v.as_double() != 0.0;
    case Value::Kind::kString:
      return !v.str().empty();
    case Value::Kind::kList:
      return v.seq_kind() == SeqKind::kIterator || !v.items().empty();
    case Value::Kind::kDict:
      return !v.dict().entries.empty();
    case Value::Kind::kNamespace:
    case Value::Kind::kFunction:
      return true;
  }
  return false;
}

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      switch (v.seq_kind()) {
        case SeqKind::kList:
          return "list";
        case SeqKind::kTuple:
          return "tuple";
        case SeqKind::kIterator:
          return "generator";
        case SeqKind::kItemsView:
          return "dict_items";
        case SeqKind::kKeysView:
          return "dict_keys";
        case SeqKind::kValuesView:
          return "dict_values";
      }
      return "list";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kFunction:
      return "function";
  }
  return "object";
}

void AppendStr(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return;
    case Value::Kind::kString:
      out->append(v.str());
      return;
    default:
      AppendRepr(v, out);
  }
}

std::string ToStr(const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  AppendStr(v, &out);
  return out;
}

void AppendRepr(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      out->append("Undefined");
      return;
    case Value::Kind::kNone:
      out->append("None");
      return;
    case Value::Kind::kBool:
      out->append(v.as_bool() ? "True" : "False");
      return;
    case Value::Kind::kInt:
      absl::StrAppend(out, v.as_int());
      return;
    case Value::Kind::kFloat:
      out->append(PyFloatRepr(v.as_double()));
      return;
    case Value::Kind::kString:
      if (v.is_markup()) {
        absl::StrAppend(out, "Markup(", PyStrRepr(v.str()), ")");
      } else {
        out->append(PyStrRepr(v.str()));
      }
      return;
    case Value::Kind::kList: {
      if (v.seq_kind() == SeqKind::kIterator) {
        out->append("<generator object>");
        return;
      }
      const bool view = !v.is_sequence();
      if (view) absl::StrAppend(out, TypeName(v), "(");
      const bool tuple = v.seq_kind() == SeqKind::kTuple;
      out->push_back(tuple ? '(' : '[');
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i > 0) out->append(", ");
        AppendRepr(v.items()[i], out);
      }
      if (tuple && v.items().size() == 1) out->push_back(',');
      out->push_back(tuple ? ')' : ']');
      if (view) out->push_back(')');
      return;
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      const bool ns = v.kind() == Value::Kind::kNamespace;
      const DictData& d = ns ? v.ns() : v.dict();
      if (ns) out->append("<Namespace ");
      out->push_back('{');
      for (size_t i = 0; i < d.entries.size(); ++i) {
        if (i > 0) out->append(", ");
        out->append(PyStrRepr(d.entries[i].first));
        out->append(": ");
        AppendRepr(d.entries[i].second, out);
      }
      out->push_back('}');
      if (ns) out->push_back('>');
      return;
    }
    case Value::Kind::kFunction:
      absl::StrAppend(out, "<function ", v.function().name, ">");
      return;
  }
}

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::kFloat || b.kind() == Value::Kind::kFloat) {
      return a.as_double() == b.as_double();
    }
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.str() == b.str();
    case Value::Kind::kList: {
      if (a.seq_kind() != b.seq_kind()) return false;
      if (a.seq_kind() == SeqKind::kIterator) return a.identity() == b.identity();
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!Equals(a.items()[i], b.items()[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      const DictData& x = a.dict();
      const DictData& y = b.dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.Find(k);
        if (other == nullptr || !Equals(v, *other)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

absl::StatusOr<int> Compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::kFloat || b.kind() == Value::Kind::kFloat) {
      const double x = a.as_double();
      const double y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const int64_t x = a.as_int();
    const int64_t y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    // UTF-8 byte order is code point order.
    const int c = a.str().compare(b.str());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_sequence() && b.is_sequence() && a.seq_kind() == b.seq_kind()) {
    const size_t n = std::min(a.items().size(), b.items().size());
    for (size_t i = 0; i < n; ++i) {
      if (Equals(a.items()[i], b.items()[i])) continue;
      return Compare(a.items()[i], b.items()[i]);
    }
    return a.items().size() < b.items().size() ? -1 : (a.items().size() > b.items().size() ? 1 : 0);
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  return RuntimeError(absl::StrCat("'<' not supported between instances of '", TypeName(a),
                                   "' and '", TypeName(b), "'"));
}

absl::Status UndefinedError(const Value& v) {
  const std::string& hint = v.undefined_hint();
  return absl::InvalidArgumentError(hint.empty() ? "undefined value" : hint);
}

absl::Status RuntimeError(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

absl::Status RaisedError(std::string_view message) {
  absl::Status s = absl::InvalidArgumentError(std::string(message));
  s.SetPayload(Sv(kRaisedPayload), absl::Cord("1"));
  return s;
}

bool IsRaisedError(const absl::Status& status) {
  return status.GetPayload(Sv(kRaisedPayload)).has_value();
}

absl::Status AppendJson(const Value& v, const JsonOptions& options, int depth, std::string* out) {
  if (depth > 512) return RuntimeError("tojson: value nested too deeply");
  switch (v.kind()) {
    case Value::Kind::kNone:
      out->append("null");
      return absl::OkStatus();
    case Value::Kind::kBool:
      out->append(v.as_bool() ? "true" : "false");
      return absl::OkStatus();
    case Value::Kind::kInt:
      absl::StrAppend(out, v.as_int());
      return absl::OkStatus();
    case Value::Kind::kFloat: {
      const double d = v.as_double();
      if (std::isnan(d)) {
        out->append("NaN");
      } else if (std::isinf(d)) {
        out->append(d < 0 ? "-Infinity" : "Infinity");
      } else {
        out->append(PyFloatRepr(d));
      }
      return absl::OkStatus();
    }
    case Value::Kind::kString:
      AppendJsonString(v.str(), options.ensure_ascii, out);
      return absl::OkStatus();
    default:
      break;
  }
  const bool is_list = v.is_sequence();
  if (!is_list && !v.is_dict()) {
    return RuntimeError(absl::StrCat("Object of type ", TypeName(v), " is not JSON serializable"));
  }
  const std::string item_sep =
      options.has_separators ? options.item_separator : (options.has_indent ? "," : ", ");
  const std::string key_sep = options.has_separators ? options.key_separator : ": ";
  auto open_level = [&](int level) {
    if (!options.has_indent) return;
    out->push_back('\n');
    for (int i = 0; i < level; ++i) out->append(options.indent);
  };
  if (is_list) {
    if (v.items().empty()) {
      out->append("[]");
      return absl::OkStatus();
    }
    out->push_back('[');
    open_level(depth + 1);
    for (size_t i = 0; i < v.items().size(); ++i) {
      if (i > 0) {
        out->append(item_sep);
        open_level(depth + 1);
      }
      absl::Status s = AppendJson(v.items()[i], options, depth + 1, out);
      if (!s.ok()) return s;
    }
    open_level(depth);
    out->push_back(']');
    return absl::OkStatus();
  }
  const DictData& d = v.dict();
  if (d.entries.empty()) {
    out->append("{}");
    return absl::OkStatus();
  }
  std::vector<const std::pair<std::string, Value>*> entries;
  entries.reserve(d.entries.size());
  for (const auto& e : d.entries) entries.push_back(&e);
  if (options.sort_keys) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto* a, const auto* b) { return a->first < b->first; });
  }
  out->push_back('{');
  open_level(depth + 1);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) {
      out->append(item_sep);
      open_level(depth + 1);
    }
    AppendJsonString(entries[i]->first, options.ensure_ascii, out);
    out->append(key_sep);
    absl::Status s = AppendJson(entries[i]->second, options, depth + 1, out);
    if (!s.ok()) return s;
  }
  open_level(depth);
  out->push_back('}');
  return absl::OkStatus();
}

}  // namespace strata::server::jinja
