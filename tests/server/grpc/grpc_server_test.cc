// The gRPC API end to end: a real client against GrpcServer + EngineLoop + CpuWorker.
#include "server/grpc/grpc_server.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/server/grpc/test_server.h"

namespace strata::server::testing {
namespace {

using strata::v1::GenerateRequest;
using strata::v1::GenerateResponse;

TEST(GrpcServerTest, StreamsTokenIdsTextAndUsageOnTheLastMessage) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  StreamResult r = Generate(server.stub(), GreedyRequest(12));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_FALSE(r.messages.empty());
  EXPECT_EQ(r.tokens.size(), 12u);
  EXPECT_EQ(r.text, server.tokenizer().Decode(r.tokens, /*skip_special_tokens=*/true));
  for (size_t i = 0; i + 1 < r.messages.size(); ++i) {
    EXPECT_EQ(r.messages[i].finish_reason(), strata::v1::FINISH_REASON_UNSPECIFIED);
    EXPECT_FALSE(r.messages[i].has_usage());
    EXPECT_TRUE(r.messages[i].logprobs().empty());  // not asked for
  }
  const GenerateResponse& last = r.messages.back();
  EXPECT_EQ(last.finish_reason(), strata::v1::FINISH_REASON_LENGTH);
  ASSERT_TRUE(last.has_usage());
  EXPECT_EQ(last.usage().prompt_tokens(), 3);
  EXPECT_EQ(last.usage().completion_tokens(), 12);
  EXPECT_EQ(last.usage().total_tokens(), 15);
  EXPECT_TRUE(server.WaitIdle());
}

TEST(GrpcServerTest, GreedyDecodingIsDeterministic) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  StreamResult a = Generate(server.stub(), GreedyRequest(16));
  StreamResult b = Generate(server.stub(), GreedyRequest(16));
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.tokens.size(), 16u);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.text, b.text);
}

TEST(GrpcServerTest, TheSameSeedReproducesSampledTokens) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  auto sampled = [&](uint64_t seed) {
    GenerateRequest request = GreedyRequest(24);
    request.mutable_sampling()->set_temperature(1.0f);
    request.mutable_sampling()->set_seed(seed);
    StreamResult r = Generate(server.stub(), request);
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    return r.tokens;
  };
  const std::vector<int32_t> first = sampled(42);
  EXPECT_EQ(first.size(), 24u);
  EXPECT_EQ(sampled(42), first);
  bool some_seed_differs = false;
  for (uint64_t seed = 1; seed <= 4; ++seed) some_seed_differs |= sampled(seed) != first;
  EXPECT_TRUE(some_seed_differs);
}

TEST(GrpcServerTest, TextPromptIsTokenizedWithTheModelsSpecialTokens) {
  STRATA_REQUIRE_TOKENIZER();
  std::string why;
  TestServerOptions options;
  options.model_dir = TinyModelDir(&why);
  TestServer server(options);
  GenerateRequest request;
  request.set_text("The quick brown fox");
  request.mutable_sampling()->set_temperature(0.0f);
  request.set_max_tokens(6);
  request.set_ignore_eos(true);
  StreamResult r = Generate(server.stub(), request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.tokens.size(), 6u);
  ASSERT_TRUE(r.messages.back().has_usage());
  EXPECT_EQ(
      r.messages.back().usage().prompt_tokens(),
      static_cast<int32_t>(server.tokenizer().EncodeWithSpecial("The quick brown fox").size()));
  EXPECT_EQ(r.text, server.tokenizer().Decode(r.tokens, true));

  // The same prompt as token ids generates the same tokens.
  GenerateRequest by_ids = request;
  for (int32_t id : server.tokenizer().EncodeWithSpecial("The quick brown fox")) {
    by_ids.mutable_token_ids()->add_ids(id);
  }
  EXPECT_EQ(Generate(server.stub(), by_ids).tokens, r.tokens);
}

TEST(GrpcServerTest, StopStringEndsGenerationAndIsNotReturned) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  StreamResult full = Generate(server.stub(), GreedyRequest(32));
  ASSERT_TRUE(full.status.ok());
  // A stop string from the middle of the greedy completion: everything before it comes back.
  const std::string& text = full.text;
  ASSERT_GE(text.size(), 8u) << "the greedy completion is too short: '" << text << "'";
  size_t at = text.size() / 2;
  while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;  // char start
  size_t len = 1;
  while (at + len < text.size() && (static_cast<unsigned char>(text[at + len]) & 0xC0) == 0x80) {
    ++len;
  }
  const std::string stop = text.substr(at, len);
  const std::string expected = text.substr(0, text.find(stop));

  GenerateRequest request = GreedyRequest(32);
  request.add_stop(stop);
  StreamResult r = Generate(server.stub(), request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.text, expected);
  EXPECT_EQ(r.messages.back().finish_reason(), strata::v1::FINISH_REASON_STOP);
  EXPECT_EQ(r.messages.back().stop_string(), stop);
  EXPECT_LT(r.messages.back().usage().completion_tokens(), 32);
  EXPECT_TRUE(server.WaitIdle());
}

TEST(GrpcServerTest, LogprobsComeWithTopAlternatives) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  GenerateRequest request = GreedyRequest(8);
  request.set_logprobs(true);
  request.set_top_logprobs(3);
  StreamResult r = Generate(server.stub(), request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  int positions = 0;
  for (const GenerateResponse& m : r.messages) {
    ASSERT_EQ(m.logprobs_size(), m.token_ids_size());
    for (int i = 0; i < m.logprobs_size(); ++i) {
      const strata::v1::TokenLogprob& lp = m.logprobs(i);
      ++positions;
      EXPECT_EQ(lp.token_id(), m.token_ids(i));
      EXPECT_EQ(lp.token(), server.tokenizer().TokenBytes(lp.token_id()));
      EXPECT_LE(lp.logprob(), 0.0f);
      ASSERT_EQ(lp.top_logprobs_size(), 3);
      // Greedy: the chosen token is the most likely one.
      EXPECT_EQ(lp.top_logprobs(0).token_id(), lp.token_id());
      EXPECT_FLOAT_EQ(lp.top_logprobs(0).logprob(), lp.logprob());
      EXPECT_GE(lp.top_logprobs(0).logprob(), lp.top_logprobs(1).logprob());
      EXPECT_GE(lp.top_logprobs(1).logprob(), lp.top_logprobs(2).logprob());
    }
  }
  EXPECT_EQ(positions, 8);
}

TEST(GrpcServerTest, ClientCancellationAbortsTheRequestAndFreesItsBlocks) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  grpc::ClientContext context;
  auto reader = server.stub().Generate(&context, GreedyRequest(2040));
  GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_GT(server.loop().Metrics().kv_blocks_used, 0);
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(server.WaitIdle());
  const scheduler::EngineMetricsSnapshot m = server.loop().Metrics();
  EXPECT_EQ(m.num_requests_running, 0);
  EXPECT_EQ(m.kv_blocks_used, 0);
  EXPECT_EQ(m.request_success_total.count("abort") ? m.request_success_total.at("abort") : 0, 1);
  EXPECT_LT(m.generation_tokens_total, 2040);
  // The server keeps serving.
  EXPECT_TRUE(Generate(server.stub(), GreedyRequest(4)).status.ok());
}

TEST(GrpcServerTest, ConcurrentStreamsAndCancellationsLeaveTheEngineIdle) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  const std::vector<int32_t> alone = Generate(server.stub(), GreedyRequest(10)).tokens;
  ASSERT_EQ(alone.size(), 10u);
  std::vector<std::thread> clients;
  std::vector<std::vector<int32_t>> tokens(12);
  std::vector<grpc::StatusCode> codes(12);
  for (int i = 0; i < 12; ++i) {
    clients.emplace_back([&, i] {
      if (i % 2 == 0) {
        StreamResult r = Generate(server.stub(), GreedyRequest(10));
        tokens[i] = r.tokens;
        codes[i] = r.status.error_code();
        return;
      }
      // Odd clients cancel after 0, 1 or 2 messages.
      grpc::ClientContext context;
      auto reader = server.stub().Generate(&context, GreedyRequest(1000));
      GenerateResponse response;
      for (int read = 0; read < i % 3 && reader->Read(&response); ++read) {
      }
      context.TryCancel();
      while (reader->Read(&response)) {
      }
      codes[i] = reader->Finish().error_code();
    });
  }
  for (std::thread& t : clients) t.join();
  for (int i = 0; i < 12; ++i) {
    if (i % 2 == 0) {
      EXPECT_EQ(codes[i], grpc::StatusCode::OK);
      EXPECT_EQ(tokens[i], alone);
    } else {
      EXPECT_EQ(codes[i], grpc::StatusCode::CANCELLED);
    }
  }
  EXPECT_TRUE(server.WaitIdle());
}

TEST(GrpcServerTest, ListModelsNamesTheServedModel) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  grpc::ClientContext context;
  strata::v1::ListModelsResponse response;
  grpc::Status status = server.stub().ListModels(&context, {}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.models_size(), 1);
  EXPECT_EQ(response.models(0).name(), "test-model");
  EXPECT_EQ(response.models(0).max_model_len(), 2048);
  EXPECT_EQ(response.models(0).vocab_size(), 512);
  EXPECT_EQ(response.models(0).architecture(), "Qwen3ForCausalLM");
}

TEST(GrpcServerTest, HealthIsServingThenNotServingOnceDraining) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  using grpc::health::v1::HealthCheckRequest;
  using grpc::health::v1::HealthCheckResponse;
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  auto check = [&](const std::string& service) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status status = health->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.status();
  };
  EXPECT_EQ(check(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(check("strata.v1.Strata"), HealthCheckResponse::SERVING);
  {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service("no.such.Service");
    HealthCheckResponse response;
    EXPECT_EQ(health->Check(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }

  grpc::ClientContext watch_context;
  auto watch = health->Watch(&watch_context, HealthCheckRequest());
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);

  server.server().BeginDrain();
  EXPECT_EQ(check(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(check("strata.v1.Strata"), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  watch_context.TryCancel();
  watch->Finish();

  StreamResult r = Generate(server.stub(), GreedyRequest(4));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(r.status.error_message(), "the server is draining and accepts no new requests");
}

}  // namespace
}  // namespace strata::server::testing
