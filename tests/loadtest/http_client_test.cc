// The OpenAI HTTP client against a scripted local server: streamed answers, HTTP errors,
// error events inside a stream, streams cut short, and keep-alive connections the server
// closed while they sat in the pool.
#include "loadtest/client/http_client.h"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "boost/asio/read.hpp"
#include "boost/asio/read_until.hpp"
#include "boost/asio/streambuf.hpp"
#include "boost/asio/write.hpp"
#include "nlohmann/json.hpp"

namespace strata::loadtest {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string Chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

std::string Sse(const std::string& json) { return Chunk("data: " + json + "\n\n"); }

// Answers each request by the prompt it carries: "ok", "500", "error-event", "truncate",
// "ok-then-close" (answers, then closes the connection after 50 ms).
class ScriptedServer {
 public:
  ScriptedServer() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Serve(); });
  }
  // Every connection thread is joined before io_ goes: a thread still reading would touch
  // it. Shutting the open sockets down wakes any thread blocked on a read.
  ~ScriptedServer() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : connections_) t.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_; }

 private:
  void Serve() {
    while (!stop_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      ++accepted_;
      {
        std::lock_guard<std::mutex> lock(mu_);
        open_fds_.insert(socket.native_handle());
      }
      connections_.emplace_back([this, s = std::move(socket)]() mutable {
        const int fd = s.native_handle();
        Connection(s);
        std::lock_guard<std::mutex> lock(mu_);
        open_fds_.erase(fd);
        s.close();  // under the lock: the destructor never shuts down a reused descriptor
      });
    }
  }

  void Connection(tcp::socket& socket) {
    asio::streambuf buffer;
    boost::system::error_code ec;
    while (true) {
      const size_t header_end = asio::read_until(socket, buffer, "\r\n\r\n", ec);
      if (ec) return;
      std::string head(asio::buffers_begin(buffer.data()),
                       asio::buffers_begin(buffer.data()) + header_end);
      buffer.consume(header_end);
      const size_t at = head.find("Content-Length: ");
      const size_t length = std::stoul(head.substr(at + 16));
      if (buffer.size() < length)
        asio::read(socket, buffer, asio::transfer_exactly(length - buffer.size()), ec);
      if (ec) return;
      std::string body(asio::buffers_begin(buffer.data()),
                       asio::buffers_begin(buffer.data()) + length);
      buffer.consume(length);
      const std::string prompt = nlohmann::json::parse(body)["prompt"];
      const std::string stream_head =
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: "
          "chunked\r\n\r\n";
      const std::string usage =
          Sse(R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}})");
      std::string out;
      if (prompt == "500") {
        const std::string err = R"({"error":{"message":"engine on fire"}})";
        out =
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            "Content-Length: " +
            std::to_string(err.size()) + "\r\n\r\n" + err;
      } else if (prompt == "error-event") {
        out = stream_head + Sse(R"({"choices":[{"text":"a"}]})") +
              Sse(R"({"error":{"message":"aborted"}})") + Chunk("data: [DONE]\n\n") + "0\r\n\r\n";
      } else if (prompt == "truncate") {
        out = stream_head + Sse(R"({"choices":[{"text":"a"}]})");
        asio::write(socket, asio::buffer(out), ec);
        return;  // closes mid-stream
      } else {
        out = stream_head;
        for (const char* t : {"a", "b", "c"}) {
          out += Sse(std::string(R"({"choices":[{"index":0,"text":")") + t + R"("}]})");
        }
        out += usage + Chunk("data: [DONE]\n\n") + "0\r\n\r\n";
      }
      asio::write(socket, asio::buffer(out), ec);
      if (ec) return;
      if (prompt == "ok-then-close") {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return;  // an idle keep-alive connection closed by the server
      }
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<std::thread> connections_;  // only the accepting thread adds to it
  std::mutex mu_;
  std::set<int> open_fds_;
};

class HttpClientTest : public testing::Test {
 protected:
  HttpClientTest() {
    HttpClientOptions options;
    options.url = *ParseBaseUrl("http://127.0.0.1:" + std::to_string(server_.port()));
    options.request.model = "m";
    options.request_timeout_s = 5;
    auto endpoints = ResolveEndpoints(io_, options.url, true);
    EXPECT_TRUE(endpoints.ok());
    client_ = std::make_unique<OpenAiHttpClient>(io_, *endpoints, options);
  }

  Outcome Send(const std::string& prompt) {
    RequestSpec spec;
    spec.prompt = prompt;
    spec.output_len = 3;
    std::optional<Outcome> got;
    io_.restart();  // run_one() stopped the context when the last request had finished
    client_->Send(spec, [&](Outcome o) { got = std::move(o); });
    while (!got) io_.run_one();
    return *got;
  }

  ScriptedServer server_;
  asio::io_context io_;
  std::unique_ptr<OpenAiHttpClient> client_;
};

TEST_F(HttpClientTest, StreamedAnswer) {
  const Outcome o = Send("ok");
  EXPECT_TRUE(o.ok()) << o.error_kind << ": " << o.error_message;
  EXPECT_EQ(o.chunk_times.size(), 3u);
  EXPECT_EQ(*o.prompt_tokens, 5);
  EXPECT_EQ(*o.completion_tokens, 3);
  EXPECT_GE(o.chunk_times.front(), o.sent);
  EXPECT_GE(o.finished, o.chunk_times.back());
  // Keep-alive: the next request reuses the connection.
  EXPECT_TRUE(Send("ok").ok());
  EXPECT_EQ(client_->connections_opened(), 1);
}

TEST_F(HttpClientTest, ErrorsByKind) {
  Outcome o = Send("500");
  EXPECT_EQ(o.error_kind, "http_500");
  EXPECT_EQ(o.error_message, "engine on fire");
  o = Send("error-event");
  EXPECT_EQ(o.error_kind, "stream_error");
  EXPECT_EQ(o.error_message, "aborted");
  o = Send("truncate");
  EXPECT_EQ(o.error_kind, "truncated");
  EXPECT_EQ(o.chunk_times.size(), 1u);
}

TEST_F(HttpClientTest, ConnectionsClosedWhileIdleAreNotReused) {
  // Two connections go to the pool; the server then closes both.
  RequestSpec spec;
  spec.prompt = "ok-then-close";
  spec.output_len = 3;
  int done = 0;
  io_.restart();
  for (int i = 0; i < 2; ++i) {
    client_->Send(spec, [&](Outcome o) {
      EXPECT_TRUE(o.ok()) << o.error_kind;
      ++done;
    });
  }
  while (done < 2) io_.run_one();
  EXPECT_EQ(client_->connections_opened(), 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const Outcome o = Send("ok");
  EXPECT_TRUE(o.ok()) << o.error_kind << ": " << o.error_message;
  EXPECT_EQ(client_->connections_opened(), 3);
}

TEST_F(HttpClientTest, ConnectionRefused) {
  HttpClientOptions options;
  options.url = *ParseBaseUrl("http://127.0.0.1:1");
  auto endpoints = ResolveEndpoints(io_, options.url, true);
  OpenAiHttpClient client(io_, *endpoints, options);
  RequestSpec spec;
  spec.output_len = 1;
  std::optional<Outcome> got;
  client.Send(spec, [&](Outcome o) { got = std::move(o); });
  while (!got) io_.run_one();
  EXPECT_EQ(got->error_kind, "connect");
}

TEST(UrlTest, ParsesAndChecksLoopback) {
  BaseUrl u = *ParseBaseUrl("http://localhost:8000/v1/");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, "8000");
  EXPECT_EQ(u.ApiPath("/completions"), "/v1/completions");
  u = *ParseBaseUrl("http://[::1]:9000");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.Authority(), "[::1]:9000");
  EXPECT_EQ(u.ApiPath("/models"), "/v1/models");
  EXPECT_EQ(ParseBaseUrl("http://h").value().port, "80");
  EXPECT_FALSE(ParseBaseUrl("https://h").ok());
  EXPECT_FALSE(ParseBaseUrl("h:80").ok());
  EXPECT_FALSE(ParseBaseUrl("http://h:99999").ok());
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackAddress("127.8.9.10"));
  EXPECT_TRUE(IsLoopbackAddress("::1"));
  EXPECT_TRUE(IsLoopbackAddress("::ffff:127.0.0.1"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackAddress("::ffff:10.0.0.1"));
  asio::io_context io;
  EXPECT_FALSE(ResolveEndpoints(io, *ParseBaseUrl("http://192.0.2.1"), true).ok());
  EXPECT_TRUE(ResolveEndpoints(io, *ParseBaseUrl("http://192.0.2.1"), false).ok());
}

}  // namespace
}  // namespace strata::loadtest
