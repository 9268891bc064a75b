// A complete serving stack for HTTP tests: a generated `tiny` model (Qwen3 shape with the
// real Qwen3 tokenizer and chat template), CpuWorker, EngineLoop, GenerationService and
// HttpServer on a free port. Shared by tests/server/http and the e2e test server.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/chat_template/chat_template.h"
#include "server/generation/generation_service.h"
#include "server/http/http_server.h"
#include "server/tokenizer/tokenizer.h"
#include "tools/mkmodel/model_writer.h"
#include "worker/cpu_worker.h"
#include "worker/model_shapes.h"

namespace strata::server::testing {

// Writes the `tiny` model (seed 0) with the Qwen3 tokenizer files into `dir`.
inline absl::Status WriteTinyModel(const std::string& dir) {
  absl::StatusOr<worker::ModelShape> shape = worker::NamedModelShape("tiny");
  if (!shape.ok()) return shape.status();
  absl::StatusOr<std::string> tokenizer_dir = mkmodel::FindTokenizerDir("qwen3", "");
  if (!tokenizer_dir.ok()) return tokenizer_dir.status();
  mkmodel::WriteOptions options;
  options.out_dir = dir;
  options.shape_name = "tiny";
  options.seed = 0;
  options.force = true;
  options.threads = 2;
  options.tokenizer_dir = *tokenizer_dir;
  options.verbose = false;
  return mkmodel::WriteModelDirectory(*shape, options);
}

struct StackOptions {
  config::ServerOptions server;
  http::HttpServerOptions http;
  int32_t num_blocks = 1024;  // 16-token KV blocks
  int32_t max_num_seqs = 64;
  int32_t max_batch_tokens = 1024;
  int64_t max_model_len = 0;  // 0: the model's 4096
  int32_t max_queued_requests = 256;
  int worker_threads = 2;
  std::string served_model_name = "tiny";
  bool metrics = true;  // a small /metrics renderer from EngineLoop::Metrics()
  // Another backend (the e2e server's --backend cuda); unset: a CpuWorker.
  std::function<absl::StatusOr<std::unique_ptr<worker::Worker>>(const std::string& model_dir)>
      make_worker;
};

class Stack {
 public:
  static absl::StatusOr<std::unique_ptr<Stack>> Start(const std::string& model_dir,
                                                      StackOptions options) {
    auto stack = std::unique_ptr<Stack>(new Stack());
    auto tokenizer = Tokenizer::Load(model_dir);
    if (!tokenizer.ok()) return tokenizer.status();
    stack->tokenizer_ = std::move(*tokenizer);
    if (!stack->tokenizer_->chat_template().empty()) {
      auto compiled = ChatTemplate::Compile(stack->tokenizer_->chat_template());
      if (!compiled.ok()) return compiled.status();
      stack->chat_template_.emplace(std::move(*compiled));
    }
    absl::StatusOr<std::unique_ptr<worker::Worker>> worker =
        options.make_worker
            ? options.make_worker(model_dir)
            : absl::StatusOr<std::unique_ptr<worker::Worker>>(worker::CpuWorker::Create(
                  model_dir, {.block_size = 16,
                              .num_blocks = options.num_blocks,
                              .num_threads = options.worker_threads}));
    if (!worker.ok()) return worker.status();
    stack->loop_ = std::make_unique<scheduler::EngineLoop>(
        std::move(*worker),
        scheduler::EngineOptions{.max_num_seqs = options.max_num_seqs,
                                 .max_batch_tokens = options.max_batch_tokens,
                                 .max_model_len = options.max_model_len},
        scheduler::EngineLoopOptions{.max_queued_requests = options.max_queued_requests});
    stack->loop_->Start();
    stack->generation_ =
        std::make_unique<GenerationService>(stack->loop_.get(), stack->tokenizer_.get());
    http::HttpServices services;
    services.generation = stack->generation_.get();
    services.chat_template = stack->chat_template_ ? &*stack->chat_template_ : nullptr;
    services.served_model_name = options.served_model_name;
    if (options.metrics) {
      scheduler::EngineLoop* loop = stack->loop_.get();
      services.metrics_renderer = [loop] {
        const scheduler::EngineMetricsSnapshot m = loop->Metrics();
        return absl::StrCat("strata:num_requests_running ", m.num_requests_running,
                            "\nstrata:kv_blocks_used ", m.kv_blocks_used, "\n");
      };
    }
    auto server = http::HttpServer::Start(options.server, std::move(services), options.http);
    if (!server.ok()) return server.status();
    stack->server_ = std::move(*server);
    return stack;
  }

  ~Stack() {
    if (server_) server_->Shutdown();
    if (loop_) loop_->Stop();
  }

  int port() const { return server_->port(); }
  http::HttpServer& server() { return *server_; }
  scheduler::EngineLoop& loop() { return *loop_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  Stack() = default;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  std::unique_ptr<scheduler::EngineLoop> loop_;
  std::unique_ptr<GenerationService> generation_;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace strata::server::testing
