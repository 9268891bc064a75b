// The engine's native request and the outputs it streams back. Nothing JSON-shaped: the
// frontend has already validated, templated and tokenized.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "worker/sampling.h"

namespace strata::scheduler {

using RequestId = int64_t;

struct Request {
  RequestId id = 0;
  std::vector<int32_t> prompt_tokens;
  worker::SamplingParams sampling;
  int32_t max_tokens = 16;              // new tokens at most
  std::vector<int32_t> stop_token_ids;  // besides the model's EOS tokens
  bool ignore_eos = false;
  int32_t priority = 0;  // lower runs first (as vLLM); ties by arrival
  // Resident KV at most this many tokens (rounded up to blocks); 0: the engine's default.
  int64_t kv_budget_tokens = 0;
  std::string eviction_policy;  // what happens at the budget; empty: the engine's default
  std::string cache_salt;       // prefix-cache namespace (per tenant); blocks never cross it
  // Parallel sampling (n > 1): the request of the first choice, whose prompt is this one's.
  // The engine then waits for that request's prefill and shares its prompt K/V (a fork of
  // its blocks) instead of computing them again; when that cannot be done (the request is
  // gone, preempted, or its blocks cannot be shared) this one prefills on its own. Either
  // way the tokens are the same.
  std::optional<RequestId> share_prompt_with;
};

enum class FinishReason { kNone, kStop, kLength, kAborted };

const char* FinishReasonName(FinishReason reason);

// New tokens of one request from one engine step.
struct RequestOutput {
  RequestId id = 0;
  std::vector<worker::SampledToken> tokens;
  FinishReason finish = FinishReason::kNone;  // set on the request's last output
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // so far, including `tokens`
  std::string finish_detail;      // why, when the reason needs words (e.g. a KV budget)
};

}  // namespace strata::scheduler
