// `strata-tokenizer chat` against transformers' apply_chat_template: every conformance case
// (tests/server/chat_template/testdata/chat_cases.json) rendered with the real Qwen3 and
// Llama-3 templates must equal the committed fixtures byte for byte.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace {

std::string SourceDir() {
  const char* dir = std::getenv("STRATA_SOURCE_DIR");
  return dir ? dir : ".";
}

std::string BinaryDir() {
  const char* dir = std::getenv("STRATA_BINARY_DIR");
  return dir ? dir : "build";
}

// Runs the CLI with `input` on stdin; returns stdout. The input file is named by the
// template and the process: ctest runs the templates' cases in parallel processes.
std::string RunChat(const std::string& name, const std::string& tokenizer_dir,
                    const std::string& input, int* exit_code) {
  const std::string in_path = testing::TempDir() + "/chat_cli_input_" + name + "_" +
                              std::to_string(getpid()) + ".jsonl";
  std::ofstream(in_path) << input;
  const std::string command = BinaryDir() + "/bin/strata-tokenizer --tokenizer " + tokenizer_dir +
                              " chat < " + in_path + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  const int status = pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class ChatCliTest : public testing::TestWithParam<std::string> {};

TEST_P(ChatCliTest, MatchesTransformersOnEveryCase) {
  const std::string name = GetParam();
  std::ifstream cases_file(SourceDir() + "/tests/server/chat_template/testdata/chat_cases.json");
  ASSERT_TRUE(cases_file.good());
  const auto cases = nlohmann::ordered_json::parse(cases_file);
  const std::string tokenizer_dir =
      SourceDir() + "/" + cases["templates"][name]["tokenizer_dir"].get<std::string>();
  std::ifstream fixtures(SourceDir() + "/tests/fixtures/chat/" + name + ".jsonl");
  ASSERT_TRUE(fixtures.good()) << "missing fixtures for " << name;
  std::map<std::string, std::string> expected;
  for (std::string line; std::getline(fixtures, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("output")) expected[j["case"]] = j["output"];
  }
  // One conversation per line, in case order; cases the template rejects are left out.
  std::string input;
  std::vector<std::string> names;
  for (const auto& c : cases["cases"]) {
    if (!expected.contains(c["name"])) continue;
    nlohmann::ordered_json line = nlohmann::ordered_json::object();
    for (const auto& [key, value] : c.items()) {
      if (key != "name" && key != "variables") line[key] = value;
    }
    // Template variables (enable_thinking, ...) are top-level keys of a CLI line.
    if (c.contains("variables")) {
      for (const auto& [key, value] : c["variables"].items()) line[key] = value;
    }
    input += line.dump() + "\n";
    names.push_back(c["name"]);
  }
  ASSERT_GE(names.size(), 50u);
  int exit_code = 0;
  const std::string output = RunChat(name, tokenizer_dir, input, &exit_code);
  ASSERT_EQ(exit_code, 0);
  size_t begin = 0, index = 0;
  for (; index < names.size(); ++index) {
    const size_t end = output.find('\n', begin);
    ASSERT_NE(end, std::string::npos) << "missing output for " << names[index];
    EXPECT_EQ(nlohmann::json::parse(output.substr(begin, end - begin)).get<std::string>(),
              expected[names[index]])
        << "case " << names[index];
    begin = end + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(Templates, ChatCliTest, testing::Values("qwen3", "llama3"));

}  // namespace
