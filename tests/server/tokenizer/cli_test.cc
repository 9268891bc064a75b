// Runs the strata-tokenizer binary end to end.
#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/tokenizer/tokenizer.h"
#include "tests/server/tokenizer/test_util.h"

namespace strata::server {
namespace {

using test::Json;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};

RunResult RunCli(const std::string& args, const std::string& input) {
  const std::string dir = test::MakeTempDir();
  test::WriteFile(dir + "/in", input);
  const std::string command = "'" + test::BinaryDir() + "/bin/strata-tokenizer' " + args + " < '" +
                              dir + "/in' > '" + dir + "/out' 2> '" + dir + "/err'";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, test::ReadFile(dir + "/out"),
          test::ReadFile(dir + "/err")};
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::HaveModel("qwen3")) GTEST_SKIP() << "no " << test::ModelDir("qwen3");
    dir_ = "--tokenizer '" + test::ModelDir("qwen3") + "' ";
  }
  std::string dir_;
};

TEST_F(CliTest, EncodeMatchesLibraryAndDecodeInverts) {
  auto tok = Tokenizer::Load(test::ModelDir("qwen3"));
  ASSERT_TRUE(tok.ok());
  const std::vector<std::string> lines = test::ReadLines(test::FixtureDir() + "/corpus.jsonl");
  std::string input, expected, ids_text;
  for (size_t i = 0; i < 300 && i < lines.size(); ++i) {
    input += lines[i] + "\n";
    const std::string text = Json::parse(lines[i]).get<std::string>();
    const std::vector<int32_t> ids = (*tok)->Encode(text);
    expected += Json(ids).dump() + "\n";
    ids_text += Json(ids).dump() + "\n";
  }
  const RunResult encoded = RunCli(dir_ + "encode", input);
  ASSERT_EQ(encoded.exit_code, 0) << encoded.err;
  EXPECT_EQ(encoded.out, expected);

  const RunResult decoded = RunCli(dir_ + "decode", ids_text);
  ASSERT_EQ(decoded.exit_code, 0) << decoded.err;
  const std::vector<std::string> texts = [&] {
    std::vector<std::string> v;
    size_t pos = 0;
    while (pos < decoded.out.size()) {
      const size_t end = decoded.out.find('\n', pos);
      v.push_back(Json::parse(decoded.out.substr(pos, end - pos)).get<std::string>());
      pos = end + 1;
    }
    return v;
  }();
  ASSERT_EQ(texts.size(), 300u);
  EXPECT_EQ(texts[0], "");
  EXPECT_EQ(texts[15], "Hello, world!");
}

TEST_F(CliTest, SkipSpecialTokens) {
  const RunResult kept = RunCli(dir_ + "decode", "[151644, 872, 198, 151645]\n");
  EXPECT_EQ(kept.exit_code, 0);
  EXPECT_EQ(kept.out, "\"<|im_start|>user\\n<|im_end|>\"\n");
  const RunResult skipped =
      RunCli(dir_ + "decode --skip-special-tokens", "[151644, 872, 198, 151645]\n");
  EXPECT_EQ(skipped.out, "\"user\\n\"\n");
}

TEST_F(CliTest, BadLinesNameTheLineAndExitOne) {
  const RunResult encode = RunCli(dir_ + "encode", "\"ok\"\n\"fine\"\n[1, 2]\n\"never\"\n");
  EXPECT_EQ(encode.exit_code, 1);
  EXPECT_THAT(encode.err, HasSubstr("line 3"));
  EXPECT_EQ(encode.out, "[562]\n[62057]\n");

  const RunResult not_json = RunCli(dir_ + "decode", "[1]\n{oops\n");
  EXPECT_EQ(not_json.exit_code, 1);
  EXPECT_THAT(not_json.err, HasSubstr("line 2"));
  const RunResult bad_id = RunCli(dir_ + "decode", "[1, -3]\n");
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_THAT(bad_id.err, HasSubstr("line 1"));
  const RunResult too_big = RunCli(dir_ + "decode", "[999999999]\n");
  EXPECT_EQ(too_big.exit_code, 1);
}

TEST_F(CliTest, UsageErrors) {
  EXPECT_EQ(RunCli("encode", "").exit_code, 2);                 // no --tokenizer
  EXPECT_EQ(RunCli(dir_ + "chant", "").exit_code, 2);           // unknown command
  EXPECT_EQ(RunCli(dir_ + "encode --bogus", "").exit_code, 2);  // unknown flag
  const RunResult missing = RunCli("--tokenizer /nonexistent encode", "\"x\"\n");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("not found"));
}

}  // namespace
}  // namespace strata::server
