// Text-level generation shared by the HTTP and gRPC frontends: submits token-level requests
// to the engine loop and turns the engine's token events into text deltas, detokenized
// incrementally (every delta valid UTF-8), with stop strings matched across token
// boundaries and removed from the output, and log-probabilities attached.
//
// Thread-safety: Start() and Cancel() may be called from any thread. Callbacks run on the
// engine thread and must not block; each generation gets exactly one final event
// (finish_reason set, or a non-OK status).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/engine_loop.h"
#include "server/tokenizer/tokenizer.h"
#include "worker/sampling.h"

namespace strata::server {

struct GenerationParams {
  std::vector<int32_t> prompt_tokens;
  worker::SamplingParams sampling;  // sampling.seed is used only when seed is set
  std::optional<uint64_t> seed;     // unset: a fresh random seed
  int32_t max_tokens = 16;          // 0: up to the context length
  std::vector<std::string> stop;    // stop strings, excluded from the output
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool skip_special_tokens = true;
  int32_t priority = 0;
  int64_t kv_budget_tokens = 0;  // 0: the engine's default
  std::string eviction_policy;   // empty: the engine's default
  std::string cache_salt;
  // n > 1: the generation of the first choice of the same prompt, started earlier; the
  // engine shares that one's prompt K/V (scheduler::Request::share_prompt_with).
  std::optional<scheduler::RequestId> share_prompt_with;
};

struct TopLogprob {
  int32_t token = 0;
  std::string text;  // the token's own bytes, decoded (may be a partial UTF-8 sequence)
  float logprob = 0.0f;
};

struct TokenInfo {
  int32_t token = 0;
  std::string text;
  float logprob = 0.0f;
  std::vector<TopLogprob> top;  // sampling.top_logprobs alternatives
};

struct GenerationEvent {
  std::string text_delta;                    // new text since the previous event
  std::vector<TokenInfo> tokens;             // the tokens generated since the previous event
  std::optional<std::string> finish_reason;  // "stop" | "length" | "abort" on the last event
  std::optional<std::string> stop_reason;    // the stop string matched, if any
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // tokens generated so far (incl. a stop token)
  absl::Status status;            // not OK: failed; this is the last event
};
using GenerationCallback = std::function<void(GenerationEvent)>;

class GenerationService {
 public:
  // Neither pointer is owned; both outlive the service.
  GenerationService(scheduler::EngineLoop* loop, const Tokenizer* tokenizer);

  // Checks what the engine would refuse (empty prompt, token ids outside the vocabulary,
  // prompt + max_tokens beyond the context length) and submits. InvalidArgument names the
  // problem; ResourceExhausted / Unavailable come from the queue. Returns the request id.
  absl::StatusOr<scheduler::RequestId> Start(GenerationParams params, GenerationCallback callback);
  void Cancel(scheduler::RequestId id);

  int64_t max_model_len() const { return loop_->max_model_len(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  scheduler::EngineLoop& loop() { return *loop_; }

 private:
  scheduler::EngineLoop* loop_;
  const Tokenizer* tokenizer_;
};

}  // namespace strata::server
