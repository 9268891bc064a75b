// Parser from tokens to the syntax tree, following Jinja2's grammar and operator precedence.
// Everything the interpreter cannot run is rejected here, at compile time, with the line and
// column: unsupported statements ({% call %}, {% include %}, ...), unknown filters and tests,
// calls to functions that are neither built in nor defined by the template.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "server/chat_template/ast.h"
#include "server/chat_template/lexer.h"

namespace strata::server::jinja {

absl::StatusOr<std::unique_ptr<Program>> Parse(std::vector<Token> tokens);

}  // namespace strata::server::jinja
