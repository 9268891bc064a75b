// Syntax tree of a compiled chat template. Built once by the parser, immutable afterwards and
// shared by concurrent renders. Filters and tests are resolved to functions at compile time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/chat_template/value.h"

namespace strata::server::jinja {

struct SourceLoc {
  int line = 0;
  int column = 0;
};

using FilterFn = absl::StatusOr<Value> (*)(const Value& input, CallArgs& args);
using TestFn = absl::StatusOr<bool> (*)(const Value& input, CallArgs& args);

enum class ExprKind {
  kLiteral,
  kName,
  kList,
  kTuple,
  kDict,
  kGetAttr,
  kGetItem,
  kSlice,
  kCall,
  kFilter,
  kTest,
  kNot,
  kNeg,
  kPos,
  kBinary,
  kConcat,
  kCompare,
  kAnd,
  kOr,
  kCondExpr,
};

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// A call argument; `name` is empty for a positional one.
struct Arg {
  std::string name;
  ExprPtr value;
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  SourceLoc loc;
  Value literal;     // kLiteral
  std::string name;  // kName; kGetAttr attribute; kFilter / kTest name
  // kGetAttr/kGetItem object, kCall callee, kFilter/kTest operand (null for the filters of a
  // `{% set x | f %}` block), kNot/kNeg/kPos operand, kBinary/kAnd/kOr left, kCondExpr value.
  ExprPtr object;
  // kGetItem key (a kSlice for slicing), kBinary/kAnd/kOr right, kCondExpr condition.
  ExprPtr index;
  ExprPtr otherwise;           // kCondExpr else branch (may be null)
  ExprPtr slice[3];            // kSlice start, stop, step (each may be null)
  std::vector<ExprPtr> items;  // kList/kTuple elements; kDict key, value, key, ...; kConcat and
                               // kCompare operands
  std::vector<CompareOp> compare_ops;  // kCompare, one fewer than items
  std::vector<Arg> args;               // kCall / kFilter / kTest
  BinaryOp binary_op = BinaryOp::kAdd;
  bool negated = false;  // kTest under `is not`
  FilterFn filter = nullptr;
  TestFn test = nullptr;
};

enum class StmtKind {
  kText,
  kOutput,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kBreak,
  kContinue,
  kScope,        // a body rendered in its own scope ({% generation %})
  kFilterBlock,  // {% filter f %}: the body's output passed through filters
};

struct Target {
  enum class Kind { kName, kTuple, kNamespaceAttr };
  Kind kind = Kind::kName;
  std::string name;              // kName; the namespace variable of kNamespaceAttr
  std::string attr;              // kNamespaceAttr
  std::vector<Target> elements;  // kTuple
  SourceLoc loc;
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;

struct Stmt {
  StmtKind kind = StmtKind::kText;
  SourceLoc loc;
  std::string text;                // kText data; kMacro name
  ExprPtr expr;                    // kOutput value, kIf condition, kFor iterable, kSet value
  ExprPtr loop_filter;             // kFor `if` clause (may be null)
  Target target;                   // kFor, kSet, kSetBlock
  std::vector<ExprPtr> filters;    // kSetBlock / kFilterBlock filters, applied in order
  std::vector<MacroParam> params;  // kMacro
  std::vector<StmtPtr> body;
  std::vector<StmtPtr> else_body;  // kIf else / elif chain; kFor else
  bool is_elif = false;            // kIf: an elif, the only statement of its if's else_body
  // Jinja scoping (filled by AnalyzeScopes): names that start out undefined in the frame this
  // statement opens (the loop body, macro body, block body), and in a for loop's else frame.
  std::vector<std::string> frame_undefined;
  std::vector<std::string> else_frame_undefined;
};

struct Program {
  std::vector<StmtPtr> body;
  std::vector<std::string> frame_undefined;  // of the top-level frame
};

}  // namespace strata::server::jinja
