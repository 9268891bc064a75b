// The built-in behaviour of the interpreter, with Python/Jinja2 semantics: operators,
// attribute and item access (including the str/dict/list methods templates call), filters,
// tests and global functions. All functions are stateless and thread-safe.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/chat_template/ast.h"
#include "server/chat_template/value.h"

namespace strata::server::jinja {

// --- operators.cc ---
// a <op> b; an undefined operand is an UndefinedError.
absl::StatusOr<Value> ApplyBinary(BinaryOp op, const Value& a, const Value& b);
// -v / +v.
absl::StatusOr<Value> ApplyUnary(bool negate, const Value& v);
// `item in container`.
absl::StatusOr<bool> Contains(const Value& container, const Value& item);
// The elements a `for` loop (or list()) sees: list items, dict keys, string code points;
// undefined iterates as empty.
absl::StatusOr<std::vector<Value>> Iterate(const Value& v);
// Binds call arguments to parameter names (positional first, then by keyword). The first
// `required` names must be given. Unknown keywords and surplus positionals are errors.
absl::Status BindArgs(std::string_view function, CallArgs& args,
                      std::initializer_list<std::string_view> names, size_t required,
                      std::vector<std::optional<Value>>* out);

// --- methods.cc ---
// obj.name (Jinja's sandboxed getattr: attribute first, then item). `obj` must not be
// undefined; a missing attribute yields an undefined value with a hint.
Value GetAttr(const Value& obj, std::string_view name);
// obj[key] (item first, then attribute for string keys).
Value GetItem(const Value& obj, const Value& key);
// obj[start:stop:step]; undefined/None bounds are omitted ones.
absl::StatusOr<Value> SliceOf(const Value& obj, const Value& start, const Value& stop,
                              const Value& step);
// Follows a dotted attribute path as Jinja's attribute= arguments do ("a.b", "items.0").
absl::StatusOr<Value> GetAttrPath(const Value& obj, std::string_view path);

// --- str_methods.cc ---
using Method = absl::StatusOr<Value> (*)(const Value& self, CallArgs& args);
// The str method `name` (startswith, split, strip, ...), or null.
Method FindStrMethod(std::string_view name);

// --- filters.cc ---
FilterFn FindFilter(std::string_view name);

// --- predicates.cc ---
TestFn FindTest(std::string_view name);
// range, dict, namespace, raise_exception, strftime_now.
std::vector<std::pair<std::string, Value>> MakeGlobals();

}  // namespace strata::server::jinja
