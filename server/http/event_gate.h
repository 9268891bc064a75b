// Delivers generation events from the engine thread to the io strand that owns an exchange.
// The engine-side callback only takes a mutex and posts; it never blocks and never touches
// sockets. Detach() stops delivery to one exchange; Close() (at server shutdown) stops all
// delivery and drops every executor and target, so callbacks that the engine still holds
// afterwards do nothing and keep nothing of the server alive.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "boost/asio/any_io_executor.hpp"
#include "server/generation/generation_service.h"

namespace strata::server::http {

// Receives a generation's events on its executor (a connection's strand).
class EventTarget {
 public:
  virtual ~EventTarget() = default;
  virtual void OnGenerationEvent(int choice, GenerationEvent event) = 0;
};

class EventGate : public std::enable_shared_from_this<EventGate> {
 public:
  // Thread-safe. Returns the key of the registration; 0 when the gate is closed.
  uint64_t Attach(boost::asio::any_io_executor executor, std::shared_ptr<EventTarget> target);
  // Thread-safe; idempotent. The target is released outside the lock.
  void Detach(uint64_t key);
  // The callback for GenerationService::Start: posts each event of choice `choice` to the
  // target registered under `key`, while it is registered.
  GenerationCallback Callback(uint64_t key, int choice);
  // Detaches everything and refuses further Attach calls.
  void Close();

 private:
  struct Entry {
    boost::asio::any_io_executor executor;
    std::shared_ptr<EventTarget> target;
  };
  void Deliver(uint64_t key, int choice, GenerationEvent event);

  std::mutex mutex_;
  bool closed_ = false;
  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, Entry> entries_;
};

}  // namespace strata::server::http
