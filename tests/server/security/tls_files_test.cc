#include "server/security/tls_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/security/test_certs.h"

namespace strata::server::security {
namespace {

using ::testing::HasSubstr;
using testing::TestCerts;

class TlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.ok()) << certs_.error(); }

  config::ServerOptions Options() const {
    config::ServerOptions options;
    options.tls_cert_file = certs_.Path("server.pem");
    options.tls_key_file = certs_.Path("server.key");
    return options;
  }
  std::string Error(const config::ServerOptions& options) const {
    auto files = LoadTlsFiles(options);
    EXPECT_FALSE(files.ok());
    return std::string(files.status().message());
  }

  TestCerts certs_;
};

TEST_F(TlsFilesTest, OffWithoutFiles) {
  auto files = LoadTlsFiles(config::ServerOptions{});
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_FALSE(files->has_value());
}

TEST_F(TlsFilesTest, LoadsCertificateKeyAndClientCas) {
  config::ServerOptions options = Options();
  auto files = LoadTlsFiles(options);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_TRUE(files->has_value());
  EXPECT_EQ((*files)->cert_chain_pem, certs_.Read("server.pem"));
  EXPECT_EQ((*files)->private_key_pem, certs_.Read("server.key"));
  EXPECT_FALSE((*files)->mutual());
  options.tls_client_ca_file = certs_.Path("ca.pem");
  files = LoadTlsFiles(options);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE((*files)->mutual());
  EXPECT_EQ((*files)->client_ca_pem, certs_.Read("ca.pem"));
}

TEST_F(TlsFilesTest, ErrorsNameTheConfigKey) {
  config::ServerOptions options = Options();
  options.tls_key_file.clear();
  EXPECT_EQ(Error(options), "server.tls_key_file: required when server.tls_cert_file is set");
  options = Options();
  options.tls_cert_file.clear();
  EXPECT_EQ(Error(options), "server.tls_cert_file: required when server.tls_key_file is set");
  options = config::ServerOptions{};
  options.tls_client_ca_file = certs_.Path("ca.pem");
  EXPECT_THAT(Error(options), HasSubstr("server.tls_client_ca_file: mutual TLS needs"));

  options = Options();
  options.tls_cert_file = certs_.Path("nope.pem");
  EXPECT_EQ(Error(options), "server.tls_cert_file: cannot read '" + certs_.Path("nope.pem") +
                                "': No such file or directory");
  options = Options();
  options.tls_cert_file = certs_.Path("server.key");  // a key, not a certificate
  EXPECT_THAT(Error(options), HasSubstr("server.tls_cert_file: '" + certs_.Path("server.key") +
                                        "' holds no PEM certificate"));
  options = Options();
  options.tls_key_file = certs_.Path("server.pem");  // a certificate, not a key
  EXPECT_THAT(Error(options), HasSubstr("server.tls_key_file: '" + certs_.Path("server.pem") +
                                        "' holds no unencrypted PEM private key"));
  options = Options();
  options.tls_key_file = certs_.Path("client.key");  // another certificate's key
  EXPECT_THAT(Error(options), HasSubstr("server.tls_key_file: the private key in '" +
                                        certs_.Path("client.key") + "' does not match"));
  options = Options();
  options.tls_client_ca_file = certs_.dir().Write("garbage.pem", "not a certificate\n");
  EXPECT_THAT(Error(options),
              HasSubstr("server.tls_client_ca_file: '" + certs_.dir().File("garbage.pem") +
                        "' holds no PEM certificate"));
}

}  // namespace
}  // namespace strata::server::security
