// Per-connection deadlines: a slow header or body gets 408 and the connection closes, while
// other connections are served meanwhile.
#include <gtest/gtest.h>

#include "tests/server/http/http_fixture.h"

namespace strata::server::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class HttpTimeoutsTest : public HttpStackTest {};

TEST_F(HttpTimeoutsTest, SlowHeaderGets408AndOthersAreServedMeanwhile) {
  StackOptions options;
  options.http.header_timeout = 500ms;
  options.http.io_threads = 1;  // the stalled connection must not block the only io thread
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  TestClient slow(stack_->port(), 10);
  const auto start = Clock::now();
  slow.SendRaw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: appl");  // stalls
  // Slowloris: a byte at a time keeps the connection busy but does not extend the deadline.
  TestClient trickle(stack_->port(), 10);
  trickle.SendRaw("G");
  {
    TestClient normal(stack_->port(), 10);
    EXPECT_EQ(normal.Post("/v1/completions", Completion()).result_int(), 200);
  }
  for (int i = 0; i < 3; ++i) {
    TestClient normal(stack_->port(), 10);
    EXPECT_EQ(normal.Get("/v1/models").result_int(), 200);
    trickle.SendRaw("E");
    std::this_thread::sleep_for(100ms);
  }
  Response timed_out = slow.Read();
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(timed_out.result_int(), 408);
  EXPECT_EQ(Body(timed_out)["error"]["code"], "request_timeout");
  EXPECT_EQ(Body(timed_out)["error"]["message"],
            "Request timed out: the request header did not arrive within 0.5 s.");
  EXPECT_FALSE(timed_out.keep_alive());
  EXPECT_TRUE(slow.ServerClosed());
  EXPECT_GE(elapsed, 450ms);
  EXPECT_LT(elapsed, 5s);  // generous: the machine may be busy
  EXPECT_EQ(trickle.Read().result_int(), 408);
  EXPECT_TRUE(trickle.ServerClosed());
}

TEST_F(HttpTimeoutsTest, SlowBodyGets408AndOthersAreServedMeanwhile) {
  StackOptions options;
  options.http.body_timeout = 500ms;
  options.http.io_threads = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  const std::string body = Completion().dump();
  TestClient slow(stack_->port(), 10);
  const auto start = Clock::now();
  slow.SendRaw(
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10));
  for (size_t i = 10; i < 14; ++i) {  // a byte now and then: never the whole body in time
    TestClient normal(stack_->port(), 10);
    EXPECT_EQ(normal.Get("/v1/models").result_int(), 200);
    slow.SendRaw(body.substr(i, 1));
    std::this_thread::sleep_for(100ms);
  }
  Response timed_out = slow.Read();
  EXPECT_EQ(timed_out.result_int(), 408);
  EXPECT_EQ(Body(timed_out)["error"]["message"],
            "Request timed out: the request body did not arrive within 0.5 s.");
  EXPECT_TRUE(slow.ServerClosed());
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_F(HttpTimeoutsTest, RequestsWithinTheDeadlinesAreServed) {
  StackOptions options;
  options.http.header_timeout = 400ms;
  options.http.body_timeout = 400ms;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  TestClient client(stack_->port(), 10);
  const std::string body = Completion().dump();
  // Each request is slow-ish but within its deadlines; the deadline is per request, not per
  // connection, so three of them on one connection take longer than either deadline.
  for (int i = 0; i < 3; ++i) {
    client.SendRaw("POST /v1/completions HTTP/1.1\r\nHost: x\r\n");
    std::this_thread::sleep_for(150ms);
    client.SendRaw("Content-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 5));
    std::this_thread::sleep_for(150ms);
    client.SendRaw(body.substr(5));
    EXPECT_EQ(client.Read().result_int(), 200);
  }
}

TEST_F(HttpTimeoutsTest, IdleConnectionIsClosedWithoutAResponse) {
  StackOptions options;
  options.http.idle_timeout = 200ms;
  options.http.header_timeout = 5s;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  TestClient idle(stack_->port(), 10);
  EXPECT_EQ(idle.Get("/health").result_int(), 200);
  const auto start = Clock::now();
  EXPECT_TRUE(idle.ServerClosed());  // EOF, no 408: no request was begun
  EXPECT_LT(Clock::now() - start, 3s);
}

}  // namespace
}  // namespace strata::server::testing
