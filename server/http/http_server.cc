#include "server/http/http_server.h"

#include <cstdio>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "server/http/http_session.h"
#include "server/http/server_context.h"
#include "server/http/tls_context.h"
#include "server/openai/response_builder.h"

namespace strata::server::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

bool ServerContext::Ready() const {
  if (draining.load() || services.generation == nullptr) return false;
  const scheduler::EngineLoop& loop = services.generation->loop();
  return !loop.draining() && loop.Healthy(options.engine_stall_limit);
}

struct HttpServer::Io {
  net::io_context context;
  net::executor_work_guard<net::io_context::executor_type> work{context.get_executor()};
  net::strand<net::io_context::executor_type> accept_strand{net::make_strand(context)};
  tcp::acceptor acceptor{accept_strand};
  net::steady_timer accept_retry{accept_strand};
  bool accepting = true;                   // accept_strand only
  std::unique_ptr<net::ssl::context> tls;  // null: plain TCP
};

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const config::ServerOptions& options,
                                                              HttpServices services,
                                                              HttpServerOptions http_options) {
  if (http_options.io_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("http io_threads must be at least 1, got ", http_options.io_threads));
  }
  absl::StatusOr<security::ApiKeys> api_keys = security::ApiKeys::Load(options);
  if (!api_keys.ok()) return api_keys.status();
  absl::StatusOr<std::optional<security::TlsFiles>> tls_files = security::LoadTlsFiles(options);
  if (!tls_files.ok()) return tls_files.status();
  std::unique_ptr<net::ssl::context> tls;
  if (tls_files->has_value()) {
    absl::StatusOr<std::unique_ptr<net::ssl::context>> made = MakeTlsContext(**tls_files);
    if (!made.ok()) return made.status();
    tls = std::move(*made);
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  auto context = std::make_shared<ServerContext>();
  context->api_keys = std::move(*api_keys);
  context->server_options = options;
  context->options = http_options;
  context->created = openai::UnixSeconds();
  if (services.chat_template != nullptr && services.generation != nullptr) {
    const ChatTemplate* chat_template = services.chat_template;
    const Tokenizer* tokenizer = &services.generation->tokenizer();
    context->render_chat = [chat_template, tokenizer](const nlohmann::ordered_json& messages,
                                                      bool add_generation_prompt,
                                                      const nlohmann::ordered_json& extra) {
      return ApplyChatTemplate(*chat_template, messages, add_generation_prompt, extra,
                               tokenizer->bos_token().value_or(""),
                               tokenizer->eos_token().value_or(""));
    };
  }
  context->services = std::move(services);
  server->context_ = context;
  server->io_ = std::make_unique<Io>();
  server->io_->tls = std::move(tls);
  server->tls_ = server->io_->tls != nullptr;

  Io& io = *server->io_;
  error_code ec;
  const net::ip::address address = net::ip::make_address(options.host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.host: not an IP address: '", options.host, "'"));
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.http_port));
  io.acceptor.open(endpoint.protocol(), ec);
  if (!ec) io.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) io.acceptor.bind(endpoint, ec);
  if (!ec) io.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.host, ":",
                                               options.http_port, ": ", ec.message()));
  }
  server->port_ = io.acceptor.local_endpoint().port();
  net::post(io.accept_strand, [s = server.get()] { s->Accept(); });
  for (int i = 0; i < http_options.io_threads; ++i) {
    server->threads_.emplace_back([&io] { io.context.run(); });
  }
  return server;
}

void HttpServer::Accept() {
  Io& io = *io_;
  if (!io.accepting) return;
  io.acceptor.async_accept(net::make_strand(io.context), [this](error_code ec, tcp::socket socket) {
    Io& io = *io_;
    if (!io.accepting) return;
    if (ec) {
      if (ec == net::error::operation_aborted) return;
      // Out of descriptors or a transient failure: retry shortly.
      std::fprintf(stderr, "strata http: accept failed: %s\n", ec.message().c_str());
      io.accept_retry.expires_after(std::chrono::milliseconds(100));
      io.accept_retry.async_wait([this](error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    auto session = std::make_shared<HttpSession>(std::move(socket), io.tls.get(), context_);
    {
      std::lock_guard lock(context_->sessions_mutex);
      context_->sessions.emplace(session.get(), session);
    }
    session->Run();
    Accept();
  });
}

void HttpServer::BeginDrain() { context_->draining.store(true); }

void HttpServer::Shutdown() {
  if (shut_down_.exchange(true) || io_ == nullptr) return;
  Io& io = *io_;
  if (threads_.empty()) {  // Start failed before serving
    error_code ignored;
    io.acceptor.close(ignored);
    io_.reset();
    return;
  }
  // Stop accepting.
  std::promise<void> stopped;
  net::post(io.accept_strand, [&io, &stopped] {
    io.accepting = false;
    error_code ignored;
    io.acceptor.close(ignored);
    io.accept_retry.cancel();
    stopped.set_value();
  });
  stopped.get_future().wait();
  // Close every connection; their generations are cancelled.
  std::vector<std::shared_ptr<HttpSession>> live;
  {
    std::lock_guard lock(context_->sessions_mutex);
    for (auto& [key, weak] : context_->sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (auto& session : live) session->Close();
  live.clear();
  {
    std::unique_lock lock(context_->sessions_mutex);
    context_->sessions_changed.wait_for(lock, context_->options.shutdown_grace,
                                        [&] { return context_->sessions.empty(); });
  }
  // Engine callbacks still held by the engine now do nothing.
  context_->gate->Close();
  io.work.reset();
  io.context.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  // Handlers that never ran (and the sessions they hold) go with the io_context.
  io_.reset();
}

}  // namespace strata::server::http
