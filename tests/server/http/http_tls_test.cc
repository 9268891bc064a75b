// The HTTP listener over TLS and mutual TLS, with certificates made at test time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/http/http_fixture.h"

namespace strata::server::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class HttpTlsTest : public HttpStackTest {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.ok()) << certs_.error(); }

  StackOptions TlsOptions(bool mutual = false) {
    StackOptions options;
    options.server.tls_cert_file = certs_.Path("server.pem");
    options.server.tls_key_file = certs_.Path("server.key");
    if (mutual) options.server.tls_client_ca_file = certs_.Path("ca.pem");
    return options;
  }

  // Whether the server refuses `client`: its handshake or its first request fails (with
  // TLS 1.3 the server checks the client's certificate after the client's handshake ends).
  static bool Refused(TlsTestClient& client) {
    if (client.Handshake()) return true;
    boost::system::error_code ec;
    Response response = client.Call(bhttp::verb::get, "/health", "", {}, &ec);
    return ec.failed();
  }

  TestCerts certs_;
};

TEST_F(HttpTlsTest, ServesJsonAndSseOverOneKeepAliveConnection) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsOptions()));
  EXPECT_TRUE(stack_->server().tls());
  TlsTestClient client(stack_->port(), certs_);
  ASSERT_FALSE(client.Handshake());
  EXPECT_EQ(client.Get("/health").result_int(), 200);
  Response completion = client.Post("/v1/completions", Completion());
  ASSERT_EQ(completion.result_int(), 200) << completion.body();
  EXPECT_EQ(Body(completion)["usage"]["completion_tokens"], 4);
  Response stream = client.Post("/v1/completions", Completion({{"stream", true}}));
  ASSERT_EQ(stream.result_int(), 200);
  bool well_framed = false;
  std::vector<nlohmann::json> events = SseEvents(stream.body(), &well_framed);
  EXPECT_TRUE(well_framed) << stream.body();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  // Connection: close ends with a TLS close_notify, which the client reads as EOF.
  Response last = client.Get("/v1/models", {{"Connection", "close"}});
  EXPECT_EQ(last.result_int(), 200);
  EXPECT_FALSE(last.keep_alive());
  EXPECT_EQ(client.ReadError(), net::error::eof);
}

TEST_F(HttpTlsTest, PlainHttpAndUntrustingClientsFail) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsOptions()));
  TestClient plain(stack_->port(), 10);
  EXPECT_THROW(plain.Get("/health"), boost::system::system_error);
  TlsTestClient untrusting(stack_->port(), certs_, "rogue-ca.pem");
  boost::system::error_code ec = untrusting.Handshake();
  EXPECT_TRUE(ec.failed());
  EXPECT_THAT(ec.message(), HasSubstr("certificate verify failed"));
  // The server is unharmed.
  TlsTestClient good(stack_->port(), certs_);
  ASSERT_FALSE(good.Handshake());
  EXPECT_EQ(good.Get("/health").result_int(), 200);
}

TEST_F(HttpTlsTest, MutualTlsRequiresAClientCertificateFromTheConfiguredCa) {
  ASSERT_NO_FATAL_FAILURE(StartServer(TlsOptions(/*mutual=*/true)));
  TlsTestClient anonymous(stack_->port(), certs_);
  EXPECT_TRUE(Refused(anonymous));
  TlsTestClient rogue(stack_->port(), certs_, "ca.pem", "rogue-client.pem", "rogue-client.key");
  EXPECT_TRUE(Refused(rogue));
  TlsTestClient client(stack_->port(), certs_, "ca.pem", "client.pem", "client.key");
  ASSERT_FALSE(client.Handshake());
  EXPECT_EQ(client.Get("/health").result_int(), 200);
  EXPECT_EQ(client.Post("/v1/completions", Completion()).result_int(), 200);
}

TEST_F(HttpTlsTest, StalledHandshakeIsClosedAndOthersAreServed) {
  StackOptions options = TlsOptions();
  options.http.header_timeout = 300ms;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  TestClient silent(stack_->port(), 10);  // connects, never says hello
  TestClient half(stack_->port(), 10);
  half.SendRaw(std::string("\x16\x03\x01\x02\x00\x01", 6));  // a ClientHello's first bytes
  TlsTestClient good(stack_->port(), certs_);
  ASSERT_FALSE(good.Handshake());
  EXPECT_EQ(good.Get("/health").result_int(), 200);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.ServerClosed());
  EXPECT_TRUE(half.ServerClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(HttpTlsTest, SlowHeaderOverTlsGets408) {
  StackOptions options = TlsOptions();
  options.http.header_timeout = 300ms;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  TlsTestClient slow(stack_->port(), certs_);
  ASSERT_FALSE(slow.Handshake());
  slow.SendRaw("GET /health HTTP/1.1\r\nHost: localhost\r\n");  // never finished
  Response response = slow.Read();
  EXPECT_EQ(response.result_int(), 408);
  EXPECT_EQ(Body(response)["error"]["code"], "request_timeout");
  EXPECT_EQ(slow.ReadError(), net::error::eof);
}

TEST_F(HttpTlsTest, BadTlsFilesFailStartWithTheConfigKey) {
  StackOptions options = TlsOptions();
  options.server.tls_key_file = certs_.Path("client.key");
  EXPECT_THAT(StartError(options), HasSubstr("server.tls_key_file: the private key in"));
  options = TlsOptions();
  options.server.tls_cert_file = certs_.Path("missing.pem");
  EXPECT_THAT(StartError(options), HasSubstr("server.tls_cert_file: cannot read"));
}

}  // namespace
}  // namespace strata::server::testing
