#include "kernels/cpu/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/ops.h"

namespace strata::kernels::cpu {

void RouteTopK(const float* logits, int64_t rows, int64_t experts, int64_t top_k, bool normalize,
               int32_t* ids, float* weights) {
  std::vector<float> probs(experts);
  std::vector<int32_t> order(experts);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(probs.data(), logits + r * experts, experts * sizeof(float));
    SoftmaxInPlace(probs.data(), experts);
    for (int64_t e = 0; e < experts; ++e) order[e] = static_cast<int32_t>(e);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(),
                      [&](int32_t a, int32_t b) {
                        return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
                      });
    float sum = 0.0f;
    for (int64_t j = 0; j < top_k; ++j) sum += probs[order[j]];
    for (int64_t j = 0; j < top_k; ++j) {
      ids[r * top_k + j] = order[j];
      weights[r * top_k + j] = normalize ? probs[order[j]] / sum : probs[order[j]];
    }
  }
}

int64_t MoeFeedForward(const float* x, int64_t rows, int64_t hidden, const MoeWeights& w,
                       MoeScratch* s, float* out) {
  const int64_t k = w.top_k, inter = w.inter, pairs = rows * k;
  std::fill(out, out + rows * hidden, 0.0f);
  if (rows == 0) return 0;
  s->logits.resize(rows * w.experts);
  Linear(x, rows, hidden, w.router, w.experts, nullptr, s->logits.data());
  s->ids.resize(pairs);
  s->weights.resize(pairs);
  RouteTopK(s->logits.data(), rows, w.experts, k, w.norm_topk_prob, s->ids.data(),
            s->weights.data());

  // Counting sort of the (row, slot) pairs by expert; rows stay ascending within an expert.
  s->expert_begin.assign(w.experts + 1, 0);
  for (int64_t p = 0; p < pairs; ++p) ++s->expert_begin[s->ids[p] + 1];
  for (int64_t e = 0; e < w.experts; ++e) s->expert_begin[e + 1] += s->expert_begin[e];
  s->order.resize(pairs);
  std::vector<int64_t> cursor(s->expert_begin.begin(), s->expert_begin.end() - 1);
  for (int64_t p = 0; p < pairs; ++p) s->order[cursor[s->ids[p]]++] = p;

  int64_t activated = 0;
  for (int64_t e = 0; e < w.experts; ++e) {
    const int64_t begin = s->expert_begin[e], n = s->expert_begin[e + 1] - begin;
    if (n == 0) continue;
    ++activated;
    s->gathered.resize(n * hidden);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = s->order[begin + i] / k;
      std::memcpy(s->gathered.data() + i * hidden, x + row * hidden, hidden * sizeof(float));
    }
    s->gate_up.resize(n * 2 * inter);
    Linear(s->gathered.data(), n, hidden, w.gate_up + e * 2 * inter * hidden, 2 * inter, nullptr,
           s->gate_up.data());
    s->act.resize(n * inter);
    SiluAndMul(s->gate_up.data(), n, inter, s->act.data());
    s->expert_out.resize(n * hidden);
    Linear(s->act.data(), n, inter, w.down + e * hidden * inter, hidden, nullptr,
           s->expert_out.data());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pair = s->order[begin + i];
      const float weight = s->weights[pair];
      float* dst = out + (pair / k) * hidden;
      const float* src = s->expert_out.data() + i * hidden;
      for (int64_t j = 0; j < hidden; ++j) dst[j] += weight * src[j];
    }
  }
  return activated;
}

}  // namespace strata::kernels::cpu
