// A parsed http:// base URL and the target checks that keep a run on loopback unless the
// operator says otherwise.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata::loadtest {

struct BaseUrl {
  std::string host;  // without brackets for IPv6 literals
  std::string port;
  std::string path;  // without a trailing '/', e.g. "" or "/v1"
  // The path of an API route under /v1, e.g. ApiPath("/completions") is
  // "/v1/completions" for both "http://h:1" and "http://h:1/v1".
  std::string ApiPath(absl::string_view route) const;
  // "host:port" (IPv6 in brackets), for the Host header and gRPC targets.
  std::string Authority() const;
};

// "http://HOST[:PORT][/PATH]"; the port defaults to 80. https is refused (not supported).
absl::StatusOr<BaseUrl> ParseBaseUrl(absl::string_view url);
// "HOST:PORT" (gRPC target); IPv6 as "[::1]:50051".
absl::StatusOr<BaseUrl> ParseHostPort(absl::string_view target);

// Whether an IP address literal (v4 or v6) is a loopback address.
bool IsLoopbackAddress(const std::string& address);

}  // namespace strata::loadtest
