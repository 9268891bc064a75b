// State shared by the server and its connections. Internal to server/http.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "config/strata_config.h"
#include "server/http/event_gate.h"
#include "server/http/http_server.h"
#include "server/openai/prepare.h"
#include "server/security/api_keys.h"

namespace strata::server::http {

class HttpSession;

struct ServerContext {
  config::ServerOptions server_options;
  HttpServerOptions options;
  HttpServices services;
  security::ApiKeys api_keys;        // none: /v1/* needs no key
  openai::ChatRenderFn render_chat;  // null without a chat template
  std::shared_ptr<EventGate> gate = std::make_shared<EventGate>();
  int64_t created = 0;  // unix seconds at start, the model's "created"
  std::atomic<bool> draining{false};

  // Live connections, for Shutdown.
  std::mutex sessions_mutex;
  std::condition_variable sessions_changed;
  std::unordered_map<const HttpSession*, std::weak_ptr<HttpSession>> sessions;

  // Model loaded, not draining, and the engine loop healthy.
  bool Ready() const;
};

}  // namespace strata::server::http
