// One HTTP/1.1 connection. Runs on its own strand: reads one request at a time (pipelined
// requests wait in the buffer), answers it with a full response or an SSE stream (chunked
// transfer encoding), then reads the next while keep-alive holds. While a response is
// pending it keeps a read posted on the socket, so a client that disconnects is noticed
// and its generations are cancelled. Internal to server/http.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "boost/asio/ip/tcp.hpp"
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
  HttpSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerContext> context);
  ~HttpSession() override;

  void Run();    // starts reading; call once after construction
  void Close();  // any thread: closes the connection on its strand

  // ResponseSink.
  void SendResponse(int status, std::string content_type, std::string body) override;
  void SendError(const openai::ApiError& error) override;
  void BeginEventStream() override;
  void WriteEvent(const std::string& data) override;
  void EndEventStream() override;
  boost::asio::any_io_executor executor() override { return socket_.get_executor(); }

  // The exchange answering the current request, kept until it completes; aborted if the
  // connection closes first.
  void set_exchange(std::shared_ptr<GenerationExchange> exchange) {
    exchange_ = std::move(exchange);
  }
  // Extra response header for the next SendResponse/SendError (e.g. Allow for 405).
  void set_allow_header(std::string allow) { allow_ = std::move(allow); }

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

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

  void SetDeadline(std::chrono::milliseconds timeout);
  void ClearDeadline();
  void CloseNow();

  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<ServerContext> context_;
  boost::asio::steady_timer deadline_;
  uint64_t deadline_serial_ = 0;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;

  bool reading_ = false;     // a read is posted on the socket
  bool responding_ = false;  // a request is being answered
  bool closed_ = false;
  bool close_after_response_ = false;
  bool lingering_ = false;  // half-closed after a final response; draining input
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
