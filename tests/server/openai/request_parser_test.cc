#include "server/openai/request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace strata::server::openai {
namespace {

using nlohmann::json;

json Chat(json extra = json::object()) {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  body.update(extra);
  return body;
}

json Completion(json extra = json::object()) {
  json body = {{"model", "m"}, {"prompt", "hello"}};
  body.update(extra);
  return body;
}

// The parameter a chat request with `extra` is rejected for (empty: accepted).
std::string ChatErrorParam(const json& extra) {
  ApiOr<ChatRequest> r = ParseChatRequest(Chat(extra).dump());
  if (r.ok()) return "";
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().type, "invalid_request_error");
  EXPECT_FALSE(r.error().message.empty());
  return r.error().param.value_or("<none>");
}

std::string CompletionErrorParam(const json& extra) {
  ApiOr<CompletionRequest> r = ParseCompletionRequest(Completion(extra).dump());
  if (r.ok()) return "";
  EXPECT_EQ(r.error().http_status, 400);
  return r.error().param.value_or("<none>");
}

TEST(RequestParserTest, DefaultsOfAMinimalChatRequest) {
  ApiOr<ChatRequest> r = ParseChatRequest(Chat().dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const SamplingOptions& o = r->options;
  EXPECT_EQ(o.model, "m");
  EXPECT_EQ(o.n, 1);
  EXPECT_FALSE(o.max_tokens.has_value());
  EXPECT_FLOAT_EQ(o.temperature, 1.0f);
  EXPECT_FLOAT_EQ(o.top_p, 1.0f);
  EXPECT_EQ(o.top_k, 0);
  EXPECT_FALSE(o.seed.has_value());
  EXPECT_TRUE(o.stop.empty());
  EXPECT_FALSE(o.stream);
  EXPECT_FALSE(o.logprobs);
  EXPECT_TRUE(o.skip_special_tokens);
  EXPECT_TRUE(r->add_generation_prompt);
  EXPECT_TRUE(r->tools.is_null());
  EXPECT_EQ(r->messages, nlohmann::ordered_json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST(RequestParserTest, MalformedBodies) {
  for (const char* body : {"", "{", "not json", "[1,2]", "\"text\"", "{\"a\":1,}"}) {
    ApiOr<ChatRequest> r = ParseChatRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_FALSE(r.error().param.has_value());
  }
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  EXPECT_FALSE(ParseChatRequest(deep).ok());
  EXPECT_TRUE(JsonTooDeep(deep, kMaxJsonDepth));
  EXPECT_FALSE(JsonTooDeep(R"({"a": "[[[[[[[[[[[[[[[[[[[[["})", 4));
}

TEST(RequestParserTest, MessagesValidation) {
  auto param = [](const json& messages) { return ChatErrorParam({{"messages", messages}}); };
  EXPECT_EQ(ChatErrorParam({{"messages", nullptr}}), "messages");
  EXPECT_EQ(param("hi"), "messages");
  EXPECT_EQ(param(json::array()), "messages");
  EXPECT_EQ(param({1}), "messages[0]");
  EXPECT_EQ(param({{{"content", "x"}}}), "messages[0].role");
  EXPECT_EQ(param({{{"role", "user"}, {"content", "a"}}, {{"role", "wizard"}, {"content", "b"}}}),
            "messages[1].role");
  EXPECT_EQ(param({{{"role", "user"}}}), "messages[0].content");
  EXPECT_EQ(param({{{"role", "user"}, {"content", 5}}}), "messages[0].content");
  EXPECT_EQ(param({{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}),
            "messages[0].content[0].type");
  EXPECT_EQ(param({{{"role", "user"}, {"content", {{{"type", "text"}}}}}}),
            "messages[0].content[0].text");
  EXPECT_EQ(param({{{"role", "user"}, {"content", "x"}, {"name", 3}}}), "messages[0].name");
  EXPECT_EQ(param({{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", 1}}}),
            "messages[0].tool_calls");
  for (const char* role : {"system", "developer", "user", "assistant", "tool"}) {
    EXPECT_EQ(param({{{"role", role}, {"content", "x"}}}), "") << role;
  }
}

TEST(RequestParserTest, MessagesAreNormalizedForTheTemplate) {
  json messages = json::parse(R"([
    {"role": "developer", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
      "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "42"}])");
  ApiOr<ChatRequest> r = ParseChatRequest(Chat({{"messages", messages}}).dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->messages[0]["role"], "system");
  EXPECT_EQ(r->messages[1]["content"], "a\nb");
  EXPECT_EQ(r->messages[2]["content"], "");
  EXPECT_EQ(r->messages[2]["tool_calls"][0]["function"]["arguments"].dump(), R"({"x":1})");
  EXPECT_EQ(r->messages[3]["tool_call_id"], "c1");
}

TEST(RequestParserTest, NumericRangesNameTheirParameter) {
  struct Case {
    const char* key;
    json bad;
    json good;
  };
  const Case cases[] = {
      {"temperature", 2.5, 0},
      {"temperature", -0.1, 2},
      {"temperature", "hot", 0.7},
      {"top_p", 0, 1},
      {"top_p", 1.1, 0.5},
      {"top_k", -2, -1},
      {"top_k", 1.5, 40},
      {"min_p", 1.5, 0.1},
      {"presence_penalty", 2.1, -2},
      {"frequency_penalty", -2.5, 2},
      {"repetition_penalty", 0, 1.2},
      {"n", 0, 2},
      {"n", 17, 16},
      {"n", "2", 1},
      {"max_tokens", 0, 1},
      {"max_tokens", -5, 100},
      {"max_tokens", 1.5, 2.0},
      {"max_completion_tokens", 0, 7},
      {"seed", "x", -3},
      {"seed", 1.5, 42},
      {"priority", "high", -5},
      {"kv_budget_tokens", -1, 0},
      {"kv_eviction_policy", "h2o", "heavy_hitter"},
      {"kv_eviction_policy", "arkv", "adaptive_precision"},
      {"kv_eviction_policy", 1, "none"},
      {"cache_salt", 7, "tenant-a"},
      {"user", 5, "u"},
      {"stream", "yes", true},
      {"ignore_eos", 1, true},
      {"skip_special_tokens", "no", false},
      {"model", 3, "m"},
      {"add_generation_prompt", 0, false},
      {"chat_template_kwargs", "x", json({{"enable_thinking", false}})},
      {"top_logprobs", 21, nullptr},
      {"top_p", 1e-300, 1e-3},
      {"repetition_penalty", 1e-300, 0.5},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ChatErrorParam({{c.key, c.bad}}), c.key) << c.key << "=" << c.bad;
    EXPECT_EQ(ChatErrorParam({{c.key, c.good}}), "") << c.key << "=" << c.good;
  }
}

TEST(RequestParserTest, ToolsKeepTheClientsKeyOrder) {
  const std::string body =
      R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",)"
      R"( "function": {"name": "f", "parameters": {"z": 1, "a": 2}}}]})";
  ApiOr<ChatRequest> r = ParseChatRequest(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->tools.dump(),
            R"([{"type":"function","function":{"name":"f","parameters":{"z":1,"a":2}}}])");
}

TEST(RequestParserTest, SamplingValuesAreRead) {
  ApiOr<ChatRequest> r =
      ParseChatRequest(Chat({{"temperature", 0},
                             {"top_p", 0.5},
                             {"top_k", -1},
                             {"min_p", 0.2},
                             {"presence_penalty", 1},
                             {"frequency_penalty", -1},
                             {"repetition_penalty", 1.1},
                             {"seed", -1},
                             {"n", 3},
                             {"max_tokens", 10},
                             {"max_completion_tokens", 12},
                             {"priority", -3},
                             {"kv_budget_tokens", 128},
                             {"kv_eviction_policy", "streaming"},
                             {"cache_salt", "tenant-a"},
                             {"ignore_eos", true},
                             {"skip_special_tokens", false},
                             {"user", "u1"},
                             {"stop_token_ids", {7, 8}},
                             {"chat_template_kwargs", {{"enable_thinking", false}}}})
                           .dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const SamplingOptions& o = r->options;
  EXPECT_EQ(o.temperature, 0.0f);
  EXPECT_FLOAT_EQ(o.top_p, 0.5f);
  EXPECT_EQ(o.top_k, 0);
  EXPECT_FLOAT_EQ(o.min_p, 0.2f);
  EXPECT_FLOAT_EQ(o.repetition_penalty, 1.1f);
  EXPECT_EQ(o.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(o.n, 3);
  EXPECT_EQ(o.max_tokens, 12);
  EXPECT_EQ(o.max_tokens_param, "max_completion_tokens");
  EXPECT_EQ(o.priority, -3);
  EXPECT_EQ(o.kv_budget_tokens, 128);
  EXPECT_EQ(o.kv_eviction_policy, "streaming");
  EXPECT_EQ(o.cache_salt, "tenant-a");
  EXPECT_TRUE(o.ignore_eos);
  EXPECT_FALSE(o.skip_special_tokens);
  EXPECT_EQ(o.user, "u1");
  EXPECT_EQ(o.stop_token_ids, (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(r->chat_template_kwargs.dump(), R"({"enable_thinking":false})");
}

TEST(RequestParserTest, Stop) {
  EXPECT_EQ(ChatErrorParam({{"stop", "x"}}), "");
  EXPECT_EQ(ChatErrorParam({{"stop", {"a", "b", "c", "d"}}}), "");
  EXPECT_EQ(ChatErrorParam({{"stop", {"a", "b", "c", "d", "e"}}}), "stop");
  EXPECT_EQ(ChatErrorParam({{"stop", 5}}), "stop");
  EXPECT_EQ(ChatErrorParam({{"stop", ""}}), "stop");
  EXPECT_EQ(ChatErrorParam({{"stop", {"a", 1}}}), "stop[1]");
  EXPECT_EQ(ChatErrorParam({{"stop", {"a", ""}}}), "stop[1]");
  EXPECT_EQ(ChatErrorParam({{"stop_token_ids", {1, -1}}}), "stop_token_ids");
  EXPECT_EQ(ChatErrorParam({{"stop_token_ids", 3}}), "stop_token_ids");
  ApiOr<ChatRequest> r = ParseChatRequest(Chat({{"stop", {"\n\n", "END"}}}).dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options.stop, (std::vector<std::string>{"\n\n", "END"}));
}

TEST(RequestParserTest, ChatLogprobs) {
  EXPECT_EQ(ChatErrorParam({{"logprobs", 1}}), "logprobs");
  EXPECT_EQ(ChatErrorParam({{"top_logprobs", 2}}), "top_logprobs");
  EXPECT_EQ(ChatErrorParam({{"logprobs", false}, {"top_logprobs", 2}}), "top_logprobs");
  EXPECT_EQ(ChatErrorParam({{"logprobs", true}, {"top_logprobs", -1}}), "top_logprobs");
  EXPECT_EQ(ChatErrorParam({{"logprobs", true}, {"top_logprobs", 21}}), "top_logprobs");
  ApiOr<ChatRequest> r = ParseChatRequest(Chat({{"logprobs", true}, {"top_logprobs", 20}}).dump());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->options.logprobs);
  EXPECT_EQ(r->options.top_logprobs, 20);
}

TEST(RequestParserTest, StreamOptions) {
  EXPECT_EQ(ChatErrorParam({{"stream_options", {{"include_usage", true}}}}), "stream_options");
  EXPECT_EQ(ChatErrorParam({{"stream", true}, {"stream_options", 1}}), "stream_options");
  EXPECT_EQ(ChatErrorParam({{"stream", true}, {"stream_options", {{"include_usage", "y"}}}}),
            "stream_options.include_usage");
  ApiOr<ChatRequest> r = ParseChatRequest(
      Chat({{"stream", true}, {"stream_options", {{"include_usage", true}}}}).dump());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->options.stream);
  EXPECT_TRUE(r->options.include_usage);
}

TEST(RequestParserTest, UnsupportedFeaturesAreClear400s) {
  EXPECT_EQ(ChatErrorParam({{"logit_bias", {{"5", 10}}}}), "logit_bias");
  EXPECT_EQ(ChatErrorParam({{"logit_bias", json::object()}}), "");
  EXPECT_EQ(ChatErrorParam({{"response_format", {{"type", "json_object"}}}}), "response_format");
  EXPECT_EQ(ChatErrorParam({{"response_format", {{"type", "text"}}}}), "");
  EXPECT_EQ(ChatErrorParam({{"modalities", {"text", "audio"}}}), "modalities");
  EXPECT_EQ(ChatErrorParam({{"tool_choice", "required"}}), "tool_choice");
  EXPECT_EQ(ChatErrorParam({{"tools", "x"}}), "tools");
  EXPECT_EQ(ChatErrorParam({{"tool_choice", "auto"}, {"tools", json::array()}}), "");
  EXPECT_EQ(CompletionErrorParam({{"suffix", "tail"}}), "suffix");
  EXPECT_EQ(CompletionErrorParam({{"best_of", 3}}), "best_of");
  EXPECT_EQ(CompletionErrorParam({{"best_of", 2}, {"n", 2}}), "");
  EXPECT_EQ(CompletionErrorParam({{"echo", true}, {"logprobs", 1}}), "echo");
}

TEST(RequestParserTest, ContinueFinalMessage) {
  EXPECT_EQ(ChatErrorParam({{"continue_final_message", true}}), "continue_final_message");
  json messages = {{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", "b"}}};
  EXPECT_EQ(ChatErrorParam({{"messages", messages},
                            {"continue_final_message", true},
                            {"add_generation_prompt", false}}),
            "");
}

TEST(RequestParserTest, CompletionPromptShapes) {
  auto prompts = [](const json& prompt) {
    ApiOr<CompletionRequest> r = ParseCompletionRequest(Completion({{"prompt", prompt}}).dump());
    EXPECT_TRUE(r.ok()) << prompt << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->prompts : std::vector<CompletionPrompt>{};
  };
  auto one = prompts("abc");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].text, "abc");
  auto many = prompts({"a", "b"});
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(many[1].text, "b");
  auto ids = prompts({1, 2, 3});
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_FALSE(ids[0].text.has_value());
  EXPECT_EQ(ids[0].tokens, (std::vector<int32_t>{1, 2, 3}));
  auto nested = prompts({{1, 2}, {3}});
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested[1].tokens, (std::vector<int32_t>{3}));

  for (const json& bad : {json(nullptr), json(5), json::array(), json({1, "a"}), json({"a", 1}),
                          json({{1}, json::array()}), json({-1}), json({1.5}),
                          json({json::object()}), json({{1, "x"}})}) {
    EXPECT_EQ(CompletionErrorParam({{"prompt", bad}}), "prompt") << bad;
  }
  ApiOr<CompletionRequest> missing = ParseCompletionRequest(R"({"model": "m"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().param, "prompt");
}

TEST(RequestParserTest, CompletionLogprobsIsAnInteger) {
  EXPECT_EQ(CompletionErrorParam({{"logprobs", true}}), "logprobs");
  EXPECT_EQ(CompletionErrorParam({{"logprobs", 6}}), "logprobs");
  EXPECT_EQ(CompletionErrorParam({{"logprobs", -1}}), "logprobs");
  ApiOr<CompletionRequest> r = ParseCompletionRequest(Completion({{"logprobs", 0}}).dump());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->options.logprobs);
  EXPECT_EQ(r->options.top_logprobs, 0);
  // max_completion_tokens is a chat parameter; completions ignore it like any unknown field.
  ApiOr<CompletionRequest> c =
      ParseCompletionRequest(Completion({{"max_completion_tokens", 0}}).dump());
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->options.max_tokens.has_value());
}

TEST(RequestParserTest, NullMeansDefault) {
  ApiOr<ChatRequest> r = ParseChatRequest(Chat({{"temperature", nullptr},
                                                {"stop", nullptr},
                                                {"n", nullptr},
                                                {"seed", nullptr},
                                                {"max_tokens", nullptr},
                                                {"stream_options", nullptr},
                                                {"tools", nullptr}})
                                              .dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FLOAT_EQ(r->options.temperature, 1.0f);
  EXPECT_EQ(r->options.n, 1);
}

TEST(RequestParserTest, ErrorJsonShape) {
  ApiOr<ChatRequest> r = ParseChatRequest(Chat({{"temperature", 9}}).dump());
  ASSERT_FALSE(r.ok());
  const json j = r.error().ToJson();
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_NE(j["error"]["message"].get<std::string>().find("temperature"), std::string::npos);
}

}  // namespace
}  // namespace strata::server::openai
