// stratad as a user runs it: the real binary, a real config file, a `tiny` model made by
// strata-mkmodel (real Qwen3 tokenizer), and --prompt for a one-shot completion.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

struct Outcome {
  int exit_code;
  std::string output;  // stdout and stderr
};

Outcome RunCommand(const std::string& command) {
  Outcome outcome{-1, ""};
  FILE* pipe = popen(("(" + command + ") 2>&1").c_str(), "r");
  if (pipe == nullptr) return outcome;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    outcome.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

class StratadCliTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* bin = std::getenv("STRATA_BINARY_DIR");
    bin_ = new std::string(std::string(bin ? bin : "build") + "/bin");
    model_ = new std::string(std::filesystem::temp_directory_path() /
                             ("strata-cli-" + std::to_string(getpid())));
    Outcome made =
        RunCommand(*bin_ + "/strata-mkmodel --shape tiny --seed 1 --force --out " + *model_);
    ASSERT_EQ(made.exit_code, 0) << made.output;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(*model_); }

  static std::string Stratad(const std::string& args) {
    return *bin_ + "/stratad --config config/cpu-demo.yaml --set model.path=" + *model_ + " " +
           args;
  }
  static std::string* bin_;
  static std::string* model_;
};
std::string* StratadCliTest::bin_ = nullptr;
std::string* StratadCliTest::model_ = nullptr;

TEST_F(StratadCliTest, PromptPrintsADeterministicGreedyCompletion) {
  Outcome a =
      RunCommand(Stratad("--prompt 'The capital of France is' --max-tokens 12 2>/dev/null"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_FALSE(a.output.empty());
  Outcome b =
      RunCommand(Stratad("--prompt 'The capital of France is' --max-tokens 12 2>/dev/null"));
  EXPECT_EQ(a.output, b.output);
  Outcome usage =
      RunCommand(Stratad("--prompt 'The capital of France is' --max-tokens 12 >/dev/null"));
  EXPECT_NE(usage.output.find("12 completion tokens, finish_reason length"), std::string::npos)
      << usage.output;
}

TEST_F(StratadCliTest, SeededSamplingIsReproducible) {
  const std::string args = "--prompt 'Tell me' --max-tokens 16 --temperature 1 --seed 7";
  Outcome a = RunCommand(Stratad(args)), b = RunCommand(Stratad(args));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(a.output, b.output);
}

TEST_F(StratadCliTest, ConfigErrorsNameTheKey) {
  Outcome bad = RunCommand(Stratad("--set cache.block_size=12 --prompt hi"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("cache.block_size: must be a power of two in [8, 256], got 12"),
            std::string::npos)
      << bad.output;
  Outcome typo = RunCommand(Stratad("--set cache.blok_size=16 --prompt hi"));
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_NE(typo.output.find("cache.block_size"), std::string::npos) << typo.output;
  Outcome flag = RunCommand(Stratad("--bogus"));
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.output.find("unknown argument '--bogus'"), std::string::npos) << flag.output;
}

TEST_F(StratadCliTest, MissingModelIsAClearError) {
  Outcome missing = RunCommand(*bin_ +
                               "/stratad --config config/cpu-demo.yaml --set "
                               "model.path=/nonexistent/model --prompt hi");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/model"), std::string::npos) << missing.output;
}

TEST_F(StratadCliTest, PrintConfigShowsOverrides) {
  Outcome printed = RunCommand(Stratad("--set server.http_port=9123 --print-config"));
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  EXPECT_NE(printed.output.find("9123"), std::string::npos) << printed.output;
}

}  // namespace
