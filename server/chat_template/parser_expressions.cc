// Expression grammar of the parser (Jinja2's precedence: conditional, or, and, not,
// comparisons, + -, ~, * / // %, **, unary, then postfix subscripts, calls, filters, tests).
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/chat_template/builtins.h"
#include "server/chat_template/parser_internal.h"

namespace strata::server::jinja::parser_internal {

// --- expressions ---
bool Parser::IsTupleEnd(std::initializer_list<std::string_view> extra_end) const {
  const Token& t = Cur();
  if (t.kind == TokenKind::kVariableEnd || t.kind == TokenKind::kBlockEnd || IsOp(")")) {
    return true;
  }
  return t.kind == TokenKind::kName &&
         std::find(extra_end.begin(), extra_end.end(), t.value) != extra_end.end();
}

absl::StatusOr<ExprPtr> Parser::ParseTuple(bool simplified, bool with_condexpr,
                                           std::initializer_list<std::string_view> extra_end,
                                           bool explicit_parens) {
  const SourceLoc loc = LocOf(Cur());
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) STRATA_RETURN_IF_ERROR(ExpectOp(","));
    if (IsTupleEnd(extra_end)) break;
    ExprPtr e;
    if (simplified) {
      STRATA_ASSIGN_OR_RETURN(e, ParsePrimary());
    } else if (with_condexpr) {
      STRATA_ASSIGN_OR_RETURN(e, ParseCondExpr());
    } else {
      STRATA_ASSIGN_OR_RETURN(e, ParseOr());
    }
    args.push_back(std::move(e));
    if (IsOp(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) return Unexpected("an expression");
  }
  ExprPtr t = MakeExpr(ExprKind::kTuple, loc);
  t->items = std::move(args);
  return t;
}

absl::StatusOr<ExprPtr> Parser::ParseCondExpr() {
  STRATA_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
  while (IsName("if")) {
    const SourceLoc loc = LocOf(Cur());
    Next();
    ExprPtr c = MakeExpr(ExprKind::kCondExpr, loc);
    STRATA_ASSIGN_OR_RETURN(c->index, ParseOr());
    if (SkipName("else")) {
      STRATA_ASSIGN_OR_RETURN(c->otherwise, ParseCondExpr());
    }
    c->object = std::move(expr);
    expr = std::move(c);
  }
  return expr;
}

absl::StatusOr<ExprPtr> Parser::ParseOr() {
  STRATA_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (IsName("or")) {
    ExprPtr e = MakeExpr(ExprKind::kOr, LocOf(Cur()));
    Next();
    STRATA_ASSIGN_OR_RETURN(e->index, ParseAnd());
    e->object = std::move(left);
    left = std::move(e);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseAnd() {
  STRATA_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (IsName("and")) {
    ExprPtr e = MakeExpr(ExprKind::kAnd, LocOf(Cur()));
    Next();
    STRATA_ASSIGN_OR_RETURN(e->index, ParseNot());
    e->object = std::move(left);
    left = std::move(e);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseNot() {
  if (IsName("not")) {
    ExprPtr e = MakeExpr(ExprKind::kNot, LocOf(Cur()));
    Next();
    STRATA_ASSIGN_OR_RETURN(e->object, ParseNot());
    return e;
  }
  return ParseCompare();
}

absl::StatusOr<ExprPtr> Parser::ParseCompare() {
  const SourceLoc loc = LocOf(Cur());
  STRATA_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
  ExprPtr cmp;
  while (true) {
    CompareOp op;
    if (IsOp("==")) {
      op = CompareOp::kEq;
    } else if (IsOp("!=")) {
      op = CompareOp::kNe;
    } else if (IsOp("<")) {
      op = CompareOp::kLt;
    } else if (IsOp("<=")) {
      op = CompareOp::kLe;
    } else if (IsOp(">")) {
      op = CompareOp::kGt;
    } else if (IsOp(">=")) {
      op = CompareOp::kGe;
    } else if (IsName("in")) {
      op = CompareOp::kIn;
    } else if (IsName("not") && Look().kind == TokenKind::kName && Look().value == "in") {
      op = CompareOp::kNotIn;
      Next();
    } else {
      break;
    }
    Next();
    if (!cmp) {
      cmp = MakeExpr(ExprKind::kCompare, loc);
      cmp->items.push_back(std::move(first));
    }
    cmp->compare_ops.push_back(op);
    STRATA_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
    cmp->items.push_back(std::move(operand));
  }
  return cmp ? std::move(cmp) : std::move(first);
}

absl::StatusOr<ExprPtr> Parser::Binary(BinaryOp op, ExprPtr left, ExprPtr right, SourceLoc loc) {
  ExprPtr e = MakeExpr(ExprKind::kBinary, loc);
  e->binary_op = op;
  e->object = std::move(left);
  e->index = std::move(right);
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseMath1() {
  STRATA_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    const BinaryOp op = IsOp("+") ? BinaryOp::kAdd : BinaryOp::kSub;
    const SourceLoc loc = LocOf(Cur());
    Next();
    STRATA_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
    STRATA_ASSIGN_OR_RETURN(left, Binary(op, std::move(left), std::move(right), loc));
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseConcat() {
  const SourceLoc loc = LocOf(Cur());
  STRATA_ASSIGN_OR_RETURN(ExprPtr first, ParseMath2());
  if (!IsOp("~")) return first;
  ExprPtr e = MakeExpr(ExprKind::kConcat, loc);
  e->items.push_back(std::move(first));
  while (SkipOp("~")) {
    STRATA_ASSIGN_OR_RETURN(ExprPtr next, ParseMath2());
    e->items.push_back(std::move(next));
  }
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseMath2() {
  STRATA_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    const BinaryOp op = IsOp("*")   ? BinaryOp::kMul
                        : IsOp("/") ? BinaryOp::kDiv
                        : IsOp("%") ? BinaryOp::kMod
                                    : BinaryOp::kFloorDiv;
    const SourceLoc loc = LocOf(Cur());
    Next();
    STRATA_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
    STRATA_ASSIGN_OR_RETURN(left, Binary(op, std::move(left), std::move(right), loc));
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParsePow() {
  STRATA_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
  while (IsOp("**")) {
    const SourceLoc loc = LocOf(Cur());
    Next();
    STRATA_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
    STRATA_ASSIGN_OR_RETURN(left, Binary(BinaryOp::kPow, std::move(left), std::move(right), loc));
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseUnary(bool with_filter) {
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    node = MakeExpr(IsOp("-") ? ExprKind::kNeg : ExprKind::kPos, LocOf(Cur()));
    Next();
    STRATA_ASSIGN_OR_RETURN(node->object, ParseUnary(false));
  } else {
    STRATA_ASSIGN_OR_RETURN(node, ParsePrimary());
  }
  STRATA_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) {
    STRATA_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
  }
  return node;
}

absl::StatusOr<ExprPtr> Parser::ParsePrimary() {
  const Token& t = Cur();
  const SourceLoc loc = LocOf(t);
  switch (t.kind) {
    case TokenKind::kName: {
      ExprPtr e = MakeExpr(ExprKind::kLiteral, loc);
      if (t.value == "true" || t.value == "True") {
        e->literal = Value::Bool(true);
      } else if (t.value == "false" || t.value == "False") {
        e->literal = Value::Bool(false);
      } else if (t.value == "none" || t.value == "None") {
        e->literal = Value::None();
      } else {
        e->kind = ExprKind::kName;
        e->name = t.value;
      }
      Next();
      return e;
    }
    case TokenKind::kString: {
      std::string s;
      while (Cur().kind == TokenKind::kString) {
        s += Cur().value;
        Next();
      }
      ExprPtr e = MakeExpr(ExprKind::kLiteral, loc);
      e->literal = Value::Str(std::move(s));
      return e;
    }
    case TokenKind::kInteger:
    case TokenKind::kFloat: {
      ExprPtr e = MakeExpr(ExprKind::kLiteral, loc);
      e->literal =
          t.kind == TokenKind::kInteger ? Value::Int(t.int_value) : Value::Float(t.float_value);
      Next();
      return e;
    }
    default:
      break;
  }
  if (SkipOp("(")) {
    STRATA_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(false, true, {}, true));
    STRATA_RETURN_IF_ERROR(ExpectOp(")"));
    return e;
  }
  if (IsOp("[") || IsOp("{")) {
    const bool is_dict = IsOp("{");
    const std::string close = is_dict ? "}" : "]";
    Next();
    ExprPtr e = MakeExpr(is_dict ? ExprKind::kDict : ExprKind::kList, loc);
    while (!IsOp(close)) {
      if (!e->items.empty()) STRATA_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(close)) break;
      STRATA_ASSIGN_OR_RETURN(ExprPtr item, ParseCondExpr());
      e->items.push_back(std::move(item));
      if (is_dict) {
        STRATA_RETURN_IF_ERROR(ExpectOp(":"));
        STRATA_ASSIGN_OR_RETURN(ExprPtr value, ParseCondExpr());
        e->items.push_back(std::move(value));
      }
    }
    Next();
    return e;
  }
  return Unexpected("an expression");
}

absl::StatusOr<ExprPtr> Parser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (IsOp(".") || IsOp("[")) {
      STRATA_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
    } else if (IsOp("(")) {
      STRATA_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> Parser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    if (IsOp("|")) {
      STRATA_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node), false));
    } else if (IsName("is")) {
      STRATA_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
    } else if (IsOp("(")) {
      STRATA_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> Parser::ParseSubscript(ExprPtr node) {
  const SourceLoc loc = LocOf(Cur());
  if (SkipOp(".")) {
    if (Cur().kind == TokenKind::kName) {
      ExprPtr e = MakeExpr(ExprKind::kGetAttr, loc);
      e->name = Cur().value;
      e->object = std::move(node);
      Next();
      return e;
    }
    if (Cur().kind == TokenKind::kInteger) {
      ExprPtr e = MakeExpr(ExprKind::kGetItem, loc);
      e->index = MakeExpr(ExprKind::kLiteral, LocOf(Cur()));
      e->index->literal = Value::Int(Cur().int_value);
      e->object = std::move(node);
      Next();
      return e;
    }
    return Unexpected("an attribute name or number after '.'");
  }
  Next();  // '['
  std::vector<ExprPtr> args;
  while (!IsOp("]")) {
    if (!args.empty()) STRATA_RETURN_IF_ERROR(ExpectOp(","));
    STRATA_ASSIGN_OR_RETURN(ExprPtr a, ParseSubscribed());
    args.push_back(std::move(a));
  }
  Next();
  ExprPtr e = MakeExpr(ExprKind::kGetItem, loc);
  e->object = std::move(node);
  if (args.size() == 1) {
    e->index = std::move(args[0]);
  } else {
    e->index = MakeExpr(ExprKind::kTuple, loc);
    e->index->items = std::move(args);
  }
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseSubscribed() {
  const SourceLoc loc = LocOf(Cur());
  ExprPtr parts[3];
  if (IsOp(":")) {
    Next();
  } else {
    STRATA_ASSIGN_OR_RETURN(ExprPtr e, ParseCondExpr());
    if (!IsOp(":")) return e;
    Next();
    parts[0] = std::move(e);
  }
  if (!IsOp(":") && !IsOp("]") && !IsOp(",")) {
    STRATA_ASSIGN_OR_RETURN(parts[1], ParseCondExpr());
  }
  if (SkipOp(":")) {
    if (!IsOp("]") && !IsOp(",")) {
      STRATA_ASSIGN_OR_RETURN(parts[2], ParseCondExpr());
    }
  }
  ExprPtr s = MakeExpr(ExprKind::kSlice, loc);
  for (int i = 0; i < 3; ++i) s->slice[i] = std::move(parts[i]);
  return s;
}

absl::Status Parser::ParseCallArgs(std::vector<Arg>* args) {
  STRATA_RETURN_IF_ERROR(ExpectOp("("));
  bool seen_keyword = false;
  while (!IsOp(")")) {
    if (!args->empty()) {
      STRATA_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;
    }
    if (IsOp("*") || IsOp("**")) {
      return ErrorAt(LocOf(Cur()), "*args and **kwargs in calls are not supported");
    }
    Arg a;
    if (Cur().kind == TokenKind::kName && Look().kind == TokenKind::kOperator &&
        Look().value == "=") {
      a.name = Cur().value;
      Next();
      Next();
      seen_keyword = true;
    } else if (seen_keyword) {
      return ErrorAt(LocOf(Cur()), "positional argument follows keyword argument");
    }
    STRATA_ASSIGN_OR_RETURN(a.value, ParseCondExpr());
    args->push_back(std::move(a));
  }
  Next();
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> Parser::ParseCall(ExprPtr callee) {
  ExprPtr e = MakeExpr(ExprKind::kCall, LocOf(Cur()));
  if (callee->kind == ExprKind::kName) calls_.emplace_back(callee->name, callee->loc);
  STRATA_RETURN_IF_ERROR(ParseCallArgs(&e->args));
  e->object = std::move(callee);
  return e;
}

absl::StatusOr<std::string> Parser::ParseDottedName() {
  STRATA_ASSIGN_OR_RETURN(std::string name, ExpectName());
  while (SkipOp(".")) {
    STRATA_ASSIGN_OR_RETURN(std::string part, ExpectName());
    absl::StrAppend(&name, ".", part);
  }
  return name;
}

// Literal test/filter names given to select(), selectattr(), map() & co. are checked now.
absl::Status Parser::CheckNamedArgument(const Expr& f) {
  size_t index;
  bool is_filter = false;
  if (f.name == "select" || f.name == "reject") {
    index = 0;
  } else if (f.name == "selectattr" || f.name == "rejectattr") {
    index = 1;
  } else if (f.name == "map") {
    index = 0;
    is_filter = true;
  } else {
    return absl::OkStatus();
  }
  size_t positional = 0;
  for (const Arg& a : f.args) {
    if (!a.name.empty()) continue;
    if (positional++ != index) continue;
    if (a.value->kind != ExprKind::kLiteral || !a.value->literal.is_string()) break;
    const std::string& n = a.value->literal.str();
    if (is_filter ? FindFilter(n) == nullptr : FindTest(n) == nullptr) {
      return ErrorAt(a.value->loc,
                     absl::StrCat(is_filter ? "unknown filter '" : "unknown test '", n, "'"));
    }
  }
  return absl::OkStatus();
}

// `| name(args)`; with inline_start the name comes first ({% filter name %}).
absl::StatusOr<ExprPtr> Parser::ParseFilter(ExprPtr node, bool inline_start) {
  if (!inline_start) Next();  // '|'
  const SourceLoc loc = LocOf(Cur());
  ExprPtr e = MakeExpr(ExprKind::kFilter, loc);
  STRATA_ASSIGN_OR_RETURN(e->name, ParseDottedName());
  e->filter = FindFilter(e->name);
  if (e->filter == nullptr) {
    return ErrorAt(loc, absl::StrCat("unknown or unsupported filter '", e->name, "'"));
  }
  if (IsOp("(")) STRATA_RETURN_IF_ERROR(ParseCallArgs(&e->args));
  STRATA_RETURN_IF_ERROR(CheckNamedArgument(*e));
  e->object = std::move(node);
  return e;
}

absl::StatusOr<ExprPtr> Parser::ParseTest(ExprPtr node) {
  Next();  // 'is'
  const bool negated = SkipName("not");
  const SourceLoc loc = LocOf(Cur());
  ExprPtr e = MakeExpr(ExprKind::kTest, loc);
  e->negated = negated;
  STRATA_ASSIGN_OR_RETURN(e->name, ParseDottedName());
  e->test = FindTest(e->name);
  if (e->test == nullptr) {
    return ErrorAt(loc, absl::StrCat("unknown or unsupported test '", e->name, "'"));
  }
  const TokenKind k = Cur().kind;
  if (IsOp("(")) {
    STRATA_RETURN_IF_ERROR(ParseCallArgs(&e->args));
  } else if ((k == TokenKind::kName || k == TokenKind::kString || k == TokenKind::kInteger ||
              k == TokenKind::kFloat || IsOp("[") || IsOp("{")) &&
             !IsName("else") && !IsName("or") && !IsName("and")) {
    if (IsName("is")) return ErrorAt(LocOf(Cur()), "you cannot chain multiple tests with 'is'");
    Arg a;
    STRATA_ASSIGN_OR_RETURN(a.value, ParsePrimary());
    STRATA_ASSIGN_OR_RETURN(a.value, ParsePostfix(std::move(a.value)));
    e->args.push_back(std::move(a));
  }
  e->object = std::move(node);
  return e;
}

}  // namespace strata::server::jinja::parser_internal
