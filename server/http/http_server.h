// The OpenAI-compatible HTTP/1.1 server: POST /v1/chat/completions and /v1/completions
// (JSON or SSE streaming), GET /v1/models[/{id}], /health, /ready and /metrics. Boost.Beast
// over Asio with a pool of io threads, plain TCP or TLS (server.tls_*); each connection runs
// on its own strand, keep-alive and pipelining safe, with idle / header / body timeouts.
// With server.api_key / server.api_key_file, /v1/* needs "Authorization: Bearer <key>";
// /health, /ready and /metrics stay open. Engine events reach a connection
// by a post to its strand (event_gate.h); a client that goes away cancels its generations.
//
// Thread-safety: Start, port, BeginDrain and Shutdown may be called from any thread.
// The services passed in must outlive the server (Shutdown or destruction).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "config/strata_config.h"
#include "server/chat_template/chat_template.h"
#include "server/generation/generation_service.h"

namespace strata::server::http {

struct HttpServices {
  // Not owned. Null: no model loaded; generation routes and /ready answer 503.
  GenerationService* generation = nullptr;
  // Not owned. Null: the model has no chat template; chat completions answer 400.
  const ChatTemplate* chat_template = nullptr;
  std::string served_model_name;  // the only `model` accepted, listed by /v1/models
  // The Prometheus text of GET /metrics, called on an io thread. Null: an empty body.
  std::function<std::string()> metrics_renderer;
};

// Settings beyond config::ServerOptions (candidates for the server section of the config).
struct HttpServerOptions {
  int io_threads = 2;
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive: between requests
  std::chrono::milliseconds header_timeout{10'000};  // first byte (TLS: connect) to end of header
  std::chrono::milliseconds body_timeout{60'000};    // end of the header to end of the body
  std::chrono::milliseconds engine_stall_limit{30'000};  // /ready: EngineLoop::Healthy
  std::chrono::milliseconds shutdown_grace{2'000};       // Shutdown waits this long for sessions
};

struct ServerContext;

class HttpServer {
 public:
  // Loads the API keys and TLS files (errors name the config key), binds
  // server.host:server.http_port (port 0: a free port) and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const config::ServerOptions& options,
                                                           HttpServices services,
                                                           HttpServerOptions http_options = {});
  ~HttpServer();  // Shutdown()

  int port() const { return port_; }
  bool tls() const { return tls_; }
  // New generation requests get 503 and /ready turns 503; running requests finish and
  // connections close after their current response. (The engine loop is drained by its
  // owner, which also serves gRPC.)
  void BeginDrain();
  // Stops accepting, closes every connection (cancelling their generations) and joins the
  // io threads. Idempotent. Not to be called from an io thread (a handler).
  void Shutdown();

 private:
  HttpServer();
  void Accept();

  std::shared_ptr<ServerContext> context_;
  struct Io;
  std::unique_ptr<Io> io_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  bool tls_ = false;
  std::atomic<bool> shut_down_{false};
};

}  // namespace strata::server::http
