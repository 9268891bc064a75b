// The parser's class, shared by parser.cc (statements) and parser_expressions.cc
// (expressions). Internal to the chat-template interpreter; use Parse() from parser.h.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/chat_template/ast.h"
#include "server/chat_template/lexer.h"

namespace strata::server::jinja::parser_internal {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<std::unique_ptr<Program>> Run();

 private:
  // --- token helpers ---
  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  void Next() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  static SourceLoc LocOf(const Token& t) { return SourceLoc{t.line, t.column}; }
  bool IsOp(std::string_view op) const {
    return Cur().kind == TokenKind::kOperator && Cur().value == op;
  }
  bool IsName(std::string_view n) const {
    return Cur().kind == TokenKind::kName && Cur().value == n;
  }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(std::string_view n) {
    if (!IsName(n)) return false;
    Next();
    return true;
  }

  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kEnd:
        return "end of template";
      case TokenKind::kText:
        return "template data";
      case TokenKind::kVariableBegin:
        return "'{{'";
      case TokenKind::kVariableEnd:
        return "'}}'";
      case TokenKind::kBlockBegin:
        return "'{%'";
      case TokenKind::kBlockEnd:
        return "'%}'";
      case TokenKind::kString:
        return "string literal";
      default:
        return absl::StrCat("'", t.value, "'");
    }
  }

  absl::Status ErrorAt(SourceLoc loc, std::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat("chat template syntax error at line ", loc.line,
                                                   ", column ", loc.column, ": ", Sv(message)));
  }
  absl::Status Unexpected(std::string_view expected) const {
    return ErrorAt(LocOf(Cur()),
                   absl::StrCat("expected ", Sv(expected), ", got ", Describe(Cur())));
  }
  absl::Status ExpectOp(std::string_view op) {
    if (!SkipOp(op)) return Unexpected(absl::StrCat("'", Sv(op), "'"));
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Cur().kind != TokenKind::kBlockEnd) return Unexpected("end of statement '%}'");
    Next();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Cur().kind != TokenKind::kName) return Unexpected("a name");
    std::string n = Cur().value;
    Next();
    return n;
  }

  static ExprPtr MakeExpr(ExprKind kind, SourceLoc loc) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->loc = loc;
    return e;
  }

  // --- statements (parser.cc) ---
  // --- statements ---
  absl::Status ParseBody(std::vector<StmtPtr>* body, std::initializer_list<std::string_view> ends,
                         std::string* found_end, std::string_view opener, SourceLoc opener_loc);
  absl::Status ParseStatement(std::vector<StmtPtr>* body, SourceLoc loc);
  // After `if` / `elif`: condition, body, and the elif/else chain through endif.
  absl::StatusOr<StmtPtr> ParseIfRest(SourceLoc loc);
  absl::Status ParseFor(std::vector<StmtPtr>* body, SourceLoc loc);
  absl::Status ParseSet(std::vector<StmtPtr>* body, SourceLoc loc);
  absl::Status ParseMacro(std::vector<StmtPtr>* body, SourceLoc loc);
  // Assignment targets of for/set: names and (possibly parenthesized) tuples of them.
  absl::StatusOr<Target> ParseTargetPrimary();
  absl::StatusOr<Target> ParseTargetList();

  // --- expressions (parser_expressions.cc) ---
  // --- expressions ---
  bool IsTupleEnd(std::initializer_list<std::string_view> extra_end) const;
  absl::StatusOr<ExprPtr> ParseTuple(bool simplified, bool with_condexpr,
                                     std::initializer_list<std::string_view> extra_end,
                                     bool explicit_parens);
  absl::StatusOr<ExprPtr> ParseCondExpr();
  absl::StatusOr<ExprPtr> ParseOr();
  absl::StatusOr<ExprPtr> ParseAnd();
  absl::StatusOr<ExprPtr> ParseNot();
  absl::StatusOr<ExprPtr> ParseCompare();
  absl::StatusOr<ExprPtr> Binary(BinaryOp op, ExprPtr left, ExprPtr right, SourceLoc loc);
  absl::StatusOr<ExprPtr> ParseMath1();
  absl::StatusOr<ExprPtr> ParseConcat();
  absl::StatusOr<ExprPtr> ParseMath2();
  absl::StatusOr<ExprPtr> ParsePow();
  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter);
  absl::StatusOr<ExprPtr> ParsePrimary();
  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseSubscribed();
  absl::Status ParseCallArgs(std::vector<Arg>* args);
  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee);
  absl::StatusOr<std::string> ParseDottedName();
  // Literal test/filter names given to select(), selectattr(), map() & co. are checked now.
  absl::Status CheckNamedArgument(const Expr& f);
  // `| name(args)`; with inline_start the name comes first ({% filter name %}).
  absl::StatusOr<ExprPtr> ParseFilter(ExprPtr node, bool inline_start);
  absl::StatusOr<ExprPtr> ParseTest(ExprPtr node);

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int loop_depth_ = 0;
  absl::flat_hash_set<std::string> assigned_;
  std::vector<std::pair<std::string, SourceLoc>> calls_;
};

}  // namespace strata::server::jinja::parser_internal
