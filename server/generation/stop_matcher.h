// Finds stop strings in streamed text across chunk boundaries. Text that could still be the
// beginning of a stop string is held back until it either completes a match (it and
// everything after it are dropped) or can no longer match (it is released).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  struct Result {
    std::string text;                  // safe to emit now
    std::optional<std::string> match;  // the stop string found; the stream ends here
  };
  // Appends `text`; returns what may be emitted and, on a match, the stop string.
  Result Push(std::string_view text);
  // The stream ended without a match: releases the held-back text.
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

}  // namespace strata::server
