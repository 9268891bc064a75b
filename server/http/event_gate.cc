#include "server/http/event_gate.h"

#include <utility>
#include <vector>

#include "boost/asio/post.hpp"

namespace strata::server::http {

uint64_t EventGate::Attach(boost::asio::any_io_executor executor,
                           std::shared_ptr<EventTarget> target) {
  std::lock_guard lock(mutex_);
  if (closed_) return 0;
  const uint64_t key = next_key_++;
  entries_.emplace(key, Entry{std::move(executor), std::move(target)});
  return key;
}

void EventGate::Detach(uint64_t key) {
  Entry released;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    released = std::move(it->second);
    entries_.erase(it);
  }
  // `released` (and possibly the last reference to its target) goes here, unlocked.
}

GenerationCallback EventGate::Callback(uint64_t key, int choice) {
  return [gate = shared_from_this(), key, choice](GenerationEvent event) {
    gate->Deliver(key, choice, std::move(event));
  };
}

void EventGate::Deliver(uint64_t key, int choice, GenerationEvent event) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  boost::asio::post(it->second.executor,
                    [target = it->second.target, choice, event = std::move(event)]() mutable {
                      target->OnGenerationEvent(choice, std::move(event));
                    });
}

void EventGate::Close() {
  std::vector<Entry> released;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& [key, entry] : entries_) released.push_back(std::move(entry));
    entries_.clear();
  }
}

}  // namespace strata::server::http
