#include "server/tokenizer/bpe_model.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/tokenizer/byte_level.h"
#include "tests/server/tokenizer/test_util.h"

namespace strata::server {
namespace {

using test::Json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ByteLevelTest, MappingIsTheGpt2Alphabet) {
  EXPECT_EQ(byte_level::ByteToCodePoint('a'), static_cast<uint32_t>('a'));
  EXPECT_EQ(byte_level::ByteToCodePoint('!'), static_cast<uint32_t>('!'));
  EXPECT_EQ(byte_level::ByteToCodePoint(' '), 0x120u);   // Ġ
  EXPECT_EQ(byte_level::ByteToCodePoint('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(byte_level::ByteToCodePoint(0), 0x100u);
  EXPECT_EQ(byte_level::ByteToCodePoint(0x7F), 0x121u);
  EXPECT_EQ(byte_level::ByteToCodePoint(0xAD), 0x143u);  // soft hyphen is not printable
  EXPECT_EQ(byte_level::ByteToCodePoint(0xE9), 0xE9u);
  std::set<uint32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = byte_level::ByteToCodePoint(static_cast<uint8_t>(b));
    seen.insert(cp);
    EXPECT_EQ(byte_level::CodePointToByte(cp), b);
  }
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(byte_level::CodePointToByte(0x4E2D), -1);
}

TEST(ByteLevelTest, EncodeDecodeStrings) {
  EXPECT_EQ(byte_level::Encode(" hi\n"), "\xC4\xA0hi\xC4\x8A");   // "Ġhi" "Ċ"
  EXPECT_EQ(byte_level::Encode("\xC3\xA9"), "\xC3\x83\xC2\xA9");  // é -> "Ã©"
  EXPECT_EQ(byte_level::Decode("\xC4\xA0hi\xC4\x8A"), " hi\n");
  EXPECT_EQ(byte_level::Decode("\xC3\x83\xC2\xA9"), "\xC3\xA9");
  EXPECT_EQ(byte_level::Decode("<|im_start|>"), "<|im_start|>");
  EXPECT_EQ(byte_level::Decode("\xE4\xB8\xAD"), std::nullopt);  // 中 is not in the alphabet
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(byte_level::Decode(byte_level::Encode(all)), all);
}

std::unique_ptr<BpeModel> MakeModel(const std::vector<std::pair<std::string, std::string>>& merges,
                                    bool array_merges = false, bool ignore_merges = false,
                                    const std::vector<std::string>& extra_vocab = {}) {
  Json model = test::TinyTokenizerJson(merges, array_merges)["model"];
  model["ignore_merges"] = ignore_merges;
  int next = static_cast<int>(model["vocab"].size());
  for (const std::string& token : extra_vocab) model["vocab"][byte_level::Encode(token)] = next++;
  auto bpe = BpeModel::FromJson(model);
  EXPECT_TRUE(bpe.ok()) << bpe.status();
  return std::move(*bpe);
}

// The byte-level spelling of each id, decoded to raw bytes.
std::vector<std::string> Tokens(const BpeModel& bpe, std::string_view word) {
  std::vector<int32_t> ids;
  bpe.EncodeWord(word, &ids);
  std::vector<std::string> tokens;
  for (int32_t id : ids) {
    for (const auto& [token, token_id] : bpe.vocab()) {
      if (token_id == id) tokens.push_back(*byte_level::Decode(token));
    }
  }
  return tokens;
}

TEST(BpeModelTest, MergesApplyByRank) {
  auto bpe = MakeModel({{"a", "b"}, {"b", "c"}, {"ab", "c"}});
  EXPECT_THAT(Tokens(*bpe, "abc"), ElementsAre("abc"));
  auto other = MakeModel({{"b", "c"}, {"a", "b"}, {"a", "bc"}});
  EXPECT_THAT(Tokens(*other, "abc"), ElementsAre("abc"));
  // Rank decides, not position: "b c" outranks "a b", and "ab c" is never reachable.
  auto blocked = MakeModel({{"b", "c"}, {"a", "b"}, {"ab", "c"}});
  EXPECT_THAT(Tokens(*blocked, "abc"), ElementsAre("a", "bc"));
  EXPECT_THAT(Tokens(*blocked, "xabcx"), ElementsAre("x", "a", "bc", "x"));
}

TEST(BpeModelTest, EqualRanksMergeLeftmostFirst) {
  auto bpe = MakeModel({{"a", "a"}});
  EXPECT_THAT(Tokens(*bpe, "aaa"), ElementsAre("aa", "a"));
  EXPECT_THAT(Tokens(*bpe, "aaaa"), ElementsAre("aa", "aa"));
  auto deeper = MakeModel({{"a", "a"}, {"aa", "aa"}});
  EXPECT_THAT(Tokens(*deeper, "aaaaa"), ElementsAre("aaaa", "a"));
}

TEST(BpeModelTest, StringAndArrayMergesAgree) {
  const std::vector<std::pair<std::string, std::string>> merges = {
      {" ", "t"}, {"h", "e"}, {" t", "he"}, {"\xC3", "\xA9"}, {"\n", "\n"}};
  auto strings = MakeModel(merges, /*array_merges=*/false);
  auto arrays = MakeModel(merges, /*array_merges=*/true);
  for (std::string word : {" the", "the", "\xC3\xA9t\xC3\xA9", "\n\n\n", "x"}) {
    std::vector<int32_t> a, b;
    strings->EncodeWord(word, &a);
    arrays->EncodeWord(word, &b);
    EXPECT_EQ(a, b) << word;
  }
  EXPECT_THAT(Tokens(*strings, " the"), ElementsAre(" the"));
  EXPECT_THAT(Tokens(*strings, "\xC3\xA9"), ElementsAre("\xC3\xA9"));
}

TEST(BpeModelTest, IgnoreMergesTakesWholeWordFromVocab) {
  auto merging = MakeModel({{"x", "y"}}, false, /*ignore_merges=*/false, {"xyz"});
  EXPECT_THAT(Tokens(*merging, "xyz"), ElementsAre("xy", "z"));
  auto ignoring = MakeModel({{"x", "y"}}, false, /*ignore_merges=*/true, {"xyz"});
  EXPECT_THAT(Tokens(*ignoring, "xyz"), ElementsAre("xyz"));
  EXPECT_THAT(Tokens(*ignoring, "xyzz"), ElementsAre("xy", "z", "z"));
}

TEST(BpeModelTest, CacheDoesNotChangeResults) {
  auto bpe = MakeModel({{"a", "b"}, {"ab", "ab"}, {"c", "d"}});
  std::vector<int32_t> first, second;
  for (int i = 0; i < 20000; ++i) {  // more words than the cache holds
    const std::string word = "abab" + std::to_string(i) + "cd";
    first.clear();
    second.clear();
    bpe->EncodeWord(word, &first);
    bpe->EncodeWord(word, &second);
    ASSERT_EQ(first, second) << word;
  }
}

TEST(BpeModelTest, RejectsBadModels) {
  Json model = test::TinyTokenizerJson({{"a", "b"}})["model"];
  {
    Json m = model;
    m["merges"].push_back("a zz");
    const auto bpe = BpeModel::FromJson(m);
    ASSERT_FALSE(bpe.ok());
    EXPECT_THAT(bpe.status().message(), HasSubstr("unknown tokens"));
  }
  {
    Json m = model;
    m["merges"].push_back("a b c");
    EXPECT_FALSE(BpeModel::FromJson(m).ok());
  }
  {
    Json m = model;
    m["merges"].push_back(Json::array({"a"}));
    EXPECT_FALSE(BpeModel::FromJson(m).ok());
  }
  {
    Json m = model;
    m["dropout"] = 0.1;
    EXPECT_THAT(BpeModel::FromJson(m).status().message(), HasSubstr("dropout"));
  }
  {
    Json m = model;
    m["byte_fallback"] = true;
    EXPECT_THAT(BpeModel::FromJson(m).status().message(), HasSubstr("byte_fallback"));
  }
  {
    Json m = model;
    m["type"] = "WordPiece";
    EXPECT_THAT(BpeModel::FromJson(m).status().message(), HasSubstr("WordPiece"));
  }
  {
    Json m = model;
    m.erase("vocab");
    EXPECT_FALSE(BpeModel::FromJson(m).ok());
  }
}

}  // namespace
}  // namespace strata::server
