// One HTTP/1.1 connection, over plain TCP or TLS (the same code: the stream is a variant).
// Runs on its own strand: (TLS handshake,) reads one request at a time (pipelined requests
// wait in the buffer), answers it with a full response or an SSE stream (chunked transfer
// encoding), then reads the next while keep-alive holds. While a response is pending it
// keeps a read posted on the socket, so a client that disconnects is noticed and its
// generations are cancelled.
//
// Deadlines: the TLS handshake and a request's header (from its first byte) get
// header_timeout, its body body_timeout, the wait for a next request idle_timeout. A request
// that misses its deadline is answered 408 and the connection closed; an idle connection or
// a stalled handshake is just closed. Internal to server/http.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/string_body.hpp"
#include "server/openai/api_error.h"

namespace strata::server::http {

struct ServerContext;

// What an exchange (a request being answered) writes. Methods run on the connection's
// strand. SendResponse / EndEventStream complete the exchange.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void SendResponse(int status, std::string content_type, std::string body) = 0;
  virtual void SendError(const openai::ApiError& error) = 0;
  virtual void BeginEventStream() = 0;                   // 200 text/event-stream
  virtual void WriteEvent(const std::string& data) = 0;  // SSE text ("data: ...\n\n")
  virtual void EndEventStream() = 0;
  virtual boost::asio::any_io_executor executor() = 0;  // the strand
};

class GenerationExchange;

class HttpSession : public ResponseSink, public std::enable_shared_from_this<HttpSession> {
 public:
  // `tls`: the listener's TLS context (not owned; outlives the session), or null for TCP.
  HttpSession(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context* tls,
              std::shared_ptr<ServerContext> context);
  ~HttpSession() override;

  void Run();    // starts reading; call once after construction
  void Close();  // any thread: closes the connection on its strand

  // ResponseSink.
  void SendResponse(int status, std::string content_type, std::string body) override;
  void SendError(const openai::ApiError& error) override;
  void BeginEventStream() override;
  void WriteEvent(const std::string& data) override;
  void EndEventStream() override;
  boost::asio::any_io_executor executor() override { return socket().get_executor(); }

  // The exchange answering the current request, kept until it completes; aborted if the
  // connection closes first.
  void set_exchange(std::shared_ptr<GenerationExchange> exchange) {
    exchange_ = std::move(exchange);
  }
  // Extra response header for the next SendResponse/SendError (e.g. Allow for 405).
  void set_allow_header(std::string allow) { allow_ = std::move(allow); }

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using TcpStream = boost::asio::ip::tcp::socket;
  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  // What a missed deadline does.
  enum class OnDeadline { kClose, kRequestTimeout };

  boost::asio::ip::tcp::socket& socket();  // the TCP socket under either stream
  bool tls() const { return std::holds_alternative<TlsStream>(stream_); }

  void OnHandshake(boost::system::error_code ec);
  void ReadNext();
  void StartRawRead();
  void OnRawRead(boost::system::error_code ec, size_t bytes);
  void OnHeader(boost::system::error_code ec);
  void OnBody(boost::system::error_code ec);
  void HandleReadError(boost::system::error_code ec);
  void Dispatch(Request request);
  void ArmDisconnectWatch();

  void QueueWrite(std::string data);
  void MaybeWrite();
  void OnWrite(boost::system::error_code ec);
  void FinishResponse();  // after the response's last byte is queued
  void OnResponseComplete();
  void BeginLinger();  // after a final response: half-close and drain, or TLS close_notify
  void ContinueLinger(boost::system::error_code ec, size_t bytes);

  void SetDeadline(std::chrono::milliseconds timeout, OnDeadline action = OnDeadline::kClose);
  void OnDeadlineExpired();
  void ClearDeadline();
  void CloseNow();

  std::variant<TcpStream, TlsStream> stream_;
  std::shared_ptr<ServerContext> context_;
  boost::asio::steady_timer deadline_;
  uint64_t deadline_serial_ = 0;
  OnDeadline deadline_action_ = OnDeadline::kClose;
  bool timed_out_ = false;  // the request's deadline passed; its read was cancelled
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;

  bool reading_ = false;     // a read is posted on the socket
  bool responding_ = false;  // a request is being answered
  bool closed_ = false;
  bool close_after_response_ = false;
  bool lingering_ = false;  // after a final response: draining input / TLS shutdown
  unsigned version_ = 11;   // of the current request
  bool chunked_ = false;    // the current SSE response uses chunked encoding
  std::string allow_;

  std::string write_pending_;  // queued bytes
  std::string write_current_;  // bytes being written
  bool writing_ = false;
  bool complete_after_flush_ = false;

  std::shared_ptr<GenerationExchange> exchange_;
};

}  // namespace strata::server::http
