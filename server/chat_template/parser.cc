#include "server/chat_template/parser.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "server/chat_template/builtins.h"
#include "server/chat_template/parser_internal.h"
#include "server/chat_template/scoping.h"

namespace strata::server::jinja {
namespace parser_internal {
namespace {

// Jinja globals the interpreter does not provide; calling them fails at compile time. Other
// unknown functions fail when called, as in Jinja (they may sit in branches never taken).
constexpr std::string_view kUnsupportedFunctions[] = {"cycler", "joiner", "lipsum", "caller"};

constexpr std::string_view kUnsupportedStatements[] = {
    "call", "with", "block", "extends", "include", "import", "from", "autoescape", "do", "trans",
};

}  // namespace

absl::StatusOr<std::unique_ptr<Program>> Parser::Run() {
  auto program = std::make_unique<Program>();
  std::string end;
  STRATA_RETURN_IF_ERROR(ParseBody(&program->body, {}, &end, "", SourceLoc{}));
  for (const auto& [name, loc] : calls_) {
    if (assigned_.contains(name)) continue;
    if (std::find(std::begin(kUnsupportedFunctions), std::end(kUnsupportedFunctions), name) !=
        std::end(kUnsupportedFunctions)) {
      return ErrorAt(loc, absl::StrCat("unsupported function '", name, "'"));
    }
  }
  AnalyzeScopes(program.get());
  return program;
}

// --- statements ---
absl::Status Parser::ParseBody(std::vector<StmtPtr>* body,
                               std::initializer_list<std::string_view> ends, std::string* found_end,
                               std::string_view opener, SourceLoc opener_loc) {
  while (true) {
    const Token& t = Cur();
    switch (t.kind) {
      case TokenKind::kEnd: {
        if (ends.size() == 0) return absl::OkStatus();
        std::vector<std::string> names;
        for (std::string_view e : ends) names.push_back(absl::StrCat("'{% ", Sv(e), " %}'"));
        return ErrorAt(LocOf(t),
                       absl::StrCat("unexpected end of template, expected ",
                                    absl::StrJoin(names, " or "), " to close the '", Sv(opener),
                                    "' at line ", opener_loc.line, ", column ", opener_loc.column));
      }
      case TokenKind::kText: {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kText;
        s->loc = LocOf(t);
        s->text = t.value;
        body->push_back(std::move(s));
        Next();
        break;
      }
      case TokenKind::kVariableBegin: {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kOutput;
        s->loc = LocOf(t);
        Next();
        STRATA_ASSIGN_OR_RETURN(s->expr, ParseTuple(false, true, {}, false));
        if (Cur().kind != TokenKind::kVariableEnd) return Unexpected("end of expression '}}'");
        Next();
        body->push_back(std::move(s));
        break;
      }
      case TokenKind::kBlockBegin: {
        const Token& name = Look();
        if (name.kind != TokenKind::kName) {
          return ErrorAt(LocOf(name),
                         absl::StrCat("expected a statement name, got ", Describe(name)));
        }
        if (std::find(ends.begin(), ends.end(), name.value) != ends.end()) {
          *found_end = name.value;
          Next();
          Next();
          return absl::OkStatus();
        }
        const SourceLoc loc = LocOf(t);
        Next();
        STRATA_RETURN_IF_ERROR(ParseStatement(body, loc));
        break;
      }
      default:
        return ErrorAt(LocOf(t), absl::StrCat("unexpected ", Describe(t)));
    }
  }
}

absl::Status Parser::ParseStatement(std::vector<StmtPtr>* body, SourceLoc loc) {
  const std::string name = Cur().value;
  if (name == "if") {
    Next();
    STRATA_ASSIGN_OR_RETURN(StmtPtr s, ParseIfRest(loc));
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  if (name == "for") return ParseFor(body, loc);
  if (name == "set") return ParseSet(body, loc);
  if (name == "macro") return ParseMacro(body, loc);
  if (name == "break" || name == "continue") {
    if (loop_depth_ == 0) {
      return ErrorAt(LocOf(Cur()), absl::StrCat("'", name, "' outside of a loop"));
    }
    Next();
    STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
    auto s = std::make_unique<Stmt>();
    s->kind = name == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    s->loc = loc;
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  if (name == "generation") {
    Next();
    STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::kScope;
    s->loc = loc;
    std::string end;
    STRATA_RETURN_IF_ERROR(ParseBody(&s->body, {"endgeneration"}, &end, "generation", loc));
    STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  if (name == "filter") {
    Next();
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::kFilterBlock;
    s->loc = loc;
    STRATA_ASSIGN_OR_RETURN(ExprPtr first, ParseFilter(nullptr, /*inline_start=*/true));
    s->filters.push_back(std::move(first));
    while (IsOp("|")) {
      STRATA_ASSIGN_OR_RETURN(ExprPtr f, ParseFilter(nullptr, false));
      s->filters.push_back(std::move(f));
    }
    STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
    std::string end;
    STRATA_RETURN_IF_ERROR(ParseBody(&s->body, {"endfilter"}, &end, "filter", loc));
    STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  const SourceLoc name_loc = LocOf(Cur());
  if (std::find(std::begin(kUnsupportedStatements), std::end(kUnsupportedStatements), name) !=
      std::end(kUnsupportedStatements)) {
    return ErrorAt(name_loc, absl::StrCat("unsupported statement '{% ", name, " %}'"));
  }
  if (name.rfind("end", 0) == 0 || name == "elif" || name == "else") {
    return ErrorAt(name_loc, absl::StrCat("unexpected '{% ", name, " %}'"));
  }
  return ErrorAt(name_loc, absl::StrCat("unknown statement '{% ", name, " %}'"));
}

// After `if` / `elif`: condition, body, and the elif/else chain through endif.
absl::StatusOr<StmtPtr> Parser::ParseIfRest(SourceLoc loc) {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kIf;
  s->loc = loc;
  STRATA_ASSIGN_OR_RETURN(s->expr, ParseTuple(false, false, {}, false));
  STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
  std::string end;
  STRATA_RETURN_IF_ERROR(ParseBody(&s->body, {"elif", "else", "endif"}, &end, "if", loc));
  if (end == "elif") {
    const SourceLoc elif_loc = LocOf(tokens_[pos_ - 1]);
    STRATA_ASSIGN_OR_RETURN(StmtPtr nested, ParseIfRest(elif_loc));
    nested->is_elif = true;
    s->else_body.push_back(std::move(nested));
    return s;
  }
  if (end == "else") {
    STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
    STRATA_RETURN_IF_ERROR(ParseBody(&s->else_body, {"endif"}, &end, "if", loc));
  }
  STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
  return s;
}

absl::Status Parser::ParseFor(std::vector<StmtPtr>* body, SourceLoc loc) {
  Next();
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kFor;
  s->loc = loc;
  STRATA_ASSIGN_OR_RETURN(s->target, ParseTargetList());
  if (!SkipName("in")) return Unexpected("'in'");
  STRATA_ASSIGN_OR_RETURN(s->expr, ParseTuple(false, false, {"recursive"}, false));
  if (SkipName("if")) {
    STRATA_ASSIGN_OR_RETURN(s->loop_filter, ParseCondExpr());
  }
  if (IsName("recursive")) {
    return ErrorAt(LocOf(Cur()), "recursive loops are not supported");
  }
  STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
  std::string end;
  ++loop_depth_;
  absl::Status st = ParseBody(&s->body, {"endfor", "else"}, &end, "for", loc);
  --loop_depth_;
  STRATA_RETURN_IF_ERROR(st);
  if (end == "else") {
    STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
    STRATA_RETURN_IF_ERROR(ParseBody(&s->else_body, {"endfor"}, &end, "for", loc));
  }
  STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

absl::Status Parser::ParseSet(std::vector<StmtPtr>* body, SourceLoc loc) {
  Next();
  auto s = std::make_unique<Stmt>();
  s->loc = loc;
  if (Cur().kind == TokenKind::kName && Look().kind == TokenKind::kOperator &&
      Look().value == ".") {
    s->target.kind = Target::Kind::kNamespaceAttr;
    s->target.loc = LocOf(Cur());
    s->target.name = Cur().value;
    Next();
    Next();
    STRATA_ASSIGN_OR_RETURN(s->target.attr, ExpectName());
  } else {
    STRATA_ASSIGN_OR_RETURN(s->target, ParseTargetList());
  }
  if (SkipOp("=")) {
    s->kind = StmtKind::kSet;
    STRATA_ASSIGN_OR_RETURN(s->expr, ParseTuple(false, true, {}, false));
    STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  s->kind = StmtKind::kSetBlock;
  while (IsOp("|")) {
    STRATA_ASSIGN_OR_RETURN(ExprPtr f, ParseFilter(nullptr, false));
    s->filters.push_back(std::move(f));
  }
  STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
  std::string end;
  STRATA_RETURN_IF_ERROR(ParseBody(&s->body, {"endset"}, &end, "set", loc));
  STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

absl::Status Parser::ParseMacro(std::vector<StmtPtr>* body, SourceLoc loc) {
  Next();
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kMacro;
  s->loc = loc;
  STRATA_ASSIGN_OR_RETURN(s->text, ExpectName());
  assigned_.insert(s->text);
  STRATA_RETURN_IF_ERROR(ExpectOp("("));
  bool seen_default = false;
  while (!IsOp(")")) {
    if (!s->params.empty()) STRATA_RETURN_IF_ERROR(ExpectOp(","));
    MacroParam p;
    const SourceLoc ploc = LocOf(Cur());
    STRATA_ASSIGN_OR_RETURN(p.name, ExpectName());
    if (SkipOp("=")) {
      STRATA_ASSIGN_OR_RETURN(p.default_value, ParseCondExpr());
      seen_default = true;
    } else if (seen_default) {
      return ErrorAt(ploc, "non-default argument follows default argument");
    }
    assigned_.insert(p.name);
    s->params.push_back(std::move(p));
  }
  Next();
  STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
  const int saved_depth = loop_depth_;
  loop_depth_ = 0;
  std::string end;
  absl::Status st = ParseBody(&s->body, {"endmacro"}, &end, "macro", loc);
  loop_depth_ = saved_depth;
  STRATA_RETURN_IF_ERROR(st);
  STRATA_RETURN_IF_ERROR(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

// Assignment targets of for/set: names and (possibly parenthesized) tuples of them.
absl::StatusOr<Target> Parser::ParseTargetPrimary() {
  Target t;
  t.loc = LocOf(Cur());
  if (SkipOp("(")) {
    STRATA_ASSIGN_OR_RETURN(t, ParseTargetList());
    STRATA_RETURN_IF_ERROR(ExpectOp(")"));
    return t;
  }
  if (Cur().kind != TokenKind::kName) return Unexpected("a variable name to assign to");
  static constexpr std::string_view kConstants[] = {"true",  "false", "True",
                                                    "False", "none",  "None"};
  if (std::find(std::begin(kConstants), std::end(kConstants), Cur().value) !=
      std::end(kConstants)) {
    return ErrorAt(t.loc, absl::StrCat("cannot assign to constant '", Cur().value, "'"));
  }
  t.kind = Target::Kind::kName;
  t.name = Cur().value;
  assigned_.insert(t.name);
  Next();
  return t;
}

absl::StatusOr<Target> Parser::ParseTargetList() {
  const SourceLoc loc = LocOf(Cur());
  STRATA_ASSIGN_OR_RETURN(Target first, ParseTargetPrimary());
  if (!IsOp(",")) return first;
  Target tuple;
  tuple.kind = Target::Kind::kTuple;
  tuple.loc = loc;
  tuple.elements.push_back(std::move(first));
  while (SkipOp(",")) {
    if (Cur().kind != TokenKind::kName && !IsOp("(")) break;
    if (IsName("in")) break;
    STRATA_ASSIGN_OR_RETURN(Target next, ParseTargetPrimary());
    tuple.elements.push_back(std::move(next));
  }
  return tuple;
}

}  // namespace parser_internal

absl::StatusOr<std::unique_ptr<Program>> Parse(std::vector<Token> tokens) {
  return parser_internal::Parser(std::move(tokens)).Run();
}

}  // namespace strata::server::jinja
