// The API keys a server accepts: server.api_key plus every key of server.api_key_file, read
// once at start-up. Only SHA-256 digests are kept; Accepts() compares the presented key's
// digest with every stored one in constant time, so its timing reveals neither the content
// nor the length of a key, nor which key matched.
//
// Key file: one key per line; surrounding spaces and tabs (and a CR of CRLF files) are
// trimmed; blank lines and lines starting with '#' are ignored; a key with whitespace or a
// control character inside is an error naming the line.
//
// Immutable after construction: safe to share between threads.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/strata_config.h"

namespace strata::server::security {

class ApiKeys {
 public:
  ApiKeys() = default;  // no keys: authentication off
  explicit ApiKeys(const std::vector<std::string>& keys);

  // server.api_key (if set) and the keys of server.api_key_file (if set). Errors name the
  // config key and the file, and the line for a malformed key; a key file without any key
  // is an error too.
  static absl::StatusOr<ApiKeys> Load(const config::ServerOptions& options);

  // The keys of a key file's text; `source` (the path) prefixes errors as "SOURCE:LINE: ".
  static absl::StatusOr<std::vector<std::string>> ParseKeyFile(std::string_view text,
                                                               std::string_view source);

  bool enabled() const { return !digests_.empty(); }  // false: every request is accepted
  size_t size() const { return digests_.size(); }

  // Whether `key` is one of the keys (false when there are none).
  bool Accepts(std::string_view key) const;
  // Whether `authorization` is "Bearer <key>" with an accepted key (the scheme's case and
  // spaces around the key do not matter).
  bool AcceptsBearer(std::string_view authorization) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  std::vector<Digest> digests_;
};

// The token of an "Authorization: Bearer <token>" value; nullopt for another scheme or an
// empty token.
std::optional<std::string_view> BearerToken(std::string_view authorization);

}  // namespace strata::server::security
