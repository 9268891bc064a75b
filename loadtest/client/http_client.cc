#include "loadtest/client/http_client.h"

#include <poll.h>

#include <array>
#include <chrono>
#include <limits>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/buffer_body.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/beast/http/write.hpp"
#include "loadtest/client/sse_parser.h"

namespace strata::loadtest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// One request's life: connect (or reuse), write, read the streamed response. Owned by a
// shared_ptr held by its pending operations; registered in the client's active_ set.
class HttpExchange : public std::enable_shared_from_this<HttpExchange> {
 public:
  HttpExchange(OpenAiHttpClient* client, const RequestSpec& spec, std::function<void(Outcome)> done)
      : client_(client), socket_(client->io_), timer_(client->io_), done_(std::move(done)) {
    request_.method(http::verb::post);
    request_.target(client->path_);
    request_.version(11);
    request_.set(http::field::host, client->options_.url.Authority());
    request_.set(http::field::user_agent, "strata-loadtest");
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::accept, "text/event-stream");
    if (!client->options_.api_key.empty()) {
      request_.set(http::field::authorization, "Bearer " + client->options_.api_key);
    }
    request_.keep_alive(true);
    request_.body() = OpenAiRequestBody(spec, client->options_.request);
    request_.prepare_payload();
  }

  void Start() {
    outcome_.sent = Clock::now();
    client_->active_.insert(this);
    timer_.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(client_->options_.request_timeout_s)));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Abort("timeout", "no complete response within the request timeout");
    });
    Connect();
  }

  // Ends the exchange now with `kind` (its socket is closed, not pooled).
  void Abort(const std::string& kind, const std::string& message) {
    if (finished_) return;
    Finish(kind, message, /*reusable=*/false);
  }

 private:
  void Connect() {
    if (!retried_ && client_->TakeIdle(&socket_)) {
      reused_ = true;
      Write();
      return;
    }
    reused_ = false;
    ++client_->connections_opened_;
    asio::async_connect(socket_, client_->endpoints_,
                        [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                          if (self->finished_) return;
                          if (ec) return self->Finish("connect", ec.message(), false);
                          self->socket_.set_option(tcp::no_delay(true));
                          self->Write();
                        });
  }

  void Write() {
    http::async_write(socket_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->finished_) return;
      if (ec) return self->RetryOrFail("connect", ec);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (self->finished_) return;
                              if (ec) return self->RetryOrFail("truncated", ec);
                              self->status_ = self->parser_->get().result_int();
                              self->ReadBody();
                            });
  }

  // A pooled connection that the server closed while idle (TakeIdle drops those it can
  // tell) fails before any response byte: retry once, on a new connection.
  void RetryOrFail(const std::string& kind, beast::error_code ec) {
    if (reused_ && !retried_) {
      retried_ = true;
      beast::error_code ignored;
      socket_.close(ignored);
      socket_ = tcp::socket(client_->io_);
      buffer_.clear();
      Connect();
      return;
    }
    Finish(kind, ec.message(), false);
  }

  void ReadBody() {
    if (parser_->is_done()) return BodyDone();
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    parser_->get().body().more = true;
    http::async_read_some(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (finished_) return;
    const auto now = Clock::now();
    if (ec == http::error::need_buffer) ec = {};
    const size_t n = chunk_.size() - parser_->get().body().size;
    const std::string_view bytes(chunk_.data(), n);
    if (status_ != 200) {
      error_body_.append(bytes.substr(0, std::min<size_t>(bytes.size(), 65536)));
    } else if (n > 0) {
      events_.clear();
      sse_.Feed(bytes, &events_);
      for (const std::string& data : events_) {
        if (!OnEvent(data, now)) return;
      }
    }
    if (ec) return Finish(status_ == 200 ? "truncated" : StatusKind(), ec.message(), false);
    if (parser_->is_done()) return BodyDone();
    ReadBody();
  }

  // false when the exchange ended.
  bool OnEvent(const std::string& data, Clock::time_point now) {
    const StreamEventInfo info = ParseStreamEvent(data);
    if (info.malformed) {
      Finish("protocol", "a stream event is not a JSON object: " + data.substr(0, 200), false);
      return false;
    }
    if (!info.error.empty()) {
      saw_error_ = info.error;
      return true;  // the stream still ends with [DONE]
    }
    if (info.done) {
      saw_done_ = true;
      done_time_ = now;
      return true;
    }
    if (info.has_output) outcome_.chunk_times.push_back(now);
    if (info.prompt_tokens) outcome_.prompt_tokens = info.prompt_tokens;
    if (info.completion_tokens) outcome_.completion_tokens = info.completion_tokens;
    if (!info.finish_reason.empty()) outcome_.finish_reason = info.finish_reason;
    return true;
  }

  std::string StatusKind() const { return absl::StrCat("http_", status_); }

  void BodyDone() {
    const bool reusable = parser_->keep_alive();
    if (status_ != 200) {
      return Finish(StatusKind(), ErrorBodyMessage(error_body_), reusable);
    }
    if (!saw_error_.empty()) return Finish("stream_error", saw_error_, reusable);
    if (!saw_done_) return Finish("truncated", "the stream ended without [DONE]", reusable);
    Finish("", "", reusable);
  }

  void Finish(const std::string& kind, const std::string& message, bool reusable) {
    finished_ = true;
    outcome_.finished = saw_done_ && kind.empty() ? done_time_ : Clock::now();
    outcome_.error_kind = kind;
    outcome_.error_message = message;
    timer_.cancel();
    client_->active_.erase(this);
    if (reusable && socket_.is_open()) {
      client_->ReturnIdle(std::move(socket_));
    } else {
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
    // Delivered from the event loop, never from inside Send() or CancelAll().
    asio::post(client_->io_, [done = std::move(done_), outcome = std::move(outcome_)]() mutable {
      done(std::move(outcome));
    });
  }

  OpenAiHttpClient* client_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::function<void(Outcome)> done_;
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  beast::flat_buffer buffer_;
  std::array<char, 16384> chunk_;
  SseParser sse_;
  std::vector<std::string> events_;
  Outcome outcome_;
  unsigned status_ = 0;
  std::string error_body_;
  std::string saw_error_;
  bool saw_done_ = false;
  Clock::time_point done_time_;
  bool reused_ = false;
  bool retried_ = false;
  bool finished_ = false;
};

OpenAiHttpClient::OpenAiHttpClient(asio::io_context& io, std::vector<tcp::endpoint> endpoints,
                                   HttpClientOptions options)
    : io_(io),
      endpoints_(std::move(endpoints)),
      options_(std::move(options)),
      path_(options_.url.ApiPath(options_.request.chat ? "/chat/completions" : "/completions")) {}

OpenAiHttpClient::~OpenAiHttpClient() {
  for (tcp::socket& s : idle_) {
    beast::error_code ignored;
    s.close(ignored);
  }
}

void OpenAiHttpClient::Send(const RequestSpec& spec, std::function<void(Outcome)> done) {
  std::make_shared<HttpExchange>(this, spec, std::move(done))->Start();
}

void OpenAiHttpClient::CancelAll() {
  std::vector<HttpExchange*> active(active_.begin(), active_.end());
  for (HttpExchange* exchange : active) {
    exchange->Abort("deadline", "the run's time limit was reached");
  }
}

bool OpenAiHttpClient::TakeIdle(tcp::socket* socket) {
  while (!idle_.empty()) {
    tcp::socket s = std::move(idle_.back());
    idle_.pop_back();
    if (!s.is_open()) continue;
    // An idle keep-alive connection has nothing to read: if it is readable, the server
    // closed it (or sent something stray), so it is not reused.
    pollfd p{s.native_handle(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 0) {
      beast::error_code ignored;
      s.close(ignored);
      continue;
    }
    *socket = std::move(s);
    return true;
  }
  return false;
}

void OpenAiHttpClient::ReturnIdle(tcp::socket socket) { idle_.push_back(std::move(socket)); }

absl::StatusOr<std::vector<tcp::endpoint>> ResolveEndpoints(asio::io_context& io,
                                                            const BaseUrl& url,
                                                            bool require_loopback) {
  tcp::resolver resolver(io);
  beast::error_code ec;
  const auto results = resolver.resolve(url.host, url.port, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot resolve '", url.host, "': ", ec.message()));
  }
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) {
    const tcp::endpoint endpoint = entry.endpoint();
    if (require_loopback && !IsLoopbackAddress(endpoint.address().to_string())) {
      return absl::PermissionDeniedError(
          absl::StrCat("'", url.host, "' resolves to ", endpoint.address().to_string(),
                       ", not a loopback address; pass --allow-remote to load another machine"));
    }
    endpoints.push_back(endpoint);
  }
  if (endpoints.empty()) {
    return absl::UnavailableError(absl::StrCat("'", url.host, "' has no address"));
  }
  return endpoints;
}

}  // namespace strata::loadtest
