#include "server/tokenizer/added_tokens.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/tokenizer/tokenizer.h"
#include "tests/server/tokenizer/test_util.h"

namespace strata::server {
namespace {

using test::Json;
using ::testing::ElementsAre;
using ::testing::Pair;
using Segments = std::vector<std::pair<std::string, int>>;

AddedToken Token(int id, std::string content, bool single_word = false, bool lstrip = false,
                 bool rstrip = false) {
  AddedToken t;
  t.id = id;
  t.content = std::move(content);
  t.single_word = single_word;
  t.lstrip = lstrip;
  t.rstrip = rstrip;
  return t;
}

Segments Split(const std::vector<AddedToken>& tokens, std::string_view text) {
  std::vector<std::string> patterns;
  for (const AddedToken& t : tokens) patterns.push_back(t.content);
  const AddedTokenMatcher matcher(patterns, tokens);
  std::vector<TextSegment> segments;
  matcher.Split(text, &segments);
  Segments out;
  for (const TextSegment& s : segments) out.emplace_back(std::string(s.text), s.id);
  return out;
}

TEST(AddedTokenMatcherTest, LeftmostLongest) {
  const std::vector<AddedToken> tokens = {Token(1, "<a>"), Token(2, "<a><b>"), Token(3, "b>")};
  EXPECT_THAT(Split(tokens, "x<a><b>y"),
              ElementsAre(Pair("x", -1), Pair("<a><b>", 2), Pair("y", -1)));
  EXPECT_THAT(Split(tokens, "<a><a>"), ElementsAre(Pair("<a>", 1), Pair("<a>", 1)));
  EXPECT_THAT(Split(tokens, "<ab>"), ElementsAre(Pair("<a", -1), Pair("b>", 3)));
  EXPECT_THAT(Split(tokens, "plain"), ElementsAre(Pair("plain", -1)));
  EXPECT_THAT(Split(tokens, ""), ElementsAre(Pair("", -1)));
}

TEST(AddedTokenMatcherTest, SingleWord) {
  // Cases from the reference implementation's own tests.
  const std::vector<AddedToken> mask = {Token(0, "<mask>", /*single_word=*/true)};
  EXPECT_THAT(Split(mask, "<mask> My name <mask> A<mask> <mask>ony <mask>"),
              ElementsAre(Pair("<mask>", 0), Pair(" My name ", -1), Pair("<mask>", 0),
                          Pair(" A<mask> <mask>ony ", -1), Pair("<mask>", 0)));
  // Punctuation is not a word character; a combining mark (U+0330) is.
  EXPECT_THAT(Split(mask, "<mask>, <mask>- \xE2\x97\x8C\xCC\xB0<mask>"),
              ElementsAre(Pair("<mask>", 0), Pair(", ", -1), Pair("<mask>", 0),
                          Pair("- \xE2\x97\x8C\xCC\xB0<mask>", -1)));
  const std::vector<AddedToken> ony = {Token(5, "ony", true)};
  EXPECT_THAT(Split(ony, "Anthony ony"), ElementsAre(Pair("Anthony ", -1), Pair("ony", 5)));
}

TEST(AddedTokenMatcherTest, StripWhiteSpace) {
  const std::vector<AddedToken> mask = {Token(0, "<mask>", true, /*lstrip=*/true, /*rstrip=*/true)};
  EXPECT_THAT(Split(mask, "Hi <mask> there\t<mask>\t<mask>\xE2\x80\x80"),
              ElementsAre(Pair("Hi", -1), Pair(" <mask> ", 0), Pair("there", -1),
                          Pair("\t<mask>\t", 0), Pair("<mask>\xE2\x80\x80", 0)));
  const std::vector<AddedToken> left = {Token(7, "[X]", false, /*lstrip=*/true, false)};
  EXPECT_THAT(Split(left, "a \n [X] b"),
              ElementsAre(Pair("a", -1), Pair(" \n [X]", 7), Pair(" b", -1)));
  const std::vector<AddedToken> right = {Token(8, "[X]", false, false, /*rstrip=*/true)};
  EXPECT_THAT(Split(right, "a [X] \u3000b"),
              ElementsAre(Pair("a ", -1), Pair("[X] \u3000", 8), Pair("b", -1)));
}

// Through Tokenizer: normalized vs raw matching, special flags in decoding.
class AddedTokensInTokenizerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Tokenizer> Make(const Json& added, bool nfc) {
    Json j = test::TinyTokenizerJson({{"a", "b"}});
    j["added_tokens"] = added;
    if (nfc) j["normalizer"] = {{"type", "NFC"}};
    auto tok = Tokenizer::FromJson(j.dump(), "{}", "test");
    EXPECT_TRUE(tok.ok()) << tok.status();
    return std::move(*tok);
  }
};

TEST_F(AddedTokensInTokenizerTest, NormalizedTokensMatchNormalizedText) {
  // "é" precomposed; the input spells it decomposed.
  const std::string decomposed = "xe\xCC\x81y";
  auto normalized = Make(Json::array({test::AddedTokenJson(300, "\xC3\xA9", false, true)}), true);
  EXPECT_THAT(normalized->Encode(decomposed), ElementsAre('x', 300, 'y'));
  auto raw = Make(Json::array({test::AddedTokenJson(300, "\xC3\xA9", false, false)}), true);
  const std::vector<int32_t> ids = raw->Encode(decomposed);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 300), 0);
  EXPECT_THAT(raw->Encode("x\xC3\xA9y"), ElementsAre('x', 300, 'y'));
  // Raw tokens match before normalization: a decomposed token content matches as written.
  auto raw_decomposed =
      Make(Json::array({test::AddedTokenJson(301, "e\xCC\x81", false, false)}), true);
  EXPECT_THAT(raw_decomposed->Encode(decomposed), ElementsAre('x', 301, 'y'));
}

TEST_F(AddedTokensInTokenizerTest, SpecialFlagControlsSkipping) {
  auto tok = Make(Json::array({test::AddedTokenJson(300, "<s>", true, false),
                               test::AddedTokenJson(301, "<tool>", false, false)}),
                  false);
  const std::vector<int32_t> ids = tok->Encode("<s>hi<tool>");
  EXPECT_THAT(ids, ElementsAre(300, 'h', 'i', 301));
  EXPECT_EQ(tok->Decode(ids, false), "<s>hi<tool>");
  EXPECT_EQ(tok->Decode(ids, true), "hi<tool>");
  EXPECT_TRUE(tok->IsSpecial(300));
  EXPECT_FALSE(tok->IsSpecial(301));
  EXPECT_FALSE(tok->IsSpecial('h'));
  EXPECT_EQ(tok->TokenToId("<tool>"), 301);
  EXPECT_EQ(tok->IdToToken(300), "<s>");
  EXPECT_EQ(tok->vocab_size(), 302);
}

}  // namespace
}  // namespace strata::server
