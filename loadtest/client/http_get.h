// A blocking HTTP GET with a time limit, for the few calls made outside the measured run
// (the served model from /v1/models, /metrics). Runs its own event loop.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/asio/ip/tcp.hpp"
#include "loadtest/client/url.h"

namespace strata::loadtest {

struct HttpGetResult {
  unsigned status = 0;
  std::string body;
};

absl::StatusOr<HttpGetResult> HttpGet(const std::vector<boost::asio::ip::tcp::endpoint>& endpoints,
                                      const BaseUrl& url, const std::string& path,
                                      const std::string& api_key, double timeout_s);

// The first model id of GET /v1/models.
absl::StatusOr<std::string> FirstModelId(
    const std::vector<boost::asio::ip::tcp::endpoint>& endpoints, const BaseUrl& url,
    const std::string& api_key, double timeout_s);

}  // namespace strata::loadtest
