// The gRPC frontend: serves strata.v1.Strata (proto/strata/v1/strata.proto) over the
// GenerationService, and the standard grpc.health.v1.Health service (gRPC's built-in one).
// Uses gRPC's callback API: handlers validate and submit without blocking, and each
// Generate stream is a GenerateReactor fed by the engine thread.
//
// Health: SERVING (the server as a whole and "strata.v1.Strata") from Start(), which is
// called once the model is loaded; NOT_SERVING from BeginDrain() on.
//
// Thread-safety: every method may be called from any thread. The GenerationService must
// outlive the server, and its engine loop must deliver every submitted request's final
// event (it does, also when stopped), since each open stream waits for that.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "config/strata_config.h"
#include "server/generation/generation_service.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace strata::server {

class GrpcServer {
 public:
  // Listens on options.host:options.grpc_port (port 0: any free port, see port()), with TLS
  // when options.tls_cert_file/tls_key_file are set (and client certificates required with
  // tls_client_ca_file). With options.api_key / api_key_file, strata.v1.Strata calls need
  // "authorization: Bearer <key>" metadata (else UNAUTHENTICATED); the health service stays
  // open. options.max_request_body_bytes bounds a request message. `service` is not owned.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const config::ServerOptions& options,
                                                           GenerationService* service,
                                                           std::string served_model_name);
  ~GrpcServer();  // Shutdown(now) unless already shut down

  // Health turns NOT_SERVING and new Generate calls fail with UNAVAILABLE; streams already
  // open run to completion. Does not drain the engine loop (it may serve other frontends).
  void BeginDrain();
  // Stops accepting calls and waits for open streams until `deadline`, then cancels those
  // still open (which aborts their requests). Idempotent.
  void Shutdown(std::chrono::system_clock::time_point deadline);

  int port() const { return port_; }  // the bound port
  bool tls() const { return tls_; }
  bool draining() const { return draining_.load(); }

 private:
  class StrataService;
  GrpcServer() = default;

  std::atomic<bool> draining_{false};  // read by the service's handlers
  std::unique_ptr<StrataService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool tls_ = false;
  std::atomic<bool> shut_down_{false};
};

}  // namespace strata::server
