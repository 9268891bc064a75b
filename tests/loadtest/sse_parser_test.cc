// The SSE parser and the meaning of OpenAI stream events.
#include "loadtest/client/sse_parser.h"

#include <gtest/gtest.h>

#include "loadtest/client/openai_protocol.h"

namespace strata::loadtest {
namespace {

using json = nlohmann::json;

TEST(SseParserTest, EventsSurviveEverySplit) {
  const std::string stream =
      "data: {\"a\":1}\n\n: a comment\n\ndata: {\"b\":\r\ndata: 2}\r\n\r\n"
      "event: x\nid: 3\ndata:[DONE]\n\n";
  const std::vector<std::string> expected = {"{\"a\":1}", "{\"b\":\n2}", "[DONE]"};
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser parser;
    std::vector<std::string> events;
    parser.Feed(std::string_view(stream).substr(0, cut), &events);
    parser.Feed(std::string_view(stream).substr(cut), &events);
    EXPECT_EQ(events, expected) << "split at " << cut;
  }
  SseParser bytewise;
  std::vector<std::string> events;
  for (char c : stream) bytewise.Feed(std::string_view(&c, 1), &events);
  EXPECT_EQ(events, expected);
}

TEST(SseParserTest, IncompleteEventIsHeld) {
  SseParser parser;
  std::vector<std::string> events;
  parser.Feed("data: x\n", &events);
  EXPECT_TRUE(events.empty());
  parser.Feed("\n", &events);
  EXPECT_EQ(events, std::vector<std::string>{"x"});
}

TEST(OpenAiProtocolTest, CompletionChunks) {
  StreamEventInfo e = ParseStreamEvent(
      R"({"id":"c","object":"text_completion","choices":[{"index":0,"text":"Hi","finish_reason":null}],"usage":null})");
  EXPECT_TRUE(e.has_output);
  EXPECT_FALSE(e.prompt_tokens.has_value());
  e = ParseStreamEvent(R"({"choices":[{"index":0,"text":"","finish_reason":"length"}]})");
  EXPECT_FALSE(e.has_output);
  EXPECT_EQ(e.finish_reason, "length");
  e = ParseStreamEvent(
      R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}})");
  EXPECT_EQ(*e.prompt_tokens, 12);
  EXPECT_EQ(*e.completion_tokens, 5);
  EXPECT_TRUE(ParseStreamEvent("[DONE]").done);
  EXPECT_TRUE(ParseStreamEvent("{oops").malformed);
}

TEST(OpenAiProtocolTest, ChatChunksAndErrors) {
  // The first chat chunk carries the role and empty content: not output.
  EXPECT_FALSE(
      ParseStreamEvent(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})")
          .has_output);
  EXPECT_TRUE(ParseStreamEvent(R"({"choices":[{"index":0,"delta":{"content":"x"}}]})").has_output);
  EXPECT_TRUE(ParseStreamEvent(R"({"choices":[{"index":0,"delta":{"reasoning_content":"x"}}]})")
                  .has_output);
  const StreamEventInfo e =
      ParseStreamEvent(R"({"error":{"message":"boom","type":"server_error","code":500}})");
  EXPECT_EQ(e.error, "boom");
  EXPECT_EQ(ErrorBodyMessage(R"({"error":{"message":"bad model"}})"), "bad model");
  EXPECT_EQ(ErrorBodyMessage("plain"), "plain");
}

TEST(OpenAiProtocolTest, RequestBodies) {
  RequestSpec spec;
  spec.prompt = " hello world";
  spec.output_len = 7;
  spec.session_id = "s1";
  OpenAiRequestOptions o;
  o.model = "m";
  o.extra_body = {{"min_tokens", 7}};
  json body = json::parse(OpenAiRequestBody(spec, o));
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["prompt"], " hello world");
  EXPECT_EQ(body["max_tokens"], 7);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["user"], "s1");
  EXPECT_EQ(body["min_tokens"], 7);
  EXPECT_FALSE(body.contains("temperature"));
  o.chat = true;
  o.ignore_eos = false;
  o.temperature = 0;
  body = json::parse(OpenAiRequestBody(spec, o));
  EXPECT_EQ(body["messages"][0]["content"], " hello world");
  EXPECT_FALSE(body.contains("prompt"));
  EXPECT_FALSE(body.contains("ignore_eos"));
  EXPECT_EQ(body["temperature"], 0);
  o.chat = false;
  spec.prompt_ids = {1, 2, 3};
  body = json::parse(OpenAiRequestBody(spec, o));
  EXPECT_EQ(body["prompt"], json::array({1, 2, 3}));
}

}  // namespace
}  // namespace strata::loadtest
