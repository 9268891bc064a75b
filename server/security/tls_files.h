// The TLS material of both listeners (server.tls_cert_file, server.tls_key_file,
// server.tls_client_ca_file), read and checked once at start-up: the chain holds a PEM
// certificate, the key is an unencrypted PEM private key that matches the chain's first
// certificate, the client CA file holds at least one certificate. Errors name the config key
// and the file.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "config/strata_config.h"

namespace strata::server::security {

struct TlsFiles {
  std::string cert_chain_pem;  // server certificate first, then intermediates
  std::string private_key_pem;
  std::string client_ca_pem;  // empty: clients are not asked for a certificate

  bool mutual() const { return !client_ca_pem.empty(); }
};

// nullopt when TLS is off (server.tls_cert_file and server.tls_key_file both empty).
absl::StatusOr<std::optional<TlsFiles>> LoadTlsFiles(const config::ServerOptions& options);

}  // namespace strata::server::security
