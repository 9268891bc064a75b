// Token sampling from one row of logits: penalties, temperature, top-k, top-p, min-p,
// seeded randomness, log-probabilities. Pure functions of their inputs, so the CPU and CUDA
// paths can agree token for token.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace strata::worker {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy (argmax, lowest id on ties)
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off; keep tokens with p >= min_p * p_max
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;  // 1: off
  uint64_t seed = 0;                // the request's seed; the engine draws one when unset
  int32_t top_logprobs = 0;         // alternatives to report besides the chosen token
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampledToken {
  int32_t token = 0;
  float logprob = 0.0f;           // of the chosen token under the model's distribution
  std::vector<TokenLogprob> top;  // the `top_logprobs` most likely tokens, descending
};

// A uniform number in [0, 1) determined by (seed, step): the step-th draw of a request.
double SeededUniform(uint64_t seed, uint64_t step);

// Penalties as OpenAI/vLLM define them: repetition divides positive / multiplies negative
// logits of every token seen in prompt or output; presence and frequency subtract from
// tokens seen in the output. Modifies `logits` in place.
void ApplyPenalties(std::span<float> logits, const SamplingParams& params,
                    std::span<const int32_t> prompt_tokens, std::span<const int32_t> output_tokens);

// Samples the next token. `logits` are the raw model logits (modified in place: penalties,
// temperature). Log-probabilities are those of the raw logits (before penalties and
// temperature), as vLLM reports them by default. `step` is the index of this draw among
// the request's draws.
SampledToken SampleToken(std::span<float> logits, const SamplingParams& params,
                         std::span<const int32_t> prompt_tokens,
                         std::span<const int32_t> output_tokens, uint64_t step);

}  // namespace strata::worker
