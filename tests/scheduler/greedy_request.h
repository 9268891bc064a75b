// Test helper: a greedy request that ignores EOS, so it runs to exactly max_tokens and its
// tokens can be compared across runs.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "scheduler/request.h"

namespace strata::scheduler {

inline Request GreedyRequest(RequestId id, std::vector<int32_t> prompt, int32_t max_tokens) {
  Request r;
  r.id = id;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0.0f;
  return r;
}

}  // namespace strata::scheduler
