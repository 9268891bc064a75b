// Jinja2 resolves names at compile time (jinja2/idtracking.py): a name assigned anywhere in a
// frame (the template top level, a loop body, a macro body, a block) is that frame's variable
// for the whole frame. Where Jinja initialises such a variable as undefined rather than from
// the enclosing frame or the context, a dynamic scope chain would wrongly see an outer value
// until the assignment runs; e.g. `{% for m in ms %}{{ x }}{% endfor %}{% set x = 1 %}`
// prints nothing for x even when x is passed in. AnalyzeScopes finds those names so that the
// evaluator can shadow them on frame entry.
#pragma once

#include "server/chat_template/ast.h"

namespace strata::server::jinja {

// Fills Program::frame_undefined and Stmt::frame_undefined / else_frame_undefined.
void AnalyzeScopes(Program* program);

}  // namespace strata::server::jinja
