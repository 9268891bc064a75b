#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/unicode.h"
#include "tests/server/tokenizer/test_util.h"

namespace strata::server {
namespace {

using test::Json;
using ::testing::ElementsAre;

const std::string kFffd = "\xEF\xBF\xBD";

std::unique_ptr<Tokenizer> ByteTokenizer() {
  Json j = test::TinyTokenizerJson({});
  j["added_tokens"] = Json::array({test::AddedTokenJson(256, "<eos>", true, false)});
  auto tok = Tokenizer::FromJson(j.dump(), "{}", "test");
  EXPECT_TRUE(tok.ok());
  return std::move(*tok);
}

std::vector<std::string> PushAll(IncrementalDecoder& d, const std::vector<int32_t>& ids) {
  std::vector<std::string> chunks;
  for (int32_t id : ids) chunks.push_back(d.Push(id));
  chunks.push_back(d.Finish());
  return chunks;
}

TEST(IncrementalDecoderTest, HoldsBackSplitCharacters) {
  auto tok = ByteTokenizer();
  IncrementalDecoder d(*tok, false);
  // "é" = C3 A9; "😀" = F0 9F 98 80.
  EXPECT_THAT(PushAll(d, {'a', 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 'b'}),
              ElementsAre("a", "", "\xC3\xA9", "", "", "", "\xF0\x9F\x98\x80", "b", ""));
}

TEST(IncrementalDecoderTest, InvalidBytesBecomeReplacementCharacters) {
  auto tok = ByteTokenizer();
  IncrementalDecoder d(*tok, false);
  EXPECT_THAT(PushAll(d, {0xFF, 0xE2, 'A', 0xE2, 0x82}),
              ElementsAre(kFffd, "", kFffd + "A", "", "", kFffd));
  // F0 80 can never complete: both bytes are replaced as soon as they are seen.
  EXPECT_THAT(PushAll(d, {0xF0, 0x80, 'x'}), ElementsAre("", kFffd + kFffd, "x", ""));
}

TEST(IncrementalDecoderTest, SkipsSpecialTokens) {
  auto tok = ByteTokenizer();
  IncrementalDecoder keep(*tok, false);
  EXPECT_THAT(PushAll(keep, {'h', 'i', 256}), ElementsAre("h", "i", "<eos>", ""));
  IncrementalDecoder skip(*tok, true);
  EXPECT_THAT(PushAll(skip, {'h', 0xC3, 256, 0xA9, 256}),
              ElementsAre("h", "", "", "\xC3\xA9", "", ""));
}

// Concatenated chunks equal Decode(), and each chunk is valid UTF-8.
void CheckStream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip,
                 const std::string& label) {
  IncrementalDecoder d(tok, skip);
  std::string joined;
  for (const std::string& chunk : PushAll(d, ids)) {
    ASSERT_EQ(unicode::Utf8Lossy(chunk), chunk) << label << ": chunk is not valid UTF-8";
    joined += chunk;
  }
  ASSERT_EQ(joined, tok.Decode(ids, skip)) << label;
}

class IncrementalCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(IncrementalCorpusTest, ChunksConcatenateToFullDecode) {
  if (!test::HaveModel(GetParam())) GTEST_SKIP() << "no " << test::ModelDir(GetParam());
  auto tok = Tokenizer::Load(test::ModelDir(GetParam()));
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::vector<std::string> corpus = test::ReadCorpus();
  ASSERT_GE(corpus.size(), 2000u);
  std::mt19937 rng(7);
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::vector<int32_t> ids = (*tok)->Encode(corpus[i]);
    const std::string label = "corpus line " + std::to_string(i + 1);
    CheckStream(**tok, ids, false, label);
    CheckStream(**tok, ids, true, label);
    // Odd sequences: reversed, and with random ids mixed in.
    std::reverse(ids.begin(), ids.end());
    CheckStream(**tok, ids, false, label + " reversed");
    std::uniform_int_distribution<int32_t> any_id(0, (*tok)->vocab_size() - 1);
    for (int k = 0; k < 4; ++k) ids.insert(ids.begin() + rng() % (ids.size() + 1), any_id(rng));
    CheckStream(**tok, ids, false, label + " with random ids");
    CheckStream(**tok, ids, true, label + " with random ids");
  }
}

INSTANTIATE_TEST_SUITE_P(Models, IncrementalCorpusTest, ::testing::Values("qwen3", "llama3"));

}  // namespace
}  // namespace strata::server
