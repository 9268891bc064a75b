// The OpenAI-compatible HTTP client: each request is one streamed POST to /v1/completions
// (or /v1/chat/completions) on a connection of its own, taken from a keep-alive pool or newly
// opened, so any number of streams can be open at once. SSE events are timestamped with
// steady_clock when the bytes that complete them are read. Everything runs on the single
// thread that runs `io` (the runner's); not thread-safe otherwise.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "loadtest/client/openai_protocol.h"
#include "loadtest/client/outcome.h"
#include "loadtest/client/url.h"

namespace strata::loadtest {

struct HttpClientOptions {
  BaseUrl url;
  std::string api_key;  // sent as "Authorization: Bearer KEY" when not empty
  OpenAiRequestOptions request;
  double request_timeout_s = 600;
};

class HttpExchange;

class OpenAiHttpClient : public Client {
 public:
  // `endpoints`: the resolved addresses of options.url's host (the first that connects is
  // used).
  OpenAiHttpClient(boost::asio::io_context& io,
                   std::vector<boost::asio::ip::tcp::endpoint> endpoints,
                   HttpClientOptions options);
  ~OpenAiHttpClient() override;

  void Send(const RequestSpec& spec, std::function<void(Outcome)> done) override;
  void CancelAll() override;

  // How many connections were opened (for the report: a measure of keep-alive reuse).
  int64_t connections_opened() const { return connections_opened_; }

 private:
  friend class HttpExchange;
  // Pool of idle keep-alive connections.
  bool TakeIdle(boost::asio::ip::tcp::socket* socket);
  void ReturnIdle(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  HttpClientOptions options_;
  std::string path_;
  std::vector<boost::asio::ip::tcp::socket> idle_;
  std::unordered_set<HttpExchange*> active_;
  int64_t connections_opened_ = 0;
};

// Resolves `url`'s host; with require_loopback, every address must be a loopback address.
absl::StatusOr<std::vector<boost::asio::ip::tcp::endpoint>> ResolveEndpoints(
    boost::asio::io_context& io, const BaseUrl& url, bool require_loopback);

}  // namespace strata::loadtest
