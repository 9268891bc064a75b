#include "loadtest/client/http_get.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/core/tcp_stream.hpp"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/beast/http/write.hpp"
#include "nlohmann/json.hpp"

namespace strata::loadtest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

absl::StatusOr<HttpGetResult> HttpGet(const std::vector<asio::ip::tcp::endpoint>& endpoints,
                                      const BaseUrl& url, const std::string& path,
                                      const std::string& api_key, double timeout_s) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::empty_body> request(http::verb::get, path, 11);
  request.set(http::field::host, url.Authority());
  request.set(http::field::user_agent, "strata-loadtest");
  if (!api_key.empty()) request.set(http::field::authorization, "Bearer " + api_key);
  request.keep_alive(false);
  http::response<http::string_body> response;
  beast::flat_buffer buffer;
  beast::error_code result = asio::error::timed_out;
  stream.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(timeout_s)));
  stream.async_connect(endpoints, [&](beast::error_code ec, const asio::ip::tcp::endpoint&) {
    if (ec) {
      result = ec;
      return;
    }
    http::async_write(stream, request, [&](beast::error_code ec, size_t) {
      if (ec) {
        result = ec;
        return;
      }
      http::async_read(stream, buffer, response,
                       [&](beast::error_code ec, size_t) { result = ec; });
    });
  });
  io.run();
  if (result) {
    return absl::UnavailableError(
        absl::StrCat("GET http://", url.Authority(), path, ": ", result.message()));
  }
  return HttpGetResult{response.result_int(), std::move(response.body())};
}

absl::StatusOr<std::string> FirstModelId(const std::vector<asio::ip::tcp::endpoint>& endpoints,
                                         const BaseUrl& url, const std::string& api_key,
                                         double timeout_s) {
  const std::string path = url.ApiPath("/models");
  absl::StatusOr<HttpGetResult> got = HttpGet(endpoints, url, path, api_key, timeout_s);
  if (!got.ok()) return got.status();
  if (got->status != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", path, ": HTTP ", got->status));
  }
  const nlohmann::json body = nlohmann::json::parse(got->body, nullptr, false);
  if (body.is_object() && body.contains("data") && body["data"].is_array() &&
      !body["data"].empty() && body["data"][0].is_object() && body["data"][0].contains("id") &&
      body["data"][0]["id"].is_string()) {
    return body["data"][0]["id"].get<std::string>();
  }
  return absl::UnavailableError(absl::StrCat("GET ", path, ": no model in the answer"));
}

}  // namespace strata::loadtest
