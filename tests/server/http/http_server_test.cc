#include "server/http/http_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "tests/server/http/http_test_client.h"
#include "tests/server/http/test_stack.h"

namespace strata::server::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

json Body(const Response& response) { return json::parse(response.body(), nullptr, false); }

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_dir_ = new std::string(
        (std::filesystem::temp_directory_path() / ("strata-http-test-" + std::to_string(getpid())))
            .string());
    absl::Status written = WriteTinyModel(*model_dir_);
    ASSERT_TRUE(written.ok()) << written;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*model_dir_);
    delete model_dir_;
  }

  void StartServer(StackOptions options = {}) {
    options.server.host = "127.0.0.1";
    options.server.http_port = 0;
    stack_.reset();
    auto stack = Stack::Start(*model_dir_, options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
  }

  bool EngineIdle() {
    const auto m = stack_->loop().Metrics();
    return stack_->loop().InFlight() == 0 && m.num_requests_running == 0 &&
           m.num_requests_waiting == 0 && m.kv_blocks_used == 0;
  }

  static json Completion(json extra = json::object()) {
    json body = {{"model", "tiny"}, {"prompt", "Hello"}, {"max_tokens", 4}, {"temperature", 0}};
    body.update(extra);
    return body;
  }

  static std::string* model_dir_;
  std::unique_ptr<Stack> stack_;
};
std::string* HttpServerTest::model_dir_ = nullptr;

TEST_F(HttpServerTest, ProbesMetricsAndModels) {
  StartServer();
  TestClient client(stack_->port());
  Response health = client.Get("/health");
  EXPECT_EQ(health.result_int(), 200);
  Response ready = client.Get("/ready");
  EXPECT_EQ(ready.result_int(), 200);
  Response metrics = client.Get("/metrics");
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_EQ(metrics[bhttp::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body().find("strata:num_requests_running 0"), std::string::npos);
  Response models = client.Get("/v1/models");
  ASSERT_EQ(models.result_int(), 200);
  EXPECT_EQ(Body(models)["object"], "list");
  EXPECT_EQ(Body(models)["data"][0]["id"], "tiny");
  EXPECT_EQ(Body(models)["data"][0]["max_model_len"], 4096);
  EXPECT_EQ(client.Get("/v1/models/tiny").result_int(), 200);
  EXPECT_EQ(client.Get("/v1/models/other").result_int(), 404);
}

TEST_F(HttpServerTest, CompletionAndChatOnOneKeepAliveConnection) {
  StartServer();
  TestClient client(stack_->port());
  Response completion = client.Post("/v1/completions", Completion());
  ASSERT_EQ(completion.result_int(), 200) << completion.body();
  EXPECT_TRUE(completion.keep_alive());
  const json c = Body(completion);
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(c["model"], "tiny");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(c["usage"]["completion_tokens"], 4);
  EXPECT_EQ(c["usage"]["prompt_tokens"], 1);

  json chat_body = {{"model", "tiny"},
                    {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                    {"max_tokens", 3},
                    {"temperature", 0},
                    {"chat_template_kwargs", {{"enable_thinking", false}}}};
  Response chat = client.Post("/v1/chat/completions", chat_body);
  ASSERT_EQ(chat.result_int(), 200) << chat.body();
  const json j = Body(chat);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 5);  // the template's tokens
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.Get("/health").result_int(), 200);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  TestClient client(stack_->port());
  const std::string body = Completion().dump();
  std::string requests;
  requests +=
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  requests += "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
  requests += "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
  client.SendRaw(requests);
  Response first = client.Read();
  EXPECT_EQ(first.result_int(), 200);
  EXPECT_EQ(Body(first)["object"], "text_completion");
  Response second = client.Read();
  EXPECT_EQ(Body(second)["object"], "list");
  Response third = client.Read();
  EXPECT_EQ(third.result_int(), 404);
}

TEST_F(HttpServerTest, ErrorStatusesAndShapes) {
  StartServer();
  TestClient client(stack_->port());
  Response route = client.Get("/v1/nowhere");
  EXPECT_EQ(route.result_int(), 404);
  EXPECT_EQ(Body(route)["error"]["type"], "not_found_error");
  Response method = client.Get("/v1/completions");
  EXPECT_EQ(method.result_int(), 405);
  EXPECT_EQ(method[bhttp::field::allow], "POST");
  EXPECT_EQ(client.Call(bhttp::verb::post, "/health").result_int(), 405);
  Response model = client.Post("/v1/completions", Completion({{"model", "gpt-4"}}));
  EXPECT_EQ(model.result_int(), 404);
  EXPECT_EQ(Body(model)["error"]["param"], "model");
  EXPECT_EQ(Body(model)["error"]["code"], "model_not_found");
  Response malformed = client.Call(bhttp::verb::post, "/v1/completions", "{\"prompt\": ");
  EXPECT_EQ(malformed.result_int(), 400);
  EXPECT_EQ(Body(malformed)["error"]["type"], "invalid_request_error");
  Response range = client.Post("/v1/completions", Completion({{"temperature", 3}}));
  EXPECT_EQ(range.result_int(), 400);
  EXPECT_EQ(Body(range)["error"]["param"], "temperature");
  Response context = client.Post("/v1/completions", Completion({{"max_tokens", 5000}}));
  EXPECT_EQ(context.result_int(), 400);
  EXPECT_EQ(Body(context)["error"]["param"], "max_tokens");
  EXPECT_NE(Body(context)["error"]["message"].get<std::string>().find("4096"), std::string::npos);
  Response role =
      client.Post("/v1/chat/completions", {{"messages", {{{"role", "robot"}, {"content", "x"}}}}});
  EXPECT_EQ(role.result_int(), 400);
  EXPECT_EQ(Body(role)["error"]["param"], "messages[0].role");
  // The connection survives all of these.
  EXPECT_EQ(client.Get("/health").result_int(), 200);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413) {
  StackOptions options;
  options.server.max_request_body_bytes = 1024;
  StartServer(options);
  TestClient client(stack_->port());
  Response response =
      client.Post("/v1/completions", Completion({{"prompt", std::string(4096, 'a')}}));
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_EQ(Body(response)["error"]["code"], "request_too_large");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(client.ServerClosed());
  // Under the limit is fine.
  TestClient other(stack_->port());
  EXPECT_EQ(other.Post("/v1/completions", Completion()).result_int(), 200);
}

TEST_F(HttpServerTest, ApiKey) {
  StackOptions options;
  options.server.api_key = "sekret";
  StartServer(options);
  TestClient client(stack_->port());
  Response missing = client.Get("/v1/models");
  EXPECT_EQ(missing.result_int(), 401);
  EXPECT_EQ(Body(missing)["error"]["type"], "authentication_error");
  EXPECT_EQ(client.Get("/v1/models", {{"Authorization", "Bearer wrong"}}).result_int(), 401);
  EXPECT_EQ(client.Post("/v1/completions", Completion()).result_int(), 401);
  EXPECT_EQ(client.Get("/v1/models", {{"Authorization", "Bearer sekret"}}).result_int(), 200);
  EXPECT_EQ(client.Post("/v1/completions", Completion(), {{"Authorization", "Bearer sekret"}})
                .result_int(),
            200);
  EXPECT_EQ(client.Get("/health").result_int(), 200);
  EXPECT_EQ(client.Get("/ready").result_int(), 200);
  EXPECT_EQ(client.Get("/metrics").result_int(), 200);
}

TEST_F(HttpServerTest, StreamingIsWellFramedSseAndTheConnectionIsReused) {
  StartServer();
  TestClient client(stack_->port());
  Response stream =
      client.Post("/v1/chat/completions", {{"model", "tiny"},
                                           {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                           {"max_tokens", 6},
                                           {"temperature", 0},
                                           {"n", 2},
                                           {"stream", true},
                                           {"stream_options", {{"include_usage", true}}}});
  ASSERT_EQ(stream.result_int(), 200);
  EXPECT_EQ(stream[bhttp::field::content_type], "text/event-stream; charset=utf-8");
  EXPECT_TRUE(stream.chunked());
  bool well_framed = false;
  std::vector<json> events = SseEvents(stream.body(), &well_framed);
  ASSERT_TRUE(well_framed) << stream.body();
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  const json& usage = events[events.size() - 2];
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 12);
  std::map<int, std::string> finish;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    EXPECT_EQ(events[i]["object"], "chat.completion.chunk");
    EXPECT_TRUE(events[i].contains("usage") && events[i]["usage"].is_null());
    const json& choice = events[i]["choices"][0];
    if (!choice["finish_reason"].is_null()) finish[choice["index"]] = choice["finish_reason"];
  }
  EXPECT_EQ(finish, (std::map<int, std::string>{{0, "length"}, {1, "length"}}));
  EXPECT_EQ(client.Post("/v1/completions", Completion()).result_int(), 200);
}

TEST_F(HttpServerTest, ClientClosingMidStreamCancelsAndFreesKvBlocks) {
  StartServer();
  TestClient client(stack_->port());
  client.Send(bhttp::verb::post, "/v1/completions",
              Completion({{"max_tokens", 4000}, {"ignore_eos", true}, {"stream", true}}).dump());
  auto& parser = client.ReadHeader();
  EXPECT_EQ(parser.get().result_int(), 200);
  while (client.ReadSome().find("\n\n") == std::string::npos) {
  }
  EXPECT_EQ(stack_->loop().Metrics().num_requests_running, 1);
  client.Close();
  EXPECT_TRUE(WaitFor([&] { return EngineIdle(); }, 5s));
  EXPECT_EQ(stack_->loop().Metrics().request_success_total["abort"], 1);
}

TEST_F(HttpServerTest, ClientResetMidStreamCancels) {
  StartServer();
  TestClient client(stack_->port());
  client.Send(bhttp::verb::post, "/v1/completions",
              Completion({{"max_tokens", 4000}, {"ignore_eos", true}, {"stream", true}}).dump());
  client.ReadHeader();
  client.ReadSome();
  client.Reset();
  EXPECT_TRUE(WaitFor([&] { return EngineIdle(); }, 5s));
}

TEST_F(HttpServerTest, NonStreamingClientThatDisconnectsIsCancelled) {
  StartServer();
  TestClient client(stack_->port());
  client.Send(bhttp::verb::post, "/v1/completions",
              Completion({{"max_tokens", 4000}, {"ignore_eos", true}, {"n", 2}}).dump());
  ASSERT_TRUE(WaitFor([&] { return stack_->loop().Metrics().num_requests_running == 2; }));
  client.Close();
  EXPECT_TRUE(WaitFor([&] { return EngineIdle(); }, 5s));
  EXPECT_EQ(stack_->loop().Metrics().request_success_total["abort"], 2);
}

TEST_F(HttpServerTest, QueueFullIs429) {
  StackOptions options;
  options.max_queued_requests = 1;
  StartServer(options);
  TestClient client(stack_->port());
  Response response = client.Post("/v1/completions", Completion({{"n", 2}, {"max_tokens", 50}}));
  EXPECT_EQ(response.result_int(), 429);
  EXPECT_EQ(Body(response)["error"]["type"], "rate_limit_error");
  EXPECT_TRUE(WaitFor([&] { return EngineIdle(); }));
  EXPECT_EQ(client.Post("/v1/completions", Completion()).result_int(), 200);
}

TEST_F(HttpServerTest, DrainingAnswers503ButStaysAlive) {
  StartServer();
  TestClient client(stack_->port());
  stack_->server().BeginDrain();
  Response response = client.Post("/v1/completions", Completion());
  EXPECT_EQ(response.result_int(), 503);
  EXPECT_FALSE(response.keep_alive());
  TestClient other(stack_->port());
  EXPECT_EQ(other.Get("/ready").result_int(), 503);
  TestClient third(stack_->port());
  EXPECT_EQ(third.Get("/health").result_int(), 200);
}

TEST_F(HttpServerTest, IdleAndHeaderTimeoutsCloseConnections) {
  StackOptions options;
  options.http.idle_timeout = 200ms;
  options.http.header_timeout = 200ms;
  StartServer(options);
  TestClient idle(stack_->port());
  EXPECT_EQ(idle.Get("/health").result_int(), 200);
  std::this_thread::sleep_for(400ms);
  EXPECT_TRUE(idle.ServerClosed());
  TestClient slow(stack_->port());
  slow.SendRaw("GET /health HTTP/1.1\r\nHost: x\r\n");  // never finished
  EXPECT_EQ(slow.Read().result_int(), 408);
  EXPECT_TRUE(slow.ServerClosed());
}

TEST_F(HttpServerTest, ExpectContinueAndHttp10) {
  StartServer();
  TestClient client(stack_->port());
  const std::string body = Completion().dump();
  client.SendRaw(
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  Response interim = client.Read();
  EXPECT_EQ(interim.result_int(), 100);
  client.SendRaw(body);
  EXPECT_EQ(client.Read().result_int(), 200);

  TestClient old(stack_->port());
  old.SendRaw("GET /health HTTP/1.0\r\n\r\n");
  Response response = old.Read();
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_TRUE(old.ServerClosed());
}

TEST_F(HttpServerTest, ShutdownClosesConnectionsAndCancelsGenerations) {
  StartServer();
  TestClient client(stack_->port());
  client.Send(bhttp::verb::post, "/v1/completions",
              Completion({{"max_tokens", 4000}, {"ignore_eos", true}, {"stream", true}}).dump());
  client.ReadHeader();
  client.ReadSome();
  stack_->server().Shutdown();
  EXPECT_TRUE(WaitFor([&] { return EngineIdle(); }, 5s));
  bool closed = false;
  try {
    while (true) client.ReadSome();
  } catch (const boost::system::system_error&) {
    closed = true;
  }
  EXPECT_TRUE(closed);
}

TEST_F(HttpServerTest, StartFailsCleanlyOnAPortInUse) {
  StartServer();
  config::ServerOptions options;
  options.host = "127.0.0.1";
  options.http_port = stack_->port();
  auto second = http::HttpServer::Start(options, http::HttpServices{});
  EXPECT_FALSE(second.ok());
  options.host = "not-an-address";
  EXPECT_FALSE(http::HttpServer::Start(options, http::HttpServices{}).ok());
  // Without a model: probes answer, generation is 503.
  options.host = "127.0.0.1";
  options.http_port = 0;
  auto bare = http::HttpServer::Start(options, http::HttpServices{});
  ASSERT_TRUE(bare.ok()) << bare.status();
  TestClient client((*bare)->port());
  EXPECT_EQ(client.Get("/health").result_int(), 200);
  EXPECT_EQ(client.Get("/ready").result_int(), 503);
  EXPECT_EQ(client.Post("/v1/completions", Completion()).result_int(), 503);
}

}  // namespace
}  // namespace strata::server::testing
