#include "server/security/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "server/security/secret_file.h"

namespace strata::server::security {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Whitespace, ASCII control characters and DEL cannot be part of a key.
bool ValidKeyChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

}  // namespace

ApiKeys::ApiKeys(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    if (key.empty()) continue;
    Digest digest{};
    unsigned int size = 0;
    EVP_Digest(key.data(), key.size(), digest.data(), &size, EVP_sha256(), nullptr);
    if (std::find(digests_.begin(), digests_.end(), digest) == digests_.end()) {
      digests_.push_back(digest);
    }
  }
}

absl::StatusOr<std::vector<std::string>> ApiKeys::ParseKeyFile(std::string_view text,
                                                               std::string_view source) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 byte order mark
  std::vector<std::string> keys;
  int line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = Trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    if (!std::all_of(line.begin(), line.end(), ValidKeyChar)) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(source), ":", line_number,
          ": a key must not contain whitespace or control characters (comments need a line "
          "of their own, starting with #)"));
    }
    keys.emplace_back(line);
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(source), ": no API key in the file (only blank lines and # comments)"));
  }
  return keys;
}

absl::StatusOr<ApiKeys> ApiKeys::Load(const config::ServerOptions& options) {
  std::vector<std::string> keys;
  if (!options.api_key.empty()) keys.push_back(options.api_key);
  if (!options.api_key_file.empty()) {
    absl::StatusOr<std::string> text = ReadSecretFile("server.api_key_file", options.api_key_file);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::vector<std::string>> listed = ParseKeyFile(*text, options.api_key_file);
    if (!listed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("server.api_key_file: ", listed.status().message()));
    }
    keys.insert(keys.end(), listed->begin(), listed->end());
  }
  return ApiKeys(keys);
}

bool ApiKeys::Accepts(std::string_view key) const {
  Digest digest{};
  unsigned int size = 0;
  EVP_Digest(key.data(), key.size(), digest.data(), &size, EVP_sha256(), nullptr);
  // No early exit: every stored digest is compared.
  unsigned int match = 0;
  for (const Digest& stored : digests_) {
    match |=
        static_cast<unsigned int>(CRYPTO_memcmp(stored.data(), digest.data(), digest.size()) == 0);
  }
  return match != 0 && !key.empty();
}

bool ApiKeys::AcceptsBearer(std::string_view authorization) const {
  const std::optional<std::string_view> token = BearerToken(authorization);
  return token.has_value() && Accepts(*token);
}

std::optional<std::string_view> BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  authorization = Trim(authorization);
  if (authorization.size() <= kScheme.size() ||
      !std::equal(
          kScheme.begin(), kScheme.end(), authorization.begin(),
          [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }) ||
      !IsBlank(authorization[kScheme.size()])) {
    return std::nullopt;
  }
  const std::string_view token = Trim(authorization.substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace strata::server::security
