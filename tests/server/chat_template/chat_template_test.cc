// ChatTemplate API, compile-time rejection of unsupported constructs, runtime errors and
// undefined semantics.
#include "server/chat_template/chat_template.h"

#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<std::string> Render(const std::string& source, const std::string& variables = "{}") {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Compile(source);
  if (!t.ok()) return t.status();
  return t->Render(nlohmann::ordered_json::parse(variables));
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

std::string CompileError(const std::string& source) {
  return Msg(ChatTemplate::Compile(source).status());
}

TEST(ChatTemplateTest, RendersVariables) {
  absl::StatusOr<std::string> out =
      Render("{{ greeting }}, {{ user.name }}!", R"({"greeting": "Hi", "user": {"name": "Ann"}})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "Hi, Ann!");
}

TEST(ChatTemplateTest, CompileRejectsUnsupportedStatementsWithLocation) {
  absl::Status s = ChatTemplate::Compile("line one\n  {% call foo() %}x{% endcall %}").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), HasSubstr("line 2, column 6"));
  EXPECT_THAT(Msg(s), HasSubstr("unsupported statement '{% call %}'"));
  for (const char* source :
       {"{% include 'x.jinja' %}", "{% extends 'base' %}", "{% with a = 1 %}{% endwith %}",
        "{% import 'm' as m %}", "{% block b %}{% endblock %}"}) {
    EXPECT_THAT(CompileError(source), HasSubstr("unsupported statement")) << source;
  }
}

TEST(ChatTemplateTest, CompileRejectsUnknownFiltersTestsAndFunctions) {
  EXPECT_THAT(CompileError("{{ x }}\n{{ x | frobnicate }}"),
              HasSubstr("line 2, column 8: unknown or unsupported filter 'frobnicate'"));
  EXPECT_THAT(CompileError("{% if x is frob %}{% endif %}"),
              HasSubstr("line 1, column 12: unknown or unsupported test 'frob'"));
  EXPECT_THAT(CompileError("{{ cycler('a', 'b') }}"),
              HasSubstr("line 1, column 4: unsupported function 'cycler'"));
  EXPECT_THAT(CompileError("{{ xs | select('frob') | list }}"), HasSubstr("unknown test 'frob'"));
  EXPECT_THAT(CompileError("{{ xs | map('frob') | list }}"), HasSubstr("unknown filter 'frob'"));
  // Other names may be defined later or sit in branches never taken: calling an undefined
  // one fails when it runs, as in Jinja.
  EXPECT_TRUE(ChatTemplate::Compile("{% if false %}{{ m() }}{% endif %}").ok());
  EXPECT_THAT(Msg(Render("{{ m() }}").status()), HasSubstr("'m' is undefined"));
}

TEST(ChatTemplateTest, CompileRejectsSyntaxErrorsWithLocation) {
  EXPECT_THAT(CompileError("{% if x %}open"),
              HasSubstr("expected '{% elif %}' or '{% else %}' or '{% endif %}' to close the 'if' "
                        "at line 1, column 1"));
  EXPECT_THAT(CompileError("a\nb {% endif %}"),
              HasSubstr("line 2, column 6: unexpected '{% endif %}'"));
  EXPECT_THAT(CompileError("{{ 1 + }}"), HasSubstr("line 1, column 8"));
  EXPECT_THAT(CompileError("{% break %}"), HasSubstr("'break' outside of a loop"));
  EXPECT_THAT(CompileError("{% for x in y recursive %}{% endfor %}"),
              HasSubstr("recursive loops are not supported"));
  EXPECT_THAT(CompileError("{{ 'unterminated }}"), HasSubstr("unterminated string literal"));
  EXPECT_THAT(CompileError("{# never closed"), HasSubstr("missing end of comment"));
  EXPECT_THAT(CompileError("{{ x "), HasSubstr("unexpected end of template"));
  EXPECT_THAT(CompileError("{% frobnicate %}"), HasSubstr("unknown statement '{% frobnicate %}'"));
  EXPECT_THAT(CompileError("{{ f(*args) }}{% set f = 1 %}"), HasSubstr("*args and **kwargs"));
  EXPECT_THAT(CompileError("{{ (1 ]}}"), HasSubstr("unexpected ']', expected ')'"));
}

TEST(ChatTemplateTest, RaiseExceptionCarriesExactMessage) {
  absl::StatusOr<std::string> out =
      Render("{% if messages|length == 0 %}{{ raise_exception('No messages!') }}{% endif %}",
             R"({"messages": []})");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "No messages!");
}

TEST(ChatTemplateTest, RuntimeErrorsNameTheLocation) {
  absl::StatusOr<std::string> out = Render("ok\n{{ 'a' + 1 }}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(out.status()), StartsWith("chat template error at line 2, column 8"));
  EXPECT_THAT(Msg(out.status()), HasSubstr("can only concatenate str (not \"int\") to str"));

  EXPECT_THAT(
      Msg(Render("{{ x.content.startswith('<') }}", R"({"x": {"content": null}})").status()),
      HasSubstr("'None' has no attribute 'startswith'"));
  EXPECT_THAT(Msg(Render("{{ 1 // 0 }}").status()), HasSubstr("division or modulo by zero"));
  EXPECT_THAT(Msg(Render("{{ x | tojson }}").status()),
              HasSubstr("Object of type Undefined is not JSON serializable"));
  EXPECT_THAT(Msg(Render("{% set x = 1 %}{% set x.a = 2 %}").status()),
              HasSubstr("cannot assign attribute on non-namespace object"));
  EXPECT_THAT(Msg(Render("{% set a, b = [1] %}").status()),
              HasSubstr("not enough values to unpack"));
  EXPECT_THAT(Msg(Render("{{ range(1000000) | length }}").status()), HasSubstr("MAX_RANGE"));
  EXPECT_THAT(Msg(Render("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}").status()),
              HasSubstr("recursion too deep"));
}

// Python Jinja2 semantics: an undefined value is falsy, prints as "", iterates as empty and
// passes `is defined` tests, but getting an attribute or item of it, calling it or doing
// arithmetic with it is an error.
TEST(ChatTemplateTest, UndefinedSemantics) {
  EXPECT_EQ(*Render("[{{ missing }}]{% if not missing %}falsy{% endif %}"), "[]falsy");
  EXPECT_EQ(*Render("{% for x in missing %}x{% endfor %}{{ missing | length }}"), "0");
  EXPECT_EQ(*Render("{{ missing is defined }} {{ d.missing is defined }}", R"({"d": {}})"),
            "False False");
  EXPECT_EQ(*Render("{{ missing ~ 'x' }} {{ missing | default('d') }}"), "x d");
  EXPECT_EQ(*Render("{{ 'a' in missing }} {{ missing == missing }}"), "False True");
  EXPECT_THAT(Msg(Render("{{ missing.attr }}").status()), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(Msg(Render("{{ d.a.b }}", R"({"d": {}})").status()),
              HasSubstr("'dict object' has no attribute 'a'"));
  EXPECT_THAT(Msg(Render("{{ missing[0] }}").status()), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(Msg(Render("{{ missing.startswith('x') }}").status()),
              HasSubstr("'missing' is undefined"));
  EXPECT_THAT(Msg(Render("{{ missing + 1 }}").status()), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(Msg(Render("{{ 'abc'.nosuchmethod() }}").status()),
              HasSubstr("'str object' has no attribute 'nosuchmethod'"));
}

TEST(ChatTemplateTest, SandboxHidesMutatingMethods) {
  EXPECT_THAT(Msg(Render("{{ xs.append(1) }}", R"({"xs": []})").status()), HasSubstr("unsafe"));
  EXPECT_THAT(Msg(Render("{{ d.update({}) }}", R"({"d": {}})").status()), HasSubstr("unsafe"));
}

TEST(ChatTemplateTest, GenerationBlockRendersItsBody) {
  EXPECT_EQ(*Render("{% generation %}inside {{ 1 }}{% endgeneration %} after"), "inside 1 after");
}

TEST(ChatTemplateTest, StrftimeNowFormatsLocalTime) {
  char expected[64];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::strftime(expected, sizeof(expected), "%d %b %Y", &local);
  absl::StatusOr<std::string> out = Render("{{ strftime_now('%d %b %Y') }}");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, expected);
  EXPECT_EQ(*Render("{{ strftime_now is defined }}"), "True");
}

TEST(ChatTemplateTest, ApplyChatTemplateSetsTransformersVariables) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Compile(
      "{{ bos_token is defined }}|{{ eos_token }}|{{ tools is none }}|{{ documents is none }}|"
      "{{ add_generation_prompt }}|{{ messages | length }}|{{ enable_thinking | default('-') }}");
  ASSERT_TRUE(t.ok()) << t.status();
  const nlohmann::json messages = nlohmann::json::parse(R"([{"role": "user", "content": "hi"}])");
  absl::StatusOr<std::string> out =
      ApplyChatTemplate(*t, messages, true, nlohmann::json::object(), "", "</s>");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "False|</s>|True|True|True|1|-");
  out = ApplyChatTemplate(*t, messages, false,
                          nlohmann::json::parse(R"({"tools": [], "enable_thinking": false})"),
                          "<s>", "</s>");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "True|</s>|False|True|False|1|False");
  EXPECT_FALSE(ApplyChatTemplate(*t, nlohmann::json::object(), false, {}, "", "").ok());
}

TEST(ChatTemplateTest, OrderedJsonKeepsKeyOrder) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Compile("{{ args | tojson }}");
  ASSERT_TRUE(t.ok());
  const char* vars = R"({"args": {"zeta": 1, "alpha": {"b": 2, "a": 3}}})";
  EXPECT_EQ(*t->Render(nlohmann::ordered_json::parse(vars)),
            R"({"zeta": 1, "alpha": {"b": 2, "a": 3}})");
  // nlohmann::json stores objects sorted.
  EXPECT_EQ(*t->Render(nlohmann::json::parse(vars)), R"({"alpha": {"a": 3, "b": 2}, "zeta": 1})");
}

TEST(ChatTemplateTest, RenderRequiresAnObject) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Compile("x");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->Render(nlohmann::json::array()).ok());
  EXPECT_EQ(t->source(), "x");
}

TEST(ChatTemplateTest, ConcurrentRendersShareOneTemplate) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Compile(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
      "{{ m.content }}{% endfor %}:{{ ns.n }}");
  ASSERT_TRUE(t.ok());
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      nlohmann::json vars;
      vars["messages"] = nlohmann::json::array();
      for (int k = 0; k <= i; ++k) vars["messages"].push_back({{"content", std::to_string(k)}});
      for (int rep = 0; rep < 50; ++rep) results[i] = *t->Render(vars);
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 8; ++i) {
    std::string expected;
    for (int k = 0; k <= i; ++k) expected += std::to_string(k);
    EXPECT_EQ(results[i], expected + ":" + std::to_string(i + 1));
  }
}

TEST(ChatTemplateTest, TemplateFromTokenizerConfig) {
  EXPECT_EQ(*ChatTemplateFromTokenizerConfig(nlohmann::json::parse(R"({"chat_template": "abc"})")),
            "abc");
  const auto named = nlohmann::json::parse(
      R"({"chat_template": [{"name": "default", "template": "d"},
                            {"name": "tool_use", "template": "t"}]})");
  EXPECT_EQ(*ChatTemplateFromTokenizerConfig(named), "d");
  EXPECT_EQ(*ChatTemplateFromTokenizerConfig(named, "tool_use"), "t");
  EXPECT_EQ(ChatTemplateFromTokenizerConfig(named, "rag").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ChatTemplateFromTokenizerConfig(nlohmann::json::object()).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace strata::server
