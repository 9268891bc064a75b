// The sparse mixture-of-experts feed-forward block (Qwen3-MoE), float32: a router picks
// top_k experts per token by softmax probability, each expert is a SiLU-gated MLP, and the
// token's output is the probability-weighted sum of its experts' outputs. No shared expert.
// Tokens are grouped per expert so that each activated expert runs one GEMM (cpu::Linear)
// over all its tokens; its weights are read once per call.
#pragma once

#include <cstdint>
#include <vector>

namespace strata::kernels::cpu {

struct MoeWeights {
  const float* router = nullptr;   // [experts, hidden]
  const float* gate_up = nullptr;  // [experts, 2 * inter, hidden]: gate rows, then up rows
  const float* down = nullptr;     // [experts, hidden, inter]
  int64_t experts = 0;
  int64_t top_k = 0;
  int64_t inter = 0;
  bool norm_topk_prob = false;
};

// Routing of `rows` tokens from their router logits [rows, experts]: ids[r * top_k + j] is the
// j-th most probable expert of row r (ties to the lower id) and weights[...] its softmax
// probability (float32), divided by the sum of the row's top_k probabilities when `normalize`.
void RouteTopK(const float* logits, int64_t rows, int64_t experts, int64_t top_k, bool normalize,
               int32_t* ids, float* weights);

// Buffers reused across calls; grown on demand.
struct MoeScratch {
  std::vector<float> logits, weights, gathered, gate_up, act, expert_out;
  std::vector<int32_t> ids;
  std::vector<int64_t> order;  // (row, slot) pairs grouped by expert
  std::vector<int64_t> expert_begin;
};

// out[r, :] = sum_j weights[r, j] * expert_{ids[r, j]}(x[r, :]) for x [rows, hidden]; out is
// [rows, hidden] and must not alias x. Contributions are added in ascending expert order, so a
// row's result does not depend on the other rows of the batch. Returns the number of distinct
// experts the batch activated (whose weights were read).
int64_t MoeFeedForward(const float* x, int64_t rows, int64_t hidden, const MoeWeights& w,
                       MoeScratch* scratch, float* out);

}  // namespace strata::kernels::cpu
