#include "server/openai/response_builder.h"

#include <gtest/gtest.h>

#include "server/openai/api_error.h"

namespace strata::server::openai {
namespace {

using json = nlohmann::ordered_json;

TokenInfo Token(int32_t id, std::string text, float logprob, std::vector<TopLogprob> top = {}) {
  return TokenInfo{id, std::move(text), logprob, std::move(top)};
}

const ResponseMeta kMeta{"chatcmpl-abc", 1700000000, "tiny"};

TEST(ResponseBuilderTest, Ids) {
  const std::string a = NewResponseId("chatcmpl-"), b = NewResponseId("chatcmpl-");
  EXPECT_EQ(a.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(a.size(), 9u + 32u);
  EXPECT_NE(a, b);
  EXPECT_GT(UnixSeconds(), 1600000000);
}

TEST(ResponseBuilderTest, Utf8Lossy) {
  EXPECT_EQ(Utf8Lossy("abc"), "abc");
  EXPECT_EQ(Utf8Lossy("h\xC3\xA9"), "h\xC3\xA9");
  EXPECT_EQ(Utf8Lossy("\xE4\xBD"), "\xEF\xBF\xBD");  // truncated 3-byte sequence
  EXPECT_EQ(Utf8Lossy("\xFF"
                      "a"),
            "\xEF\xBF\xBD"
            "a");  // invalid lead byte
  EXPECT_EQ(Utf8Lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(Utf8Lossy("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
}

TEST(ResponseBuilderTest, ChatCompletionShape) {
  ChoiceOutput c0{0, "Hello", {}, "stop", std::nullopt};
  ChoiceOutput c1{1, "Hi", {}, "length", std::nullopt};
  c0.stop_reason = "END";
  const json j = ChatCompletionJson(kMeta, {c0, c1}, Usage{7, 5}, LogprobsSpec{});
  EXPECT_EQ(j["id"], "chatcmpl-abc");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "tiny");
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][0]["stop_reason"], "END");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(j["usage"],
            json({{"prompt_tokens", 7}, {"completion_tokens", 5}, {"total_tokens", 12}}));
}

TEST(ResponseBuilderTest, ChatLogprobs) {
  std::vector<TokenInfo> tokens = {
      Token(1, "He", -0.5f, {{1, "He", -0.5f}, {2, "Hi", -1.25f}, {3, "Yo", -3.0f}}),
      Token(4, "\xE4\xBD", -1e30f, {{4, "\xE4\xBD", -1e30f}})};
  const json j = ChatLogprobsJson(tokens, 2);
  ASSERT_EQ(j["content"].size(), 2u);
  const json& t0 = j["content"][0];
  EXPECT_EQ(t0["token"], "He");
  EXPECT_DOUBLE_EQ(t0["logprob"].get<double>(), -0.5);
  EXPECT_EQ(t0["bytes"], json({72, 101}));
  ASSERT_EQ(t0["top_logprobs"].size(), 2u);
  EXPECT_EQ(t0["top_logprobs"][1]["token"], "Hi");
  EXPECT_DOUBLE_EQ(t0["top_logprobs"][1]["logprob"].get<double>(), -1.25);
  EXPECT_EQ(t0["top_logprobs"][1]["bytes"], json({72, 105}));
  const json& t1 = j["content"][1];
  EXPECT_EQ(t1["token"], "\xEF\xBF\xBD");
  EXPECT_EQ(t1["bytes"], json({0xE4, 0xBD}));
  EXPECT_DOUBLE_EQ(t1["logprob"].get<double>(), -9999.0);
  EXPECT_TRUE(j["refusal"].is_null());

  ChoiceOutput c{0, "He", tokens, "length", std::nullopt};
  const json full = ChatCompletionJson(kMeta, {c}, Usage{1, 2}, LogprobsSpec{true, 0});
  EXPECT_EQ(full["choices"][0]["logprobs"]["content"][0]["top_logprobs"], json::array());
  EXPECT_NO_THROW(DumpJson(full));
}

TEST(ResponseBuilderTest, CompletionLogprobs) {
  std::vector<TokenInfo> tokens = {Token(1, "ab", -0.1f, {{2, "x", -0.05f}, {1, "ab", -0.1f}}),
                                   Token(3, "\xC3\xA9z", -2.0f, {{5, "q", -1.0f}})};
  int64_t offset = 10;
  const json j = CompletionLogprobsJson(tokens, 1, &offset);
  EXPECT_EQ(j["tokens"], json({"ab", "\xC3\xA9z"}));
  EXPECT_EQ(j["text_offset"], json({10, 12}));
  EXPECT_EQ(offset, 14);
  ASSERT_EQ(j["token_logprobs"].size(), 2u);
  EXPECT_NEAR(j["token_logprobs"][1].get<double>(), -2.0, 1e-6);
  // Top-1 alternative plus the chosen token.
  EXPECT_EQ(j["top_logprobs"][0].size(), 2u);
  EXPECT_TRUE(j["top_logprobs"][0].contains("x"));
  EXPECT_TRUE(j["top_logprobs"][0].contains("ab"));
  EXPECT_EQ(j["top_logprobs"][1].size(), 2u);
}

TEST(ResponseBuilderTest, CompletionShape) {
  ChoiceOutput c{3, "text", {Token(1, "text", -0.25f)}, "length", std::nullopt};
  const json j = CompletionJson({"cmpl-1", 5, "tiny"}, {c}, Usage{2, 1}, LogprobsSpec{true, 0});
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["index"], 3);
  EXPECT_EQ(j["choices"][0]["text"], "text");
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"], json({"text"}));
  EXPECT_EQ(j["choices"][0]["logprobs"]["text_offset"], json({0}));
  EXPECT_TRUE(j["choices"][0]["stop_reason"].is_null());
  EXPECT_EQ(j["usage"]["total_tokens"], 3);
}

TEST(ResponseBuilderTest, Chunks) {
  json role = ChatChunkJson(kMeta, 1, {{"role", "assistant"}, {"content", ""}}, nullptr,
                            std::nullopt, /*include_usage=*/true);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["index"], 1);
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(role.contains("usage"));
  EXPECT_TRUE(role["usage"].is_null());

  json last = ChatChunkJson(kMeta, 0, json::object(), nullptr, "stop", false);
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(last.contains("usage"));

  json text = CompletionChunkJson({"cmpl-1", 5, "tiny"}, 0, "ab", nullptr, "length", false);
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["text"], "ab");
  EXPECT_EQ(text["choices"][0]["finish_reason"], "length");

  json usage = UsageChunkJson(kMeta, "chat.completion.chunk", Usage{3, 4});
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"]["total_tokens"], 7);

  const std::string sse = SseData(json({{"a", 1}}));
  EXPECT_EQ(sse, "data: {\"a\":1}\n\n");
  EXPECT_EQ(SseData(json("\xFF")), "data: \"\xEF\xBF\xBD\"\n\n");
}

TEST(ResponseBuilderTest, Models) {
  const json list = ModelListJson("tiny", 42, 4096);
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], "tiny");
  EXPECT_EQ(list["data"][0]["object"], "model");
  EXPECT_EQ(list["data"][0]["created"], 42);
  EXPECT_EQ(list["data"][0]["owned_by"], "strata");
  EXPECT_EQ(list["data"][0]["max_model_len"], 4096);
}

TEST(ApiErrorTest, StatusesAndTypes) {
  EXPECT_EQ(Unauthorized("x").http_status, 401);
  EXPECT_EQ(Unauthorized("x").type, "authentication_error");
  EXPECT_EQ(ModelNotFound("gpt").http_status, 404);
  EXPECT_EQ(ModelNotFound("gpt").param, "model");
  EXPECT_EQ(ModelNotFound("gpt").code, "model_not_found");
  EXPECT_EQ(RouteNotFound("GET", "/x").http_status, 404);
  EXPECT_EQ(MethodNotAllowed("GET", "/v1/completions").http_status, 405);
  EXPECT_EQ(BodyTooLarge(10).http_status, 413);
  EXPECT_EQ(QueueFull("x").http_status, 429);
  EXPECT_EQ(QueueFull("x").type, "rate_limit_error");
  EXPECT_EQ(Unavailable("x").http_status, 503);
  EXPECT_EQ(FromStatus(absl::InvalidArgumentError("bad"), "prompt").param, "prompt");
  EXPECT_EQ(FromStatus(absl::InvalidArgumentError("bad"), "prompt").http_status, 400);
  EXPECT_EQ(FromStatus(absl::ResourceExhaustedError("full"), "").http_status, 429);
  EXPECT_EQ(FromStatus(absl::UnavailableError("drain"), "").http_status, 503);
  EXPECT_EQ(FromStatus(absl::InternalError("boom"), "").http_status, 500);
  const json j = json::parse(InvalidRequest("", "m").Body());
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_EQ(j["error"]["message"], "m");
}

}  // namespace
}  // namespace strata::server::openai
