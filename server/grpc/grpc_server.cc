#include "server/grpc/grpc_server.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "server/grpc/generate_reactor.h"
#include "server/grpc/request_convert.h"
#include "server/security/api_keys.h"
#include "server/security/tls_files.h"
#include "strata/v1/strata.grpc.pb.h"

namespace strata::server {
namespace {

constexpr char kServiceName[] = "strata.v1.Strata";

// Insecure credentials, or TLS (mutual when client CAs are given).
std::shared_ptr<grpc::ServerCredentials> Credentials(const std::optional<security::TlsFiles>& tls) {
  if (!tls.has_value()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      tls->mutual() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                    : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_root_certs = tls->client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({tls->private_key_pem, tls->cert_chain_pem});
  return grpc::SslServerCredentials(ssl);
}

// "host:port", bracketing IPv6 literals.
std::string ListenAddress(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos && !host.starts_with("[");
  return ipv6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

}  // namespace

class GrpcServer::StrataService final : public strata::v1::Strata::CallbackService {
 public:
  StrataService(GenerationService* generation, std::string model_name, security::ApiKeys api_keys,
                const std::atomic<bool>* draining)
      : generation_(generation),
        model_name_(std::move(model_name)),
        api_keys_(std::move(api_keys)),
        draining_(draining) {}

  grpc::ServerWriteReactor<strata::v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const strata::v1::GenerateRequest* request) override {
    if (grpc::Status s = Admit(*context, request->model(), /*serving_only=*/true); !s.ok()) {
      return grpc_api::GenerateReactor::Fail(s);
    }
    const grpc_api::ModelLimits limits{
        .max_model_len = generation_->max_model_len(),
        .vocab_size = generation_->loop().model_config().vocab_size,
    };
    absl::StatusOr<GenerationParams> params =
        grpc_api::ToGenerationParams(*request, generation_->tokenizer(), limits);
    if (!params.ok()) {
      return grpc_api::GenerateReactor::Fail(grpc_api::ToGrpcStatus(params.status()));
    }
    return grpc_api::GenerateReactor::Start(generation_, std::move(*params), request->logprobs());
  }

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const strata::v1::ListModelsRequest* /*request*/,
                                       strata::v1::ListModelsResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (grpc::Status s = Admit(*context, "", /*serving_only=*/false); !s.ok()) {
      reactor->Finish(s);
      return reactor;
    }
    const worker::ModelConfig& config = generation_->loop().model_config();
    strata::v1::ModelInfo* model = response->add_models();
    model->set_name(model_name_);
    model->set_max_model_len(generation_->max_model_len());
    model->set_vocab_size(config.vocab_size);
    model->set_architecture(config.architecture_name);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  // Authentication, then (for calls that start work) the drain state, then the model name.
  grpc::Status Admit(const grpc::CallbackServerContext& context, const std::string& model,
                     bool serving_only) const {
    if (api_keys_.enabled()) {
      const auto& metadata = context.client_metadata();
      auto it = metadata.find("authorization");
      if (it == metadata.end()) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                            "missing API key: send metadata 'authorization: Bearer <key>'");
      }
      if (!api_keys_.AcceptsBearer(std::string_view(it->second.data(), it->second.size()))) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid API key");
      }
    }
    if (serving_only && (draining_->load() || generation_->loop().draining())) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the server is draining and accepts no new requests");
    }
    if (!model.empty() && model != model_name_) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("model '", model,
                                       "' is not served here; this server "
                                       "serves '",
                                       model_name_, "'"));
    }
    return grpc::Status::OK;
  }

  GenerationService* const generation_;
  const std::string model_name_;
  const security::ApiKeys api_keys_;
  const std::atomic<bool>* const draining_;
};

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const config::ServerOptions& options,
                                                              GenerationService* service,
                                                              std::string served_model_name) {
  absl::StatusOr<security::ApiKeys> api_keys = security::ApiKeys::Load(options);
  if (!api_keys.ok()) return api_keys.status();
  absl::StatusOr<std::optional<security::TlsFiles>> tls = security::LoadTlsFiles(options);
  if (!tls.ok()) return tls.status();
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->tls_ = tls->has_value();
  server->service_ = std::make_unique<StrataService>(service, std::move(served_model_name),
                                                     std::move(*api_keys), &server->draining_);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string address = ListenAddress(options.host, options.grpc_port);
  builder.AddListeningPort(address, Credentials(*tls), &server->port_);
  builder.RegisterService(server->service_.get());
  if (options.max_request_body_bytes > 0) {
    builder.SetMaxReceiveMessageSize(static_cast<int>(
        std::min<int64_t>(options.max_request_body_bytes, std::numeric_limits<int>::max())));
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("gRPC: cannot listen on ", address));
  }
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    health->SetServingStatus(kServiceName, true);
  }
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::system_clock::now()); }

void GrpcServer::BeginDrain() {
  if (draining_.exchange(true) || server_ == nullptr) return;
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
    health->SetServingStatus(kServiceName, false);
  }
}

void GrpcServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (shut_down_.exchange(true) || server_ == nullptr) return;
  BeginDrain();
  server_->Shutdown(deadline);
  server_->Wait();
}

}  // namespace strata::server
