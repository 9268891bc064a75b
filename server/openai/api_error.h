// OpenAI-shaped API errors: an HTTP status plus the JSON body
// {"error": {"message", "type", "param", "code"}}. Pure values; no I/O.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace strata::server::openai {

struct ApiError {
  int http_status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::optional<std::string> param;  // the request parameter at fault, if any
  std::optional<std::string> code;

  nlohmann::ordered_json ToJson() const;  // {"error": {...}}
  std::string Body() const;               // ToJson() serialized
};

// 400 invalid_request_error naming `param` (empty: none).
ApiError InvalidRequest(std::string param, std::string message);
ApiError Unauthorized(std::string message);                         // 401 authentication_error
ApiError ModelNotFound(const std::string& model);                   // 404, param "model"
ApiError RouteNotFound(std::string method, std::string target);     // 404 not_found_error
ApiError MethodNotAllowed(std::string method, std::string target);  // 405
ApiError BodyTooLarge(int64_t limit_bytes);                         // 413
ApiError QueueFull(std::string message);                            // 429 rate_limit_error
ApiError Unavailable(std::string message);                          // 503
ApiError InternalError(std::string message);                        // 500 server_error

// The error for a non-OK status from GenerationService::Start or a failed generation:
// InvalidArgument -> 400 (param `param`), ResourceExhausted -> 429, Unavailable -> 503,
// anything else -> 500.
ApiError FromStatus(const absl::Status& status, std::string param);

// Compact JSON; invalid UTF-8 in strings becomes U+FFFD instead of failing.
std::string DumpJson(const nlohmann::json& value);
std::string DumpJson(const nlohmann::ordered_json& value);

// Either a value or the API error that replaces it.
template <typename T>
class ApiOr {
 public:
  ApiOr(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  ApiOr(ApiError error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  const ApiError& error() const { return std::get<1>(v_); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace strata::server::openai
