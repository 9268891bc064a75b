#include "worker/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "kernels/cpu/ops.h"

namespace strata::worker {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int32_t Argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (int32_t i = 1; i < static_cast<int32_t>(logits.size()); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

// Top `count` (token, logprob) pairs of the raw distribution, descending, ties by id.
std::vector<TokenLogprob> TopLogprobs(std::span<const float> logits, float log_normalizer,
                                      int32_t count) {
  count = std::min<int32_t>(count, logits.size());
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  auto higher = [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  std::partial_sort(ids.begin(), ids.begin() + count, ids.end(), higher);
  std::vector<TokenLogprob> top;
  for (int32_t i = 0; i < count; ++i) top.push_back({ids[i], logits[ids[i]] - log_normalizer});
  return top;
}

// Draws from the filtered distribution by inverse CDF over candidates ordered by
// probability (descending, ties by id) so that any backend reproduces the choice.
int32_t DrawFiltered(std::span<float> logits, const SamplingParams& params, double uniform) {
  const int32_t vocab = static_cast<int32_t>(logits.size());
  for (float& v : logits) v /= params.temperature;
  const float lse = kernels::cpu::LogSumExp(logits.data(), vocab);
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  auto higher = [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  int32_t kept = vocab;
  if (params.top_k > 0 && params.top_k < vocab) kept = params.top_k;
  std::partial_sort(order.begin(), order.begin() + kept, order.end(), higher);
  std::vector<double> probs(kept);
  for (int32_t i = 0; i < kept; ++i) probs[i] = std::exp(double(logits[order[i]]) - lse);
  if (params.top_p < 1.0f) {
    // Keep the smallest prefix whose mass (renormalized over the top-k) reaches top_p.
    const double total = std::accumulate(probs.begin(), probs.end(), 0.0);
    double mass = 0.0;
    int32_t prefix = 0;
    while (prefix < kept) {
      mass += probs[prefix++] / total;
      if (mass >= params.top_p) break;
    }
    kept = std::max(prefix, 1);
  }
  if (params.min_p > 0.0f) {
    const double threshold = params.min_p * probs[0];
    int32_t prefix = 1;
    while (prefix < kept && probs[prefix] >= threshold) ++prefix;
    kept = prefix;
  }
  double total = 0.0;
  for (int32_t i = 0; i < kept; ++i) total += probs[i];
  double target = uniform * total, cumulative = 0.0;
  for (int32_t i = 0; i < kept; ++i) {
    cumulative += probs[i];
    if (target < cumulative) return order[i];
  }
  return order[kept - 1];
}

}  // namespace

double SeededUniform(uint64_t seed, uint64_t step) {
  const uint64_t bits = SplitMix64(SplitMix64(seed) ^ (step * 0xd1b54a32d192ed03ull));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

void ApplyPenalties(std::span<float> logits, const SamplingParams& params,
                    std::span<const int32_t> prompt_tokens,
                    std::span<const int32_t> output_tokens) {
  if (params.repetition_penalty != 1.0f) {
    std::unordered_set<int32_t> seen(prompt_tokens.begin(), prompt_tokens.end());
    seen.insert(output_tokens.begin(), output_tokens.end());
    for (int32_t token : seen) {
      float& v = logits[token];
      v = v > 0 ? v / params.repetition_penalty : v * params.repetition_penalty;
    }
  }
  if (params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int32_t> counts;
    for (int32_t token : output_tokens) ++counts[token];
    for (auto [token, count] : counts) {
      logits[token] -= params.frequency_penalty * count + params.presence_penalty;
    }
  }
}

SampledToken SampleToken(std::span<float> logits, const SamplingParams& params,
                         std::span<const int32_t> prompt_tokens,
                         std::span<const int32_t> output_tokens, uint64_t step) {
  const int32_t vocab = static_cast<int32_t>(logits.size());
  const float log_normalizer = kernels::cpu::LogSumExp(logits.data(), vocab);
  SampledToken result;
  if (params.top_logprobs > 0)
    result.top = TopLogprobs(logits, log_normalizer, params.top_logprobs);
  std::vector<float> raw(logits.begin(), logits.end());
  ApplyPenalties(logits, params, prompt_tokens, output_tokens);
  if (params.temperature <= 0.0f) {
    result.token = Argmax(logits);
  } else {
    result.token = DrawFiltered(logits, params, SeededUniform(params.seed, step));
  }
  result.logprob = raw[result.token] - log_normalizer;
  return result;
}

}  // namespace strata::worker
