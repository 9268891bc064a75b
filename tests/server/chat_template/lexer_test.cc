// Tokenizer: token kinds, locations and the whitespace rules of transformers' Jinja setup.
#include "server/chat_template/lexer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::server::jinja {
namespace {

std::vector<Token> Lex(const std::string& source) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(source);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.ok() ? *tokens : std::vector<Token>{};
}

TEST(ChatTemplateLexerTest, TokenKindsAndLocations) {
  std::vector<Token> t = Lex("hi\n  {{ x.y[0] | f('s', 1.5) }}");
  ASSERT_EQ(t.size(), 17u);
  EXPECT_EQ(t[0].kind, TokenKind::kText);
  EXPECT_EQ(t[0].value, "hi\n  ");
  EXPECT_EQ(t[1].kind, TokenKind::kVariableBegin);
  EXPECT_EQ(t[1].line, 2);
  EXPECT_EQ(t[1].column, 3);
  EXPECT_EQ(t[2].kind, TokenKind::kName);
  EXPECT_EQ(t[2].value, "x");
  EXPECT_EQ(t[2].column, 6);
  EXPECT_EQ(t[5].kind, TokenKind::kOperator);
  EXPECT_EQ(t[5].value, "[");
  EXPECT_EQ(t[6].kind, TokenKind::kInteger);
  EXPECT_EQ(t[6].int_value, 0);
  EXPECT_EQ(t[11].kind, TokenKind::kString);
  EXPECT_EQ(t[11].value, "s");
  EXPECT_EQ(t[13].kind, TokenKind::kFloat);
  EXPECT_DOUBLE_EQ(t[13].float_value, 1.5);
  EXPECT_EQ(t[15].kind, TokenKind::kVariableEnd);
  EXPECT_EQ(t[16].kind, TokenKind::kEnd);
}

TEST(ChatTemplateLexerTest, ColumnsCountCodePoints) {
  std::vector<Token> t = Lex("héllo {{ x }}");
  ASSERT_GE(t.size(), 3u);
  EXPECT_EQ(t[1].column, 7);
}

TEST(ChatTemplateLexerTest, TrimBlocksAndLstripBlocks) {
  // lstrip_blocks removes the indentation before a block tag, trim_blocks the newline after.
  std::vector<Token> t = Lex("a\n    {% if x %}\nb");
  ASSERT_EQ(t.size(), 7u);
  EXPECT_EQ(t[0].value, "a\n");
  EXPECT_EQ(t[5].kind, TokenKind::kText);
  EXPECT_EQ(t[5].value, "b");
}

TEST(ChatTemplateLexerTest, WhitespaceControlMarkers) {
  std::vector<Token> t = Lex("a \n {{- x -}} \n b");
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t[0].value, "a");
  EXPECT_EQ(t[4].value, "b");
  // `+` keeps the indentation that lstrip_blocks would remove.
  t = Lex("  {%+ if x %}");
  EXPECT_EQ(t[0].value, "  ");
}

TEST(ChatTemplateLexerTest, BracesInsideExpressionsDoNotEndTheTag) {
  std::vector<Token> t = Lex("{{ {'a': {'b': 1}} }}");
  ASSERT_EQ(t.back().kind, TokenKind::kEnd);
  EXPECT_EQ(t[t.size() - 2].kind, TokenKind::kVariableEnd);
}

TEST(ChatTemplateLexerTest, StringEscapes) {
  std::vector<Token> t = Lex(R"({{ 'a\n\t\\\'\u00e9\x41\101' "d\"q" }})");
  EXPECT_EQ(t[1].value,
            "a\n\t\\'\xc3\xa9"
            "AA");
  EXPECT_EQ(t[2].value, "d\"q");
}

TEST(ChatTemplateLexerTest, CommentsAndRawBlocks) {
  std::vector<Token> t = Lex("x{# note #}y{% raw %}{{ z }}{% endraw %}");
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].value, "x");
  EXPECT_EQ(t[1].value, "y");
  EXPECT_EQ(t[2].value, "{{ z }}");
}

TEST(ChatTemplateLexerTest, ErrorsNameLineAndColumn) {
  absl::StatusOr<std::vector<Token>> t = Tokenize("ok\n{{ x @ y }}");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), ::testing::HasSubstr("line 2, column 6"));
}

}  // namespace
}  // namespace strata::server::jinja
