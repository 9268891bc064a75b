#include "server/openai/api_error.h"

#include "absl/strings/str_cat.h"

namespace strata::server::openai {
namespace {

ApiError Make(int status, std::string type, std::string message,
              std::optional<std::string> param = std::nullopt,
              std::optional<std::string> code = std::nullopt) {
  ApiError e;
  e.http_status = status;
  e.type = std::move(type);
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

}  // namespace

nlohmann::ordered_json ApiError::ToJson() const {
  nlohmann::ordered_json error = {
      {"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (param) error["param"] = *param;
  if (code) error["code"] = *code;
  return {{"error", std::move(error)}};
}

std::string ApiError::Body() const { return DumpJson(ToJson()); }

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string DumpJson(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ApiError InvalidRequest(std::string param, std::string message) {
  std::optional<std::string> p;
  if (!param.empty()) p = std::move(param);
  return Make(400, "invalid_request_error", std::move(message), std::move(p));
}

ApiError Unauthorized(std::string message) {
  return Make(401, "authentication_error", std::move(message), std::nullopt, "invalid_api_key");
}

ApiError ModelNotFound(const std::string& model) {
  return Make(404, "not_found_error", absl::StrCat("The model `", model, "` does not exist."),
              "model", "model_not_found");
}

ApiError RouteNotFound(std::string method, std::string target) {
  return Make(404, "not_found_error", absl::StrCat("Invalid URL (", method, " ", target, ")"));
}

ApiError MethodNotAllowed(std::string method, std::string target) {
  return Make(405, "invalid_request_error",
              absl::StrCat("Method ", method, " is not allowed for ", target), std::nullopt,
              "method_not_allowed");
}

ApiError BodyTooLarge(int64_t limit_bytes) {
  return Make(413, "invalid_request_error",
              absl::StrCat("Request body exceeds the limit of ", limit_bytes, " bytes"),
              std::nullopt, "request_too_large");
}

ApiError QueueFull(std::string message) {
  return Make(429, "rate_limit_error", std::move(message), std::nullopt, "rate_limit_exceeded");
}

ApiError Unavailable(std::string message) {
  return Make(503, "service_unavailable_error", std::move(message), std::nullopt,
              "service_unavailable");
}

ApiError InternalError(std::string message) {
  return Make(500, "server_error", std::move(message), std::nullopt, "internal_error");
}

ApiError FromStatus(const absl::Status& status, std::string param) {
  std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return InvalidRequest(std::move(param), std::move(message));
    case absl::StatusCode::kResourceExhausted:
      return QueueFull(absl::StrCat("The server is busy: ", message));
    case absl::StatusCode::kUnavailable:
      return Unavailable(std::move(message));
    default:
      return InternalError(std::move(message));
  }
}

}  // namespace strata::server::openai
