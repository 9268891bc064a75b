#include "server/http/routes.h"

#include "server/http/generation_exchange.h"
#include "server/http/http_session.h"
#include "server/http/server_context.h"
#include "server/openai/response_builder.h"

namespace strata::server::http {
namespace {

namespace bhttp = boost::beast::http;

constexpr char kJson[] = "application/json";
constexpr char kMetricsType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kModelsPrefix = "/v1/models/";

// Answers 405 unless `method` is `allowed`.
bool CheckMethod(HttpSession& session, bhttp::verb method, bhttp::verb allowed,
                 std::string_view method_name, std::string_view path) {
  if (method == allowed) return true;
  session.set_allow_header(std::string(bhttp::to_string(allowed)));
  session.SendError(openai::MethodNotAllowed(std::string(method_name), std::string(path)));
  return false;
}

}  // namespace

void RouteRequest(const std::shared_ptr<HttpSession>& session, ServerContext& context,
                  bhttp::request<bhttp::string_body> request) {
  const std::string_view target(request.target().data(), request.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  const bhttp::verb method = request.method();
  const std::string_view method_name(request.method_string().data(),
                                     request.method_string().size());

  // Probes and metrics stay open without an API key (as in vLLM): orchestrators and
  // Prometheus need no secret, and neither carries request content.
  if (path == "/health") {
    if (CheckMethod(*session, method, bhttp::verb::get, method_name, path)) {
      session->SendResponse(200, kJson, "{}");
    }
    return;
  }
  if (path == "/ready") {
    if (!CheckMethod(*session, method, bhttp::verb::get, method_name, path)) return;
    if (context.Ready()) {
      session->SendResponse(200, kJson, R"({"status":"ready"})");
    } else {
      session->SendError(openai::Unavailable(
          context.services.generation == nullptr ? "No model is loaded."
          : context.draining.load()              ? "The server is draining."
                                                 : "The engine is not healthy or draining."));
    }
    return;
  }
  if (path == "/metrics") {
    if (!CheckMethod(*session, method, bhttp::verb::get, method_name, path)) return;
    const auto& render = context.services.metrics_renderer;
    session->SendResponse(200, kMetricsType, render ? render() : std::string());
    return;
  }

  const auto authorization = request[bhttp::field::authorization];
  if (context.api_keys.enabled() && path.starts_with("/v1/") &&
      !context.api_keys.AcceptsBearer(
          std::string_view(authorization.data(), authorization.size()))) {
    session->SendError(openai::Unauthorized(
        authorization.empty() ? "Missing API key: send it as 'Authorization: Bearer <key>'."
                              : "Incorrect API key provided."));
    return;
  }

  const std::string& model = context.services.served_model_name;
  const int64_t max_model_len =
      context.services.generation != nullptr ? context.services.generation->max_model_len() : 0;
  if (path == "/v1/models") {
    if (CheckMethod(*session, method, bhttp::verb::get, method_name, path)) {
      session->SendResponse(
          200, kJson,
          openai::DumpJson(openai::ModelListJson(model, context.created, max_model_len)));
    }
    return;
  }
  if (path.starts_with(kModelsPrefix)) {
    if (!CheckMethod(*session, method, bhttp::verb::get, method_name, path)) return;
    const std::string_view id = path.substr(kModelsPrefix.size());
    if (id != model) return session->SendError(openai::ModelNotFound(std::string(id)));
    session->SendResponse(
        200, kJson, openai::DumpJson(openai::ModelJson(model, context.created, max_model_len)));
    return;
  }
  if (path == "/v1/chat/completions" || path == "/v1/completions") {
    if (CheckMethod(*session, method, bhttp::verb::post, method_name, path)) {
      HandleGeneration(session, context, request.body(), path == "/v1/chat/completions");
    }
    return;
  }
  session->SendError(openai::RouteNotFound(std::string(method_name), std::string(path)));
}

}  // namespace strata::server::http
