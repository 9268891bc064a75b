// Conformance of the C++ chat-template renderer with the real Qwen3 and Llama 3 / 3.1 / 3.2
// chat templates on the conversations of testdata/chat_cases.json, byte for byte, against:
//  - the JavaScript Jinja of transformers.js (@huggingface/jinja, render_reference.js, run
//    with node), except where the case records that JavaScript differs from Python;
//  - Python transformers' apply_chat_template (tests/fixtures/chat/<template>.jsonl, written by
//    tools/reference/chat_fixtures.py), which is authoritative.
// Runs from the repository root (or STRATA_SOURCE_DIR).
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/chat_template/chat_template.h"

namespace strata::server {
namespace {

using Json = nlohmann::ordered_json;

std::string Root() {
  const char* dir = std::getenv("STRATA_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A special token in tokenizer_config.json is a string or an AddedToken object.
std::string TokenText(const Json& config, const char* key) {
  if (!config.contains(key)) return "";
  const Json& t = config[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content")) return t["content"].get<std::string>();
  return "";
}

struct TemplateUnderTest {
  std::string name;
  Json def;
  ChatTemplate chat_template;
  std::string bos_token;
  std::string eos_token;
};

struct Result {
  bool ok = false;
  std::string text;  // output, or the error message
};

class ChatTemplateConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = Root() + "/tests/server/chat_template/testdata/chat_cases.json";
    spec_ = new Json(Json::parse(ReadFile(path)));
    templates_ = new std::vector<TemplateUnderTest>();
    for (const auto& [name, def] : (*spec_)["templates"].items()) {
      const std::string dir = Root() + "/" + def["tokenizer_dir"].get<std::string>();
      const Json config = Json::parse(ReadFile(dir + "/tokenizer_config.json"));
      const std::string source =
          def.contains("template_file")
              ? ReadFile(Root() + "/" + def["template_file"].get<std::string>())
              : config["chat_template"].get<std::string>();
      absl::StatusOr<ChatTemplate> compiled = ChatTemplate::Compile(source);
      if (!compiled.ok()) {
        compile_errors_ += name + ": " + std::string(compiled.status().message()) + "\n";
        continue;
      }
      templates_->push_back({name, def, *std::move(compiled), TokenText(config, "bos_token"),
                             TokenText(config, "eos_token")});
    }
  }

  static void TearDownTestSuite() {
    delete spec_;
    delete templates_;
  }

  static const Json& Cases() { return (*spec_)["cases"]; }

  static bool Applies(const Json& c, const std::string& template_name) {
    if (!c.contains("templates")) return true;
    for (const Json& t : c["templates"]) {
      if (t == template_name) return true;
    }
    return false;
  }

  static const Json* FindCase(const std::string& name) {
    for (const Json& c : Cases()) {
      if (c["name"] == name) return &c;
    }
    return nullptr;
  }

  static const TemplateUnderTest* FindTemplate(const std::string& name) {
    for (const TemplateUnderTest& t : *templates_) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

  static Result RenderCase(const TemplateUnderTest& t, const Json& c, const std::string& bos,
                           const std::string& eos) {
    Json extra = Json::object();
    if (c.contains("tools")) extra["tools"] = c["tools"];
    if (t.def.contains("default_variables")) {
      for (const auto& [k, v] : t.def["default_variables"].items()) extra[k] = v;
    }
    if (c.contains("variables")) {
      for (const auto& [k, v] : c["variables"].items()) extra[k] = v;
    }
    absl::StatusOr<std::string> out = ApplyChatTemplate(
        t.chat_template, c["messages"], c["add_generation_prompt"].get<bool>(), extra, bos, eos);
    if (!out.ok()) return {false, std::string(out.status().message())};
    return {true, *std::move(out)};
  }

  // "expected" vs "actual" around the first difference.
  static std::string Diff(const std::string& expected, const std::string& actual) {
    size_t i = 0;
    while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
    const size_t from = i > 80 ? i - 80 : 0;
    std::ostringstream os;
    os << "first difference at byte " << i
       << "\n  expected: " << Json(expected.substr(from, 160)).dump()
       << "\n  actual:   " << Json(actual.substr(from, 160)).dump();
    return os.str();
  }

  static Json* spec_;
  static std::vector<TemplateUnderTest>* templates_;
  static std::string compile_errors_;
};

Json* ChatTemplateConformanceTest::spec_ = nullptr;
std::vector<TemplateUnderTest>* ChatTemplateConformanceTest::templates_ = nullptr;
std::string ChatTemplateConformanceTest::compile_errors_;

TEST_F(ChatTemplateConformanceTest, RealTemplatesCompileAndCasesCoverTheGround) {
  EXPECT_EQ(compile_errors_, "");
  EXPECT_EQ(templates_->size(), 4u);
  EXPECT_GE(Cases().size(), 40u);
  for (const TemplateUnderTest& t : *templates_) {
    for (const Json& c : Cases()) {
      if (!Applies(c, t.name)) continue;
      // Every rendering either succeeds or fails cleanly; none may crash.
      RenderCase(t, c, t.bos_token, t.eos_token);
    }
  }
}

TEST_F(ChatTemplateConformanceTest, MatchesJavaScriptReference) {
  const std::string command =
      "node " + Root() + "/tests/server/chat_template/render_reference.js " + Root() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) output.append(buf, n);
  const int status = pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 127 || code == 3) {
    GTEST_SKIP() << "JavaScript reference unavailable (" << output
                 << "); needs node and @huggingface/jinja: `npm install --prefix "
                    "tests/server/chat_template --no-save --no-package-lock "
                    "@huggingface/jinja@0.5.11`";
  }
  ASSERT_EQ(code, 0) << output;
  int compared = 0, matched = 0, known_differences = 0;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const Json record = Json::parse(line);
    const std::string case_name = record["case"];
    const std::string template_name = record["template"];
    const Json* c = FindCase(case_name);
    const TemplateUnderTest* t = FindTemplate(template_name);
    ASSERT_NE(c, nullptr) << case_name;
    ASSERT_NE(t, nullptr) << template_name;
    if (c->contains("js_differs") && (*c)["js_differs"].contains(template_name)) {
      ++known_differences;
      continue;
    }
    SCOPED_TRACE(template_name + " / " + case_name);
    ++compared;
    const Result r = RenderCase(*t, *c, t->bos_token, t->eos_token);
    if (record.contains("error")) {
      EXPECT_FALSE(r.ok) << "the reference failed (" << record["error"] << ") but C++ rendered";
      matched += !r.ok;
    } else if (!r.ok) {
      ADD_FAILURE() << "C++ failed: " << r.text;
    } else {
      const std::string expected = record["output"];
      EXPECT_EQ(expected, r.text) << Diff(expected, r.text);
      matched += expected == r.text;
    }
  }
  std::cout << "JavaScript reference: " << matched << "/" << compared << " renderings match; "
            << known_differences << " known JavaScript/Python differences not compared\n";
  EXPECT_GE(compared, 150);
}

TEST_F(ChatTemplateConformanceTest, MatchesTransformersFixtures) {
  const std::string dir = Root() + "/tests/fixtures/chat";
  int compared = 0, matched = 0, files = 0;
  std::string engines;
  for (const TemplateUnderTest& t : *templates_) {
    const std::string path = dir + "/" + t.name + ".jsonl";
    if (!std::filesystem::exists(path)) continue;
    ++files;
    std::map<std::string, bool> seen;
    std::istringstream lines(ReadFile(path));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      const Json record = Json::parse(line);
      const std::string case_name = record["case"];
      SCOPED_TRACE(t.name + " / " + case_name);
      const Json* c = FindCase(case_name);
      if (c == nullptr) {
        ADD_FAILURE() << "fixture for an unknown case; regenerate the fixtures";
        continue;
      }
      seen[case_name] = true;
      const std::string engine = record.value("engine", "?");
      if (engines.find(engine) == std::string::npos)
        engines += (engines.empty() ? "" : ", ") + engine;
      const std::string bos = record["bos_token"].is_string() ? record["bos_token"] : "";
      const std::string eos = record["eos_token"].is_string() ? record["eos_token"] : "";
      const Result r = RenderCase(t, *c, bos, eos);
      ++compared;
      if (record.contains("error")) {
        EXPECT_FALSE(r.ok) << "transformers failed (" << record["error_type"] << ": "
                           << record["error"] << ") but C++ rendered";
        if (!r.ok && record["error_type"] == "TemplateError") {
          // raise_exception(): the message is part of the contract.
          EXPECT_EQ(r.text, record["error"].get<std::string>());
        }
        matched += !r.ok;
      } else if (!r.ok) {
        ADD_FAILURE() << "C++ failed: " << r.text;
      } else {
        const std::string expected = record["output"];
        EXPECT_EQ(expected, r.text) << Diff(expected, r.text);
        matched += expected == r.text;
      }
    }
    for (const Json& c : Cases()) {
      if (Applies(c, t.name) && !seen.count(c["name"].get<std::string>())) {
        ADD_FAILURE() << t.name << ": no fixture for case " << c["name"]
                      << "; regenerate with python3 tools/reference/chat_fixtures.py";
      }
    }
  }
  if (files == 0) {
    GTEST_SKIP() << "no transformers fixtures in tests/fixtures/chat; generate them with "
                    "`python3 tools/reference/chat_fixtures.py` (needs transformers)";
  }
  std::cout << "transformers fixtures (" << engines << "): " << matched << "/" << compared
            << " renderings match\n";
}

}  // namespace
}  // namespace strata::server
