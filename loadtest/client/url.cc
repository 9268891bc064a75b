#include "loadtest/client/url.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "boost/asio/ip/address.hpp"

namespace strata::loadtest {

std::string BaseUrl::ApiPath(absl::string_view route) const {
  if (absl::EndsWith(path, "/v1")) return absl::StrCat(path, route);
  return absl::StrCat(path, "/v1", route);
}

std::string BaseUrl::Authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return v6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

absl::StatusOr<BaseUrl> ParseHostPort(absl::string_view target) {
  BaseUrl url;
  absl::string_view rest = target;
  if (absl::ConsumePrefix(&rest, "[")) {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", target, "': unclosed '['"));
    }
    url.host = std::string(rest.substr(0, close));
    rest.remove_prefix(close + 1);
    if (!rest.empty() && !absl::ConsumePrefix(&rest, ":")) {
      return absl::InvalidArgumentError(absl::StrCat("'", target, "': expected ':' after ']'"));
    }
    url.port = std::string(rest);
  } else {
    const size_t colon = rest.rfind(':');
    url.host = std::string(rest.substr(0, colon));
    if (colon != absl::string_view::npos) url.port = std::string(rest.substr(colon + 1));
  }
  uint32_t port;
  if (url.host.empty()) return absl::InvalidArgumentError(absl::StrCat("'", target, "': no host"));
  if (!url.port.empty() && (!absl::SimpleAtoi(url.port, &port) || port == 0 || port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("'", target, "': bad port '", url.port, "'"));
  }
  return url;
}

absl::StatusOr<BaseUrl> ParseBaseUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (absl::StartsWith(rest, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url,
                     "': https is not supported; use http:// (e.g. through a local "
                     "TLS-terminating proxy)"));
  }
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "': expected http://HOST[:PORT]"));
  }
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash);
  absl::StatusOr<BaseUrl> parsed = ParseHostPort(authority);
  if (!parsed.ok()) return parsed.status();
  if (parsed->port.empty()) parsed->port = "80";
  while (absl::ConsumeSuffix(&path, "/")) {
  }
  parsed->path = std::string(path);
  return parsed;
}

bool IsLoopbackAddress(const std::string& address) {
  boost::system::error_code ec;
  const boost::asio::ip::address ip = boost::asio::ip::make_address(address, ec);
  if (ec) return false;
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, ip.to_v6()).is_loopback();
  }
  return ip.is_loopback();
}

}  // namespace strata::loadtest
