#include "server/http/tls_context.h"

#include <openssl/ssl.h>

#include "absl/strings/str_cat.h"
#include "boost/asio/buffer.hpp"

namespace strata::server::http {

namespace ssl = boost::asio::ssl;

absl::StatusOr<std::unique_ptr<ssl::context>> MakeTlsContext(const security::TlsFiles& files) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  // An encrypted key fails instead of prompting on the terminal.
  context->set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); });
  boost::system::error_code ec;
  context->use_certificate_chain(boost::asio::buffer(files.cert_chain_pem), ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.tls_cert_file: cannot use the certificate chain: ", ec.message()));
  }
  context->use_private_key(boost::asio::buffer(files.private_key_pem), ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.tls_key_file: cannot use the private key: ", ec.message()));
  }
  if (files.mutual()) {
    context->add_certificate_authority(boost::asio::buffer(files.client_ca_pem), ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server.tls_client_ca_file: cannot use the CA certificates: ", ec.message()));
    }
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    context->set_verify_mode(ssl::verify_none);
  }
  // Session tickets resume TLS 1.3 connections across keep-alive reconnects.
  SSL_CTX_set_session_id_context(context->native_handle(),
                                 reinterpret_cast<const unsigned char*>("strata-http"), 11);
  return context;
}

}  // namespace strata::server::http
