#include "server/http/http_session.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/error.hpp"
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
         ec == beast::error::timeout || ec == net::ssl::error::stream_truncated;
}

double Seconds(std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

// 408 with the OpenAI error shape.
openai::ApiError RequestTimeout(const char* what, std::chrono::milliseconds limit) {
  openai::ApiError error =
      openai::InvalidRequest("", absl::StrCat("Request timed out: the ", what,
                                              " did not arrive within ", Seconds(limit), " s."));
  error.http_status = 408;
  error.code = "request_timeout";
  return error;
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, net::ssl::context* tls,
                         std::shared_ptr<ServerContext> context)
    : stream_(tls != nullptr ? std::variant<TcpStream, TlsStream>(std::in_place_type<TlsStream>,
                                                                  std::move(socket), *tls)
                             : std::variant<TcpStream, TlsStream>(std::in_place_type<TcpStream>,
                                                                  std::move(socket))),
      context_(std::move(context)),
      deadline_(this->socket().get_executor()) {
  error_code ignored;
  this->socket().set_option(net::ip::tcp::no_delay(true), ignored);
}

net::ip::tcp::socket& HttpSession::socket() {
  if (auto* tls = std::get_if<TlsStream>(&stream_)) return tls->next_layer();
  return std::get<TcpStream>(stream_);
}

HttpSession::~HttpSession() {
  if (exchange_) exchange_->Abort();
  std::lock_guard lock(context_->sessions_mutex);
  context_->sessions.erase(this);
  context_->sessions_changed.notify_all();
}

void HttpSession::Run() {
  net::dispatch(socket().get_executor(), [self = shared_from_this()] {
    auto* tls = std::get_if<TlsStream>(&self->stream_);
    if (tls == nullptr) return self->ReadNext();
    // A client that stalls in the handshake is closed like one that stalls in a header.
    self->SetDeadline(self->context_->options.header_timeout);
    tls->async_handshake(net::ssl::stream_base::server,
                         [self](error_code ec) { self->OnHandshake(ec); });
  });
}

void HttpSession::Close() {
  net::post(socket().get_executor(), [self = shared_from_this()] { self->CloseNow(); });
}

void HttpSession::OnHandshake(error_code ec) {
  if (closed_) return;
  if (ec) {
    // Not TLS (e.g. plain HTTP), no acceptable client certificate, or gone: nothing to answer.
    CloseNow();
    return;
  }
  ReadNext();
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
  SetDeadline(context_->options.header_timeout, OnDeadline::kRequestTimeout);
  reading_ = true;
  std::visit(
      [this](auto& stream) {
        bhttp::async_read_header(
            stream, buffer_, *parser_,
            [self = shared_from_this()](error_code ec, size_t) { self->OnHeader(ec); });
      },
      stream_);
}

void HttpSession::StartRawRead() {
  reading_ = true;
  std::visit(
      [this](auto& stream) {
        stream.async_read_some(buffer_.prepare(kReadChunk),
                               [self = shared_from_this()](error_code ec, size_t bytes) {
                                 self->OnRawRead(ec, bytes);
                               });
      },
      stream_);
}

void HttpSession::OnRawRead(error_code ec, size_t bytes) {
  reading_ = false;
  if (closed_) return;
  if (lingering_) return ContinueLinger(ec, bytes);
  if (ec) {
    // The peer closed or reset the connection: whatever it asked for is cancelled.
    CloseNow();
    return;
  }
  buffer_.commit(bytes);
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
  SetDeadline(context_->options.body_timeout, OnDeadline::kRequestTimeout);
  reading_ = true;
  std::visit(
      [this](auto& stream) {
        bhttp::async_read(stream, buffer_, *parser_,
                          [self = shared_from_this()](error_code ec, size_t) { self->OnBody(ec); });
      },
      stream_);
}

void HttpSession::OnBody(error_code ec) {
  reading_ = false;
  if (closed_) return;
  if (ec) return HandleReadError(ec);
  Dispatch(parser_->release());
}

void HttpSession::HandleReadError(error_code ec) {
  const bool timed_out = timed_out_ && ec == net::error::operation_aborted;
  if (!timed_out && IsDisconnect(ec)) {
    CloseNow();
    return;
  }
  const bool in_body = parser_->is_header_done();
  ClearDeadline();
  responding_ = true;
  close_after_response_ = true;  // the rest of the stream cannot be trusted
  version_ = 11;
  if (timed_out) {
    SendError(in_body ? RequestTimeout("request body", context_->options.body_timeout)
                      : RequestTimeout("request header", context_->options.header_timeout));
  } else if (ec == bhttp::error::body_limit) {
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
  std::visit(
      [this](auto& stream) {
        net::async_write(stream, net::buffer(write_current_),
                         [self = shared_from_this()](error_code ec, size_t) { self->OnWrite(ec); });
      },
      stream_);
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
    BeginLinger();
    return;
  }
  if (reading_) {
    // The disconnect watch read stays posted as the idle read of the next request.
    SetDeadline(context_->options.idle_timeout);
    return;
  }
  ReadNext();
}

void HttpSession::BeginLinger() {
  lingering_ = true;
  buffer_.consume(buffer_.size());
  SetDeadline(kLingerTimeout);
  if (tls()) {
    // Send close_notify and wait for the client's. A TLS shutdown cannot overlap a read:
    // cancel the one posted (ContinueLinger goes on from there).
    error_code ignored;
    if (reading_) {
      socket().cancel(ignored);
    } else {
      ContinueLinger({}, 0);
    }
    return;
  }
  // Half-close and drain what the client still sends, so that it sees the response rather
  // than a reset.
  error_code ignored;
  socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  if (!reading_) StartRawRead();
}

void HttpSession::ContinueLinger(error_code ec, size_t bytes) {
  if (auto* tls = std::get_if<TlsStream>(&stream_)) {
    tls->async_shutdown([self = shared_from_this()](error_code) { self->CloseNow(); });
    return;
  }
  if (ec) {
    CloseNow();
    return;
  }
  buffer_.commit(bytes);
  buffer_.consume(buffer_.size());
  StartRawRead();
}

void HttpSession::SetDeadline(std::chrono::milliseconds timeout, OnDeadline action) {
  const uint64_t serial = ++deadline_serial_;
  deadline_action_ = action;
  timed_out_ = false;
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this(), serial](error_code ec) {
    if (!ec && serial == self->deadline_serial_) self->OnDeadlineExpired();
  });
}

void HttpSession::OnDeadlineExpired() {
  if (closed_) return;
  if (deadline_action_ == OnDeadline::kRequestTimeout && reading_ && !timed_out_) {
    // Cancel the request's read; its handler answers 408 (HandleReadError). A handler that
    // had already completed simply goes on.
    timed_out_ = true;
    error_code ignored;
    socket().cancel(ignored);
    return;
  }
  CloseNow();
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
  socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
}

}  // namespace strata::server::http
