// Shared pieces of the HTTP server tests: the tiny model written once per test process (into
// a temporary directory removed at exit), a fixture that starts a Stack on a free port, and
// a TLS test client (Asio SSL over Beast).
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "boost/asio/ssl.hpp"
#include "tests/server/http/http_test_client.h"
#include "tests/server/http/test_stack.h"
#include "tests/server/security/test_certs.h"

namespace strata::server::testing {

// Null (with a test failure) when the model cannot be written.
inline const std::string* SharedTinyModel() {
  static TempDir dir;
  static const bool written = [] {
    absl::Status status = WriteTinyModel(dir.path());
    EXPECT_TRUE(status.ok()) << status;
    return status.ok();
  }();
  return written ? &dir.path() : nullptr;
}

inline bool WaitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

class HttpStackTest : public ::testing::Test {
 protected:
  // Starts the stack on 127.0.0.1, a free port; the test fails if it cannot.
  void StartServer(StackOptions options = {}) {
    const std::string* model = SharedTinyModel();
    ASSERT_NE(model, nullptr);
    options.server.host = "127.0.0.1";
    options.server.http_port = 0;
    stack_.reset();
    auto stack = Stack::Start(*model, options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
  }
  // The start-up error of a stack with `options` (empty if it started).
  std::string StartError(StackOptions options) {
    const std::string* model = SharedTinyModel();
    if (model == nullptr) return "no model";
    options.server.host = "127.0.0.1";
    options.server.http_port = 0;
    auto stack = Stack::Start(*model, options);
    return stack.ok() ? "" : std::string(stack.status().message());
  }

  static nlohmann::json Completion(nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json body = {
        {"model", "tiny"}, {"prompt", "Hello"}, {"max_tokens", 4}, {"temperature", 0}};
    body.update(extra);
    return body;
  }
  static nlohmann::json Body(const Response& response) {
    return nlohmann::json::parse(response.body(), nullptr, false);
  }

  std::unique_ptr<Stack> stack_;
};

// A blocking HTTPS client trusting `ca` (a file of TestCerts), verifying the host name
// "localhost", optionally presenting a client certificate (`cert` and `key` names).
class TlsTestClient {
 public:
  TlsTestClient(int port, const TestCerts& certs, const std::string& ca = "ca.pem",
                const std::string& cert = "", const std::string& key = "", int timeout_seconds = 30)
      : context_(boost::asio::ssl::context::tls_client) {
    // The context is complete before the stream copies its settings.
    context_.load_verify_file(certs.Path(ca));
    context_.set_verify_mode(boost::asio::ssl::verify_peer);
    if (!cert.empty()) {
      context_.use_certificate_chain_file(certs.Path(cert));
      context_.use_private_key_file(certs.Path(key), boost::asio::ssl::context::pem);
    }
    stream_.emplace(io_, context_);
    stream_->set_verify_callback(boost::asio::ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(stream_->native_handle(), "localhost");
    stream_->next_layer().connect(
        {net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    timeval tv{timeout_seconds, 0};
    setsockopt(stream_->next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  boost::system::error_code Handshake() {
    boost::system::error_code ec;
    stream_->handshake(boost::asio::ssl::stream_base::client, ec);
    return ec;
  }

  // Sends a request and reads the response; `ec` set (and the response empty) on failure.
  Response Call(bhttp::verb method, const std::string& target, const std::string& body,
                const std::vector<std::pair<std::string, std::string>>& headers,
                boost::system::error_code* ec) {
    bhttp::request<bhttp::string_body> request{method, target, 11};
    request.set(bhttp::field::host, "localhost");
    if (!body.empty()) request.set(bhttp::field::content_type, "application/json");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    Response response;
    bhttp::write(*stream_, request, *ec);
    if (!*ec) bhttp::read(*stream_, buffer_, response, *ec);
    return response;
  }
  Response Get(const std::string& target,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    boost::system::error_code ec;
    Response response = Call(bhttp::verb::get, target, "", headers, &ec);
    EXPECT_FALSE(ec) << ec.message();
    return response;
  }
  Response Post(const std::string& target, const nlohmann::json& body,
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    boost::system::error_code ec;
    Response response = Call(bhttp::verb::post, target, body.dump(), headers, &ec);
    EXPECT_FALSE(ec) << ec.message();
    return response;
  }
  void SendRaw(const std::string& bytes) { net::write(*stream_, net::buffer(bytes)); }
  Response Read() {
    Response response;
    bhttp::read(*stream_, buffer_, response);
    return response;
  }
  // The error of the next read: eof after a clean TLS close (close_notify).
  boost::system::error_code ReadError() {
    char byte;
    boost::system::error_code ec;
    stream_->read_some(net::buffer(&byte, 1), ec);
    return ec;
  }

 private:
  net::io_context io_;
  boost::asio::ssl::context context_;
  std::optional<boost::asio::ssl::stream<net::ip::tcp::socket>> stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace strata::server::testing
