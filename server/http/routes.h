// Request routing: authentication, method checks, and the simple endpoints (/health,
// /ready, /metrics, /v1/models); generation endpoints go to generation_exchange.h.
// Internal to server/http.
#pragma once

#include <memory>

#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"

namespace strata::server::http {

struct ServerContext;
class HttpSession;

// Answers `request` through `session` (on its strand).
void RouteRequest(const std::shared_ptr<HttpSession>& session, ServerContext& context,
                  boost::beast::http::request<boost::beast::http::string_body> request);

}  // namespace strata::server::http
