// The gRPC API's error statuses and messages.
#include <gtest/gtest.h>

#include <functional>

#include "tests/server/grpc/test_server.h"

namespace strata::server::testing {
namespace {

using strata::v1::GenerateRequest;

struct BadRequest {
  std::function<void(GenerateRequest*)> edit;
  std::string message;
};

TEST(GrpcErrorsTest, InvalidArgumentNamesTheField) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  const std::vector<BadRequest> cases = {
      {[](GenerateRequest* r) { r->mutable_sampling()->set_temperature(3); },
       "sampling.temperature: must be in [0, 2], got 3"},
      {[](GenerateRequest* r) { r->mutable_sampling()->set_temperature(-0.5); },
       "sampling.temperature: must be in [0, 2], got -0.5"},
      {[](GenerateRequest* r) { r->mutable_sampling()->set_top_p(0); },
       "sampling.top_p: must be in (0, 1], got 0"},
      {[](GenerateRequest* r) { r->mutable_sampling()->set_top_p(1.5); },
       "sampling.top_p: must be in (0, 1], got 1.5"},
      {[](GenerateRequest* r) { r->mutable_sampling()->set_top_k(-2); },
       "sampling.top_k: must be -1 or 0 (off) or at least 1, got -2"},
      {[](GenerateRequest* r) { r->mutable_sampling()->set_min_p(1.25); },
       "sampling.min_p: must be in [0, 1], got 1.25"},
      {[](GenerateRequest* r) { r->mutable_sampling()->set_presence_penalty(2.5); },
       "sampling.presence_penalty: must be in [-2, 2], got 2.5"},
      {[](GenerateRequest* r) { r->mutable_sampling()->set_frequency_penalty(-3); },
       "sampling.frequency_penalty: must be in [-2, 2], got -3"},
      {[](GenerateRequest* r) { r->mutable_sampling()->set_repetition_penalty(0); },
       "sampling.repetition_penalty: must be in (0, 2], got 0"},
      {[](GenerateRequest* r) { r->set_max_tokens(0); }, "max_tokens: must be at least 1, got 0"},
      {[](GenerateRequest* r) { r->set_top_logprobs(21); },
       "top_logprobs: must be in [0, 20], got 21"},
      {[](GenerateRequest* r) { r->set_top_logprobs(2); },
       "top_logprobs: requires logprobs to be true"},
      {[](GenerateRequest* r) {
         for (int i = 0; i < 5; ++i) r->add_stop("x");
       },
       "stop: at most 4 stop strings, got 5"},
      {[](GenerateRequest* r) { r->add_stop(""); }, "stop[0]: is empty"},
      {[](GenerateRequest* r) { r->add_stop_token_ids(512); },
       "stop_token_ids[0]: 512 is outside the vocabulary [0, 512)"},
      {[](GenerateRequest* r) { r->set_kv_budget_tokens(-1); },
       "kv_budget_tokens: must be >= 0 (0: no bound), got -1"},
      {[](GenerateRequest* r) { r->set_eviction_policy("arkv"); },
       "eviction_policy: must be \"none\", \"streaming\", \"heavy_hitter\" or "
       "\"adaptive_precision\", got \"arkv\""},
      {[](GenerateRequest* r) { r->clear_token_ids(); }, "input: set either text or token_ids"},
      {[](GenerateRequest* r) { r->mutable_token_ids()->clear_ids(); },
       "token_ids: must not be empty"},
      {[](GenerateRequest* r) { r->set_text(""); }, "text: must not be empty"},
      {[](GenerateRequest* r) { r->mutable_token_ids()->add_ids(9999); },
       "token_ids.ids[3]: 9999 is outside the vocabulary [0, 512)"},
      {[](GenerateRequest* r) { r->set_max_tokens(2046); },
       "max_tokens: the prompt (3 tokens) plus max_tokens (2046) is 2049 tokens, beyond the "
       "model's context length of 2048"},
      {[](GenerateRequest* r) {
         for (int i = 0; i < 2048; ++i) r->mutable_token_ids()->add_ids(5);
         r->clear_max_tokens();
       },
       "input: the prompt has 2051 tokens, leaving no room for a completion in the model's "
       "context length of 2048 tokens"},
  };
  for (const BadRequest& c : cases) {
    GenerateRequest request = GreedyRequest(4);
    c.edit(&request);
    StreamResult r = Generate(server.stub(), request);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_EQ(r.status.error_message(), c.message);
    EXPECT_TRUE(r.messages.empty());
  }
  // Nothing reached the engine.
  EXPECT_EQ(server.loop().Metrics().prompt_tokens_total, 0);
}

TEST(GrpcErrorsTest, AcceptsTheBoundsOfEachRange) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  GenerateRequest request = GreedyRequest(2);
  strata::v1::SamplingParams* s = request.mutable_sampling();
  s->set_temperature(2);
  s->set_top_p(1);
  s->set_top_k(-1);
  s->set_min_p(0);
  s->set_presence_penalty(-2);
  s->set_frequency_penalty(2);
  s->set_repetition_penalty(2);
  s->set_seed(7);
  request.set_logprobs(true);
  request.set_top_logprobs(20);
  request.set_kv_budget_tokens(1024);
  request.set_eviction_policy("heavy_hitter");
  for (const char* stop : {"a", "b", "c", "d"}) request.add_stop(stop);
  StreamResult r = Generate(server.stub(), request);
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  // The prompt plus max_tokens may fill the whole context.
  GenerateRequest whole = GreedyRequest(2045);
  whole.mutable_token_ids()->clear_ids();
  for (int i = 0; i < 2040; ++i) whole.mutable_token_ids()->add_ids(5 + i % 100);
  whole.set_max_tokens(8);
  StreamResult filled = Generate(server.stub(), whole);
  EXPECT_TRUE(filled.status.ok()) << filled.status.error_message();
  EXPECT_EQ(filled.tokens.size(), 8u);
}

TEST(GrpcErrorsTest, UnknownModelIsNotFound) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  GenerateRequest request = GreedyRequest(4);
  request.set_model("gpt-4");
  StreamResult r = Generate(server.stub(), request);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(r.status.error_message(),
            "model 'gpt-4' is not served here; this server serves 'test-model'");
  request.set_model("test-model");
  EXPECT_TRUE(Generate(server.stub(), request).status.ok());
}

TEST(GrpcErrorsTest, ApiKeyIsRequiredWhenConfigured) {
  STRATA_REQUIRE_TOKENIZER();
  TestServerOptions options;
  options.api_key = "sekrit";
  TestServer server(options);
  StreamResult none = Generate(server.stub(), GreedyRequest(4));
  EXPECT_EQ(none.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(none.status.error_message(),
            "missing API key: send metadata 'authorization: Bearer <key>'");
  StreamResult wrong = Generate(server.stub(), GreedyRequest(4), "sekrix");
  EXPECT_EQ(wrong.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wrong.status.error_message(), "invalid API key");
  StreamResult right = Generate(server.stub(), GreedyRequest(4), "sekrit");
  EXPECT_TRUE(right.status.ok()) << right.status.error_message();
  EXPECT_EQ(right.tokens.size(), 4u);

  grpc::ClientContext context;
  strata::v1::ListModelsResponse response;
  EXPECT_EQ(server.stub().ListModels(&context, {}, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(GrpcErrorsTest, FullQueueIsResourceExhausted) {
  STRATA_REQUIRE_TOKENIZER();
  TestServerOptions options;
  options.max_queued_requests = 1;
  TestServer server(options);
  grpc::ClientContext context;
  auto reader = server.stub().Generate(&context, GreedyRequest(2040));
  strata::v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));  // the first request holds the only queue slot

  StreamResult refused = Generate(server.stub(), GreedyRequest(4));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_FALSE(refused.status.error_message().empty());

  context.TryCancel();
  while (reader->Read(&response)) {
  }
  reader->Finish();
  ASSERT_TRUE(server.WaitIdle());
  EXPECT_TRUE(Generate(server.stub(), GreedyRequest(4)).status.ok());
}

TEST(GrpcErrorsTest, ShutdownCancelsOpenStreams) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server;
  grpc::ClientContext context;
  auto reader = server.stub().Generate(&context, GreedyRequest(2040));
  strata::v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  server.server().Shutdown(std::chrono::system_clock::now());
  while (reader->Read(&response)) {
  }
  EXPECT_FALSE(reader->Finish().ok());
  ASSERT_TRUE(server.WaitIdle());
  const auto finished = server.loop().Metrics().request_success_total;
  EXPECT_EQ(finished.count("abort") ? finished.at("abort") : 0, 1);
}

}  // namespace
}  // namespace strata::server::testing
