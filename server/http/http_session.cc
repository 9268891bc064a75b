#include "server/http/http_session.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/http/error.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/write.hpp"
#include "server/http/generation_exchange.h"
#include "server/http/routes.h"
#include "server/http/server_context.h"

namespace strata::server::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

constexpr size_t kReadChunk = 16 * 1024;
constexpr uint32_t kHeaderLimit = 64 * 1024;
constexpr std::chrono::milliseconds kLingerTimeout{2000};

// Errors that mean the peer closed or reset the connection (or we closed it).
bool IsDisconnect(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == net::error::eof || ec == net::error::operation_aborted ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::bad_descriptor || ec == net::error::not_connected ||
         ec == beast::error::timeout;
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, std::shared_ptr<ServerContext> context)
    : socket_(std::move(socket)), context_(std::move(context)), deadline_(socket_.get_executor()) {
  error_code ignored;
  socket_.set_option(net::ip::tcp::no_delay(true), ignored);
}

HttpSession::~HttpSession() {
  if (exchange_) exchange_->Abort();
  std::lock_guard lock(context_->sessions_mutex);
  context_->sessions.erase(this);
  context_->sessions_changed.notify_all();
}

void HttpSession::Run() {
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->ReadNext(); });
}

void HttpSession::Close() {
  net::post(socket_.get_executor(), [self = shared_from_this()] { self->CloseNow(); });
}

void HttpSession::ReadNext() {
  if (closed_) return;
  parser_.emplace();
  parser_->body_limit(static_cast<uint64_t>(context_->server_options.max_request_body_bytes));
  parser_->header_limit(kHeaderLimit);
  if (buffer_.size() == 0) {
    // Idle keep-alive: wait for the first byte of the next request.
    SetDeadline(context_->options.idle_timeout);
    StartRawRead();
    return;
  }
  SetDeadline(context_->options.header_timeout);
  reading_ = true;
  bhttp::async_read_header(
      socket_, buffer_, *parser_,
      [self = shared_from_this()](error_code ec, size_t) { self->OnHeader(ec); });
}

void HttpSession::StartRawRead() {
  reading_ = true;
  socket_.async_read_some(
      buffer_.prepare(kReadChunk),
      [self = shared_from_this()](error_code ec, size_t bytes) { self->OnRawRead(ec, bytes); });
}

void HttpSession::OnRawRead(error_code ec, size_t bytes) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    // The peer closed or reset the connection: whatever it asked for is cancelled.
    CloseNow();
    return;
  }
  buffer_.commit(bytes);
  if (lingering_) {
    buffer_.consume(buffer_.size());
    StartRawRead();
    return;
  }
  // While answering, bytes are the start of a pipelined request: keep them for later.
  if (!responding_) ReadNext();
}

void HttpSession::OnHeader(error_code ec) {
  reading_ = false;
  if (closed_) return;
  if (ec) return HandleReadError(ec);
  if (parser_->is_done()) return OnBody({});
  const auto& request = parser_->get();
  if (request.version() >= 11 && beast::iequals(request[bhttp::field::expect], "100-continue")) {
    QueueWrite("HTTP/1.1 100 Continue\r\n\r\n");
  }
  SetDeadline(context_->options.body_timeout);
  reading_ = true;
  bhttp::async_read(socket_, buffer_, *parser_,
                    [self = shared_from_this()](error_code ec, size_t) { self->OnBody(ec); });
}

void HttpSession::OnBody(error_code ec) {
  reading_ = false;
  if (closed_) return;
  if (ec) return HandleReadError(ec);
  Dispatch(parser_->release());
}

void HttpSession::HandleReadError(error_code ec) {
  if (IsDisconnect(ec)) {
    CloseNow();
    return;
  }
  ClearDeadline();
  responding_ = true;
  close_after_response_ = true;  // the rest of the stream cannot be trusted
  version_ = 11;
  if (ec == bhttp::error::body_limit) {
    SendError(openai::BodyTooLarge(context_->server_options.max_request_body_bytes));
  } else if (ec == bhttp::error::header_limit) {
    openai::ApiError error = openai::InvalidRequest("", "Request header fields too large.");
    error.http_status = 431;
    SendError(error);
  } else {
    SendError(openai::InvalidRequest("", absl::StrCat("Malformed HTTP request: ", ec.message())));
  }
}

void HttpSession::Dispatch(Request request) {
  ClearDeadline();
  responding_ = true;
  version_ = request.version();
  close_after_response_ = !request.keep_alive() || context_->draining.load();
  allow_.clear();
  ArmDisconnectWatch();
  RouteRequest(shared_from_this(), *context_, std::move(request));
}

void HttpSession::ArmDisconnectWatch() {
  // Only with an empty buffer: buffered bytes are a pipelined request to parse later, and
  // the read posted here becomes the next request's first read.
  if (!reading_ && !closed_ && buffer_.size() == 0) StartRawRead();
}

void HttpSession::SendResponse(int status, std::string content_type, std::string body) {
  bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(status), version_};
  response.set(bhttp::field::server, "strata");
  response.set(bhttp::field::content_type, content_type);
  if (!allow_.empty()) response.set(bhttp::field::allow, allow_);
  response.keep_alive(!close_after_response_);
  response.body() = std::move(body);
  response.prepare_payload();
  std::ostringstream out;
  out << response;
  QueueWrite(out.str());
  FinishResponse();
}

void HttpSession::SendError(const openai::ApiError& error) {
  SendResponse(error.http_status, "application/json", error.Body());
}

void HttpSession::BeginEventStream() {
  std::string head = version_ >= 11 ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.0 200 OK\r\n";
  head +=
      "Server: strata\r\n"
      "Content-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache\r\n";
  chunked_ = version_ >= 11;
  if (chunked_) {
    head += "Transfer-Encoding: chunked\r\n";
  } else {
    close_after_response_ = true;  // HTTP/1.0: the end of the stream is the end of the body
  }
  if (close_after_response_) head += "Connection: close\r\n";
  head += "\r\n";
  QueueWrite(std::move(head));
}

void HttpSession::WriteEvent(const std::string& data) {
  if (data.empty()) return;
  if (chunked_) {
    QueueWrite(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
  } else {
    QueueWrite(data);
  }
}

void HttpSession::EndEventStream() {
  if (chunked_) QueueWrite("0\r\n\r\n");
  FinishResponse();
}

void HttpSession::QueueWrite(std::string data) {
  if (closed_) return;
  write_pending_ += data;
  MaybeWrite();
}

void HttpSession::FinishResponse() {
  complete_after_flush_ = true;
  MaybeWrite();
}

void HttpSession::MaybeWrite() {
  if (writing_ || closed_) return;
  if (write_pending_.empty()) {
    if (complete_after_flush_) {
      complete_after_flush_ = false;
      OnResponseComplete();
    }
    return;
  }
  writing_ = true;
  write_current_.swap(write_pending_);
  write_pending_.clear();
  net::async_write(socket_, net::buffer(write_current_),
                   [self = shared_from_this()](error_code ec, size_t) { self->OnWrite(ec); });
}

void HttpSession::OnWrite(error_code ec) {
  writing_ = false;
  if (closed_) return;
  if (ec) {
    CloseNow();  // the client is gone: cancels a running stream
    return;
  }
  write_current_.clear();
  MaybeWrite();
}

void HttpSession::OnResponseComplete() {
  responding_ = false;
  exchange_.reset();
  if (close_after_response_) {
    // Half-close and drain what the client still sends, so it sees the response rather
    // than a reset.
    error_code ignored;
    socket_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
    lingering_ = true;
    buffer_.consume(buffer_.size());
    SetDeadline(kLingerTimeout);
    if (!reading_) StartRawRead();
    return;
  }
  if (reading_) {
    // The disconnect watch read stays posted as the idle read of the next request.
    SetDeadline(context_->options.idle_timeout);
    return;
  }
  ReadNext();
}

void HttpSession::SetDeadline(std::chrono::milliseconds timeout) {
  const uint64_t serial = ++deadline_serial_;
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this(), serial](error_code ec) {
    if (!ec && serial == self->deadline_serial_) self->CloseNow();
  });
}

void HttpSession::ClearDeadline() {
  ++deadline_serial_;
  deadline_.cancel();
}

void HttpSession::CloseNow() {
  if (closed_) return;
  closed_ = true;
  ClearDeadline();
  if (exchange_) {
    exchange_->Abort();
    exchange_.reset();
  }
  error_code ignored;
  socket_.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace strata::server::http
