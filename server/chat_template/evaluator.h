// Renders a compiled Program against a set of variables. Jinja2 scoping: a for-loop
// iteration, a macro call and a block set get their own scope; `if` does not; assignments
// inside a loop do not leak out (which is why templates use namespace()).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/chat_template/ast.h"
#include "server/chat_template/value.h"

namespace strata::server::jinja {

// Renders `program` with `variables` as the template context. Thread-safe for concurrent
// calls on the same program. Errors carry the template line and column, except those raised
// by raise_exception(), which carry exactly its message.
absl::StatusOr<std::string> Render(const Program& program,
                                   std::vector<std::pair<std::string, Value>> variables);

}  // namespace strata::server::jinja
