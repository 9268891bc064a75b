// The HTTP listener's TLS context, built from checked PEM material (security/tls_files.h):
// TLS 1.2 and later, the certificate chain and key, and with client CAs mutual TLS (a
// client without a certificate those CAs signed fails the handshake). Internal to
// server/http.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "boost/asio/ssl/context.hpp"
#include "server/security/tls_files.h"

namespace strata::server::http {

absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> MakeTlsContext(
    const security::TlsFiles& files);

}  // namespace strata::server::http
