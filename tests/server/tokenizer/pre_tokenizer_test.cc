#include "server/tokenizer/pre_tokenizer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Pieces = std::vector<std::string>;

Pieces Split(const PreTokenizer& p, std::string_view text) {
  std::vector<std::string_view> views;
  p.Split(text, &views);
  std::string joined;
  Pieces pieces;
  for (std::string_view v : views) {
    pieces.emplace_back(v);
    joined += v;
  }
  EXPECT_EQ(joined, text) << "pieces must cover the text";
  return pieces;
}

class PreTokenizerTest : public ::testing::Test {
 protected:
  PreTokenizer llama_ = *PreTokenizer::FromRegex(PreTokenizer::kLlama3Pattern);
  PreTokenizer qwen_ = *PreTokenizer::FromRegex(PreTokenizer::kQwen2Pattern);
};

TEST_F(PreTokenizerTest, WordsAndSpaces) {
  EXPECT_THAT(Split(llama_, "Hello world"), ElementsAre("Hello", " world"));
  EXPECT_THAT(Split(llama_, "a  b"), ElementsAre("a", " ", " b"));
  EXPECT_THAT(Split(llama_, "a\t\tb"), ElementsAre("a", "\t", "\tb"));
  EXPECT_THAT(Split(llama_, "trailing   "), ElementsAre("trailing", "   "));
  EXPECT_THAT(Split(llama_, "   leading"), ElementsAre("  ", " leading"));
  EXPECT_THAT(Split(llama_, "(hello"), ElementsAre("(hello"));
  EXPECT_THAT(Split(llama_, ""), ElementsAre());
}

TEST_F(PreTokenizerTest, Newlines) {
  EXPECT_THAT(Split(llama_, "  \n\n  a"), ElementsAre("  \n\n", " ", " a"));
  EXPECT_THAT(Split(llama_, "\nhello"), ElementsAre("\n", "hello"));
  EXPECT_THAT(Split(llama_, "a\r\n\r\nb"), ElementsAre("a", "\r\n\r\n", "b"));
  EXPECT_THAT(Split(llama_, "a \n b"), ElementsAre("a", " \n", " b"));
  EXPECT_THAT(Split(llama_, "x!!\n\ny"), ElementsAre("x", "!!\n\n", "y"));
  EXPECT_THAT(Split(llama_, "a\n \n"), ElementsAre("a", "\n \n"));
}

TEST_F(PreTokenizerTest, Contractions) {
  EXPECT_THAT(Split(llama_, "I'M here"), ElementsAre("I", "'M", " here"));
  EXPECT_THAT(Split(llama_, "don'T"), ElementsAre("don", "'T"));
  EXPECT_THAT(Split(llama_, "You'Ll"), ElementsAre("You", "'Ll"));
  EXPECT_THAT(Split(llama_, "'re'"), ElementsAre("'re", "'"));
  EXPECT_THAT(Split(llama_, "'sx"), ElementsAre("'s", "x"));
  EXPECT_THAT(Split(llama_, "'rx"), ElementsAre("'rx"));  // not a contraction: ' + letters
  EXPECT_THAT(Split(llama_, " 'S"), ElementsAre(" '", "S"));
  // U+017F LATIN SMALL LETTER LONG S case-folds to 's'.
  EXPECT_THAT(Split(llama_, "'\xC5\xBFx"), ElementsAre("'\xC5\xBF", "x"));
}

TEST_F(PreTokenizerTest, Digits) {
  EXPECT_THAT(Split(llama_, "12345"), ElementsAre("123", "45"));
  EXPECT_THAT(Split(qwen_, "12345"), ElementsAre("1", "2", "3", "4", "5"));
  EXPECT_THAT(Split(llama_, "3.14"), ElementsAre("3", ".", "14"));
  EXPECT_THAT(Split(llama_, "x 123"), ElementsAre("x", " ", "123"));
  // Arabic-Indic digits are \p{N}; ½ (No) too.
  EXPECT_THAT(Split(llama_, "\xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4"),
              ElementsAre("\xD9\xA1\xD9\xA2\xD9\xA3", "\xD9\xA4"));
  EXPECT_THAT(Split(qwen_, "a\xC2\xBD"), ElementsAre("a", "\xC2\xBD"));
}

TEST_F(PreTokenizerTest, PunctuationAndMarks) {
  EXPECT_THAT(Split(llama_, " !?"), ElementsAre(" !?"));
  EXPECT_THAT(Split(llama_, "a, b."), ElementsAre("a", ",", " b", "."));
  // A combining mark is neither letter nor number: it prefixes the next letters.
  EXPECT_THAT(Split(llama_, "e\xCC\x81x"), ElementsAre("e", "\xCC\x81x"));
  EXPECT_THAT(Split(llama_, "\xCC\x81\xCC\x81"), ElementsAre("\xCC\x81\xCC\x81"));
}

TEST_F(PreTokenizerTest, UnicodeWhiteSpace) {
  // U+0085 is \s for the Rust reference (not for JavaScript).
  EXPECT_THAT(Split(llama_,
                    "a\xC2\x85\xC2\x85"
                    "b"),
              ElementsAre("a", "\xC2\x85",
                          "\xC2\x85"
                          "b"));
  EXPECT_THAT(Split(llama_, "a \xC2\x85"), ElementsAre("a", " \xC2\x85"));
  // U+FEFF is not white space for the Rust reference: it is punctuation-like.
  EXPECT_THAT(Split(llama_, "1 \xEF\xBB\xBF."), ElementsAre("1", " \xEF\xBB\xBF."));
  // U+3000 ideographic space.
  EXPECT_THAT(Split(llama_,
                    "a\xE3\x80\x80\xE3\x80\x80"
                    "b"),
              ElementsAre("a", "\xE3\x80\x80",
                          "\xE3\x80\x80"
                          "b"));
}

TEST_F(PreTokenizerTest, InvalidBytesAreOtherCharacters) {
  EXPECT_THAT(Split(llama_,
                    "a\xFF"
                    "b"),
              ElementsAre("a",
                          "\xFF"
                          "b"));
  EXPECT_THAT(Split(llama_, "\xE2\x82 x"), ElementsAre("\xE2\x82", " x"));
}

TEST_F(PreTokenizerTest, UnsupportedPattern) {
  const auto gpt2 = PreTokenizer::FromRegex(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  ASSERT_FALSE(gpt2.ok());
  EXPECT_EQ(gpt2.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(gpt2.status().message(), HasSubstr("unsupported pre-tokenizer split regex"));
}

}  // namespace
}  // namespace strata::server
