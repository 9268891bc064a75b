// A real gRPC stack for tests: CpuWorker + EngineLoop + GenerationService + GrpcServer on a
// free port, and a client channel to it. The tokenizer (and the model for text prompts)
// come from a `tiny` model generated once by strata-mkmodel into the build directory.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "scheduler/engine_loop.h"
#include "server/generation/generation_service.h"
#include "server/grpc/grpc_server.h"
#include "server/tokenizer/tokenizer.h"
#include "strata/v1/strata.grpc.pb.h"

namespace strata::server::testing {

// The committed 512-token Qwen3 fixture (no tokenizer of its own).
std::string ReferenceModelDir();
// The generated tiny Qwen3 model with the real Qwen3 tokenizer; empty, with `why` set,
// when strata-mkmodel is not built or fails.
std::string TinyModelDir(std::string* why);
// The tiny model's tokenizer, loaded once; null (with `why`) when unavailable.
const Tokenizer* SharedTokenizer(std::string* why);

// Skips the test when the tokenizer is unavailable.
#define STRATA_REQUIRE_TOKENIZER()                                     \
  do {                                                                 \
    std::string why;                                                   \
    if (::strata::server::testing::SharedTokenizer(&why) == nullptr) { \
      GTEST_SKIP() << why;                                             \
    }                                                                  \
  } while (0)

struct TestServerOptions {
  std::string model_dir;  // empty: ReferenceModelDir()
  std::string api_key;
  int32_t max_queued_requests = 64;
  int32_t num_blocks = 256;
  // Further server settings (api_key_file, tls_*); host, grpc_port and api_key come from
  // the fields above.
  config::ServerOptions server;
  // The credentials of channel(); null: insecure. TLS channels expect the server's
  // certificate to name "localhost".
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class TestServer {
 public:
  // Needs SharedTokenizer() to be available.
  explicit TestServer(TestServerOptions options = {});
  ~TestServer();

  scheduler::EngineLoop& loop() { return *loop_; }
  GrpcServer& server() { return *server_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // Another channel to the server, with `credentials`.
  std::shared_ptr<grpc::Channel> NewChannel(
      std::shared_ptr<grpc::ChannelCredentials> credentials) const;
  strata::v1::Strata::Stub& stub() { return *stub_; }

  // Waits until the engine runs nothing and holds no KV blocks; false after `timeout_ms`.
  bool WaitIdle(int timeout_ms = 10000);

 private:
  const Tokenizer* tokenizer_ = nullptr;
  std::unique_ptr<scheduler::EngineLoop> loop_;
  std::unique_ptr<GenerationService> generation_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<strata::v1::Strata::Stub> stub_;
};

// A whole Generate stream, read to its end.
struct StreamResult {
  std::vector<strata::v1::GenerateResponse> messages;
  grpc::Status status;
  std::vector<int32_t> tokens;  // every message's token_ids, concatenated
  std::string text;             // every message's text, concatenated
};
StreamResult Generate(strata::v1::Strata::Stub& stub, const strata::v1::GenerateRequest& request,
                      const std::string& api_key = "");

// A greedy request for `max_tokens` tokens of the prompt {5, 6, 7} that ignores EOS.
strata::v1::GenerateRequest GreedyRequest(int32_t max_tokens);

}  // namespace strata::server::testing
