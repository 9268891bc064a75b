#include "server/generation/stop_matcher.h"

#include <algorithm>

namespace strata::server {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

StopMatcher::Result StopMatcher::Push(std::string_view text) {
  pending_.append(text);
  Result result;
  if (stops_.empty()) {
    result.text.swap(pending_);
    return result;
  }
  // The earliest complete match wins (the longest stop on equal positions).
  size_t best = std::string::npos;
  for (const std::string& stop : stops_) {
    const size_t at = pending_.find(stop);
    if (at == std::string::npos) continue;
    if (best == std::string::npos || at < best ||
        (at == best && stop.size() > result.match->size())) {
      best = at;
      result.match = stop;
    }
  }
  if (result.match) {
    result.text = pending_.substr(0, best);
    pending_.clear();
    return result;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string. Stop strings
  // begin on a character boundary, so the cut never splits a UTF-8 character.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    for (size_t k = std::min(stop.size() - 1, pending_.size()); k > hold; --k) {
      if (std::string_view(pending_).substr(pending_.size() - k) ==
          std::string_view(stop).substr(0, k)) {
        hold = k;
        break;
      }
    }
  }
  result.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return result;
}

std::string StopMatcher::Flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace strata::server
