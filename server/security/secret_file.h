// Reads a small file named by a config key (a key file, a PEM file). Errors name the key and
// the path, e.g. "server.tls_key_file: cannot read '/etc/k.pem': Permission denied".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace strata::server::security {

// The whole file; files over 16 MiB are refused (none of ours is anywhere near that).
absl::StatusOr<std::string> ReadSecretFile(std::string_view config_key, const std::string& path);

}  // namespace strata::server::security
