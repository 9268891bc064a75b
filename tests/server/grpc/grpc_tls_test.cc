// The gRPC listener over TLS and mutual TLS, and API keys from server.api_key_file, with
// certificates made at test time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/security/credentials.h"
#include "server/grpc/grpc_server.h"
#include "tests/server/grpc/test_server.h"
#include "tests/server/security/test_certs.h"

namespace strata::server::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

class GrpcTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.ok()) << certs_.error(); }

  TestServerOptions TlsOptions(bool mutual = false) {
    TestServerOptions options;
    options.server.tls_cert_file = certs_.Path("server.pem");
    options.server.tls_key_file = certs_.Path("server.key");
    if (mutual) options.server.tls_client_ca_file = certs_.Path("ca.pem");
    options.credentials = Credentials();
    return options;
  }
  // TLS client credentials trusting `ca`, with the client certificate `cert` if given.
  std::shared_ptr<grpc::ChannelCredentials> Credentials(const std::string& ca = "ca.pem",
                                                        const std::string& cert = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs_.Read(ca);
    if (!cert.empty()) {
      ssl.pem_cert_chain = certs_.Read(cert + ".pem");
      ssl.pem_private_key = certs_.Read(cert + ".key");
    }
    return grpc::SslCredentials(ssl);
  }

  static grpc::Status Health(const std::shared_ptr<grpc::Channel>& channel,
                             HealthCheckResponse::ServingStatus* serving) {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service("strata.v1.Strata");
    HealthCheckResponse response;
    grpc::Status status = health->Check(&context, request, &response);
    *serving = response.status();
    return status;
  }
  static StreamResult GenerateOn(const std::shared_ptr<grpc::Channel>& channel,
                                 const std::string& api_key = "") {
    auto stub = strata::v1::Strata::NewStub(channel);
    return Generate(*stub, GreedyRequest(4), api_key);
  }

  TestCerts certs_;
  TempDir dir_;
};

TEST_F(GrpcTlsTest, GenerateAndHealthOverTls) {
  STRATA_REQUIRE_TOKENIZER();
  TestServer server(TlsOptions());
  ASSERT_TRUE(server.server().tls());
  StreamResult result = Generate(server.stub(), GreedyRequest(4));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.tokens.size(), 4u);
  HealthCheckResponse::ServingStatus serving = HealthCheckResponse::UNKNOWN;
  grpc::Status health = Health(server.channel(), &serving);
  ASSERT_TRUE(health.ok()) << health.error_message();
  EXPECT_EQ(serving, HealthCheckResponse::SERVING);

  // A plaintext client, or one that does not trust the server's CA, gets nowhere.
  StreamResult plain = GenerateOn(server.NewChannel(grpc::InsecureChannelCredentials()));
  EXPECT_EQ(plain.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  StreamResult untrusting = GenerateOn(server.NewChannel(Credentials("rogue-ca.pem")));
  EXPECT_EQ(untrusting.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(server.WaitIdle());
}

TEST_F(GrpcTlsTest, ApiKeysFromTheKeyFileOverTls) {
  STRATA_REQUIRE_TOKENIZER();
  TestServerOptions options = TlsOptions();
  options.api_key = "from-config";
  options.server.api_key_file = dir_.Write("keys", "# grpc clients\nkey-a\n\n  key-b\n");
  TestServer server(options);
  StreamResult missing = Generate(server.stub(), GreedyRequest(4));
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(missing.status.error_message(),
            "missing API key: send metadata 'authorization: Bearer <key>'");
  for (const char* wrong : {"key-c", "key-", "# grpc clients", ""}) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + wrong);
    strata::v1::ListModelsResponse response;
    grpc::Status status = server.stub().ListModels(&context, {}, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong;
    EXPECT_EQ(status.error_message(), "invalid API key") << wrong;
  }
  for (const char* key : {"from-config", "key-a", "key-b"}) {
    StreamResult right = Generate(server.stub(), GreedyRequest(4), key);
    EXPECT_TRUE(right.status.ok()) << key << ": " << right.status.error_message();
    EXPECT_EQ(right.tokens.size(), 4u);
  }
  // The health service needs no key.
  HealthCheckResponse::ServingStatus serving = HealthCheckResponse::UNKNOWN;
  EXPECT_TRUE(Health(server.channel(), &serving).ok());
  EXPECT_EQ(serving, HealthCheckResponse::SERVING);
}

TEST_F(GrpcTlsTest, MutualTlsRequiresAClientCertificateFromTheConfiguredCa) {
  STRATA_REQUIRE_TOKENIZER();
  TestServerOptions options = TlsOptions(/*mutual=*/true);
  options.credentials = Credentials("ca.pem", "client");
  TestServer server(options);
  StreamResult ok = Generate(server.stub(), GreedyRequest(4));
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  HealthCheckResponse::ServingStatus serving = HealthCheckResponse::UNKNOWN;
  EXPECT_FALSE(Health(server.NewChannel(Credentials()), &serving).ok());
  StreamResult anonymous = GenerateOn(server.NewChannel(Credentials()));
  EXPECT_EQ(anonymous.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  StreamResult rogue = GenerateOn(server.NewChannel(Credentials("ca.pem", "rogue-client")));
  EXPECT_EQ(rogue.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcTlsTest, BadKeyFileOrCertificateFailsStart) {
  config::ServerOptions options;
  options.host = "127.0.0.1";
  options.grpc_port = 0;
  options.api_key_file = dir_.Write("keys", "\n# nothing\n");
  auto started = GrpcServer::Start(options, nullptr, "m");
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().message(),
            "server.api_key_file: " + dir_.File("keys") +
                ": no API key in the file (only blank lines and # comments)");
  options.api_key_file.clear();
  options.tls_cert_file = certs_.Path("server.pem");
  options.tls_key_file = certs_.Path("client.key");
  started = GrpcServer::Start(options, nullptr, "m");
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.status().message(), HasSubstr("server.tls_key_file: the private key in"));
}

}  // namespace
}  // namespace strata::server::testing
