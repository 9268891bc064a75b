// A blocking raw HTTP/1.1 client for server tests (Boost.Beast), with a receive timeout so
// a broken server fails the test instead of hanging it.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <string>
#include <vector>

#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http.hpp"
#include "nlohmann/json.hpp"

namespace strata::server::testing {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using Response = bhttp::response<bhttp::string_body>;

class TestClient {
 public:
  explicit TestClient(int port, int timeout_seconds = 30) : socket_(io_) {
    socket_.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    timeval tv{timeout_seconds, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  // Sends a request (HTTP/1.1, keep-alive) and reads the whole response.
  Response Call(bhttp::verb method, const std::string& target, const std::string& body = "",
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Send(method, target, body, headers);
    return Read();
  }
  Response Post(const std::string& target, const nlohmann::json& body,
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return Call(bhttp::verb::post, target, body.dump(), headers);
  }
  Response Get(const std::string& target,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return Call(bhttp::verb::get, target, "", headers);
  }

  void Send(bhttp::verb method, const std::string& target, const std::string& body = "",
            const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    bhttp::request<bhttp::string_body> request{method, target, 11};
    request.set(bhttp::field::host, "127.0.0.1");
    if (!body.empty()) request.set(bhttp::field::content_type, "application/json");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    bhttp::write(socket_, request);
  }
  void SendRaw(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }

  Response Read() {
    Response response;
    boost::system::error_code ec;
    bhttp::read(socket_, buffer_, response, ec);
    if (ec) throw boost::system::system_error(ec);
    return response;
  }

  // Reads a response header, leaving the body to ReadSome().
  bhttp::response_parser<bhttp::string_body>& ReadHeader() {
    parser_.emplace();
    parser_->body_limit(1 << 30);
    bhttp::read_header(socket_, buffer_, *parser_);
    return *parser_;
  }
  // Reads more of the body begun by ReadHeader(); returns the body so far.
  const std::string& ReadSome() {
    bhttp::read_some(socket_, buffer_, *parser_);
    return parser_->get().body();
  }

  // Whether the server closed the connection (a read returns EOF or a reset).
  bool ServerClosed() {
    char byte;
    boost::system::error_code ec;
    socket_.read_some(net::buffer(&byte, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

  void Close() {
    boost::system::error_code ignored;
    socket_.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  // Closes with a reset (SO_LINGER 0), as a crashed client would.
  void Reset() {
    linger l{1, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  net::io_context io_;
  net::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
};

// The JSON payloads of an SSE body ("data: {...}\n\n" events); "[DONE]" as a string.
inline std::vector<nlohmann::json> SseEvents(const std::string& body, bool* well_framed) {
  std::vector<nlohmann::json> events;
  *well_framed = true;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos || body.compare(pos, 6, "data: ") != 0) {
      *well_framed = false;
      break;
    }
    const std::string payload = body.substr(pos + 6, end - pos - 6);
    if (payload == "[DONE]") {
      events.emplace_back("[DONE]");
    } else {
      events.push_back(nlohmann::json::parse(payload, nullptr, false));
      if (events.back().is_discarded()) *well_framed = false;
    }
    pos = end + 2;
  }
  return events;
}

}  // namespace strata::server::testing
