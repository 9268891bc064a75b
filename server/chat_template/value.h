// The runtime value of the chat-template interpreter, modelled on the Python objects a Jinja
// template sees under Hugging Face transformers: undefined, None, bool, int, float, str, list
// (also tuple and one-shot iterators such as filter results), dict (insertion-ordered, string
// keys), Jinja's namespace, and callables. Values are cheap to copy: strings and containers
// are shared and immutable; only a namespace is mutable (through `{% set ns.x = ... %}`).
// A Value is used by one render at a time (no internal locking).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata::server::jinja {

// The system Abseil has its own string_view type; this adapts std::string_view to it.
inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

class Value;
struct ListData;
struct DictData;
struct Function;

// How a sequence behaves where Python's list, tuple, one-shot iterators (generator, filter
// results) and dict views (dict.items() ...) differ: repr, truthiness, len(), subscripting.
enum class SeqKind : uint8_t { kList, kTuple, kIterator, kItemsView, kKeysView, kValuesView };

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFn = std::function<absl::StatusOr<Value>(CallArgs& args)>;

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kFunction
  };

  Value();  // undefined
  // `hint` is the message raised when the undefined value is used where Jinja would raise
  // UndefinedError, e.g. "'foo' is undefined".
  static Value Undefined(std::string hint);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value Str(std::string s);
  // A markupsafe.Markup string (from the safe and escape filters): concatenating a plain
  // string to it with + HTML-escapes that string, as Python does.
  static Value Markup(std::string s);
  static Value List(std::vector<Value> items, SeqKind kind = SeqKind::kList);
  static Value Dict(std::shared_ptr<const DictData> dict);
  static Value Namespace(std::shared_ptr<DictData> attrs);
  static Value Function(std::string name, NativeFn fn);

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_markup() const { return markup_; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_dict() const { return kind() == Kind::kDict; }
  // bool, int or float (Python's numbers.Number).
  bool is_number() const;
  // A list or tuple: supports len(), indexing and slicing.
  bool is_sequence() const {
    return kind() == Kind::kList && (seq_kind() == SeqKind::kList || seq_kind() == SeqKind::kTuple);
  }
  // int or bool (Python int, of which bool is a subclass).
  bool is_integral() const { return kind() == Kind::kInt || kind() == Kind::kBool; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const;    // bool or int
  double as_double() const;  // bool, int or float
  const std::string& str() const { return *std::get<StrPtr>(data_); }
  const ListData& list() const { return *std::get<ListPtr>(data_); }
  const std::vector<Value>& items() const;
  SeqKind seq_kind() const;
  const DictData& dict() const { return *std::get<DictPtr>(data_); }
  DictData& ns() const { return *std::get<NsPtr>(data_); }
  const struct Function& function() const { return *std::get<FnPtr>(data_); }
  const std::string& undefined_hint() const;
  // Identity of the shared object behind a container, namespace or function (for `is sameas`).
  const void* identity() const;

 private:
  struct UndefinedTag {
    std::shared_ptr<const std::string> hint;
  };
  struct NoneTag {};
  using StrPtr = std::shared_ptr<const std::string>;
  using ListPtr = std::shared_ptr<const ListData>;
  using DictPtr = std::shared_ptr<const DictData>;
  using NsPtr = std::shared_ptr<DictData>;
  using FnPtr = std::shared_ptr<const struct Function>;
  std::variant<UndefinedTag, NoneTag, bool, int64_t, double, StrPtr, ListPtr, DictPtr, NsPtr, FnPtr>
      data_;
  bool markup_ = false;
};

struct ListData {
  std::vector<Value> items;
  SeqKind kind = SeqKind::kList;
};

// An insertion-ordered mapping from string keys to values.
struct DictData {
  std::vector<std::pair<std::string, Value>> entries;

  const Value* Find(std::string_view key) const;
  void Set(std::string key, Value value);

 private:
  absl::flat_hash_map<std::string, size_t> index_;
};

struct Function {
  std::string name;
  NativeFn fn;
};

// Python truthiness.
bool Truthy(const Value& v);
// Python type name for messages ("str", "int", "NoneType", "list", ...).
std::string TypeName(const Value& v);
// Python str(); undefined renders as "".
void AppendStr(const Value& v, std::string* out);
std::string ToStr(const Value& v);
// Python repr().
void AppendRepr(const Value& v, std::string* out);
// Python ==.
bool Equals(const Value& a, const Value& b);
// Python ordering (<): -1, 0, 1, or a TypeError for unorderable operands.
absl::StatusOr<int> Compare(const Value& a, const Value& b);

// The error Jinja raises when an undefined value is used (its hint as message).
absl::Status UndefinedError(const Value& v);
// An error at render time (Jinja/Python runtime error), InvalidArgument.
absl::Status RuntimeError(std::string_view message);
// The error of raise_exception(message): InvalidArgument carrying exactly `message`, marked so
// that the evaluator passes it on without adding a source location.
absl::Status RaisedError(std::string_view message);
bool IsRaisedError(const absl::Status& status);

// json.dumps(value, ensure_ascii, indent, separators, sort_keys) as transformers' tojson.
struct JsonOptions {
  bool ensure_ascii = false;
  bool has_indent = false;
  std::string indent;  // one level
  bool has_separators = false;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
absl::Status AppendJson(const Value& v, const JsonOptions& options, int depth, std::string* out);

}  // namespace strata::server::jinja
