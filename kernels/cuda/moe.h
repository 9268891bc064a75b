// The sparse mixture-of-experts block (Qwen3-MoE) on the GPU, matching kernels/cpu/moe.h:
// routing (softmax over the router logits in float32, top-k, optional renormalisation), a
// permutation of the (token, slot) pairs grouped by expert, one grouped GEMM launch over
// all activated experts for gate/up (SiLU-gated, fused) and one for down, then the
// probability-weighted sum of each token's expert outputs. The grouped GEMM stages tiles in
// shared memory and skips the MMAs of rows a tile lacks, so one kernel serves a decode
// token (an expert sees one row) and a prefill cohort (hundreds).
//
// Everything stays on the device (no host sync, fixed launch shapes for a given row count),
// so a forward pass with MoE layers can be captured in a CUDA graph. The router GEMM itself
// is the caller's (Gemm, float32 output). Include from host code or .cu files (no Abseil).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda {

constexpr int kMoeMaxExperts = 512;
constexpr int kMoeMaxTopK = 32;
// Permuted rows per grouped-GEMM tile: one expert's weights are read once per tile.
constexpr int kMoeTileRows = 128;

// Device buffers of one MoE step for up to `max_rows` tokens, carved by MoeWorkspace::Carve
// from MoeWorkspaceBytes() bytes (256-byte aligned). Pairs: max_rows * top_k.
struct MoeWorkspace {
  float* router_logits = nullptr;    // [rows, experts]
  int32_t* topk_ids = nullptr;       // [pairs]: pair r * top_k + j -> expert
  float* topk_weights = nullptr;     // [pairs]
  int32_t* source_row = nullptr;     // [pairs]: permuted position -> token row
  int32_t* pair_position = nullptr;  // [pairs]: pair -> permuted position
  int4* tiles = nullptr;             // [max_tiles]: (expert, first position, rows, 0)
  int32_t* num_tiles = nullptr;      // [1]
  bf16* act = nullptr;               // [pairs, inter]: silu(gate) * up, permuted
  bf16* expert_out = nullptr;        // [pairs, hidden]: down output, permuted
  int32_t max_tiles = 0;

  static MoeWorkspace Carve(void* base, int64_t max_rows, int64_t experts, int64_t top_k,
                            int64_t inter, int64_t hidden);
};
size_t MoeWorkspaceBytes(int64_t max_rows, int64_t experts, int64_t top_k, int64_t inter,
                         int64_t hidden);
// Tiles needed at most for `pairs` pairs over `experts` experts: each expert's last tile
// may be partial, and every tile holds at least one pair. (The grouped GEMM's grid covers
// this many tiles; the blocks of tiles MoeAlign did not make exit at once.)
int32_t MoeMaxTiles(int64_t pairs, int64_t experts);

// ids/weights of each row's top_k experts from router logits [rows, experts] (float32):
// probabilities by softmax in float32, the most probable first (ties to the lower id),
// divided by their sum when `normalize`. experts <= kMoeMaxExperts, top_k <= kMoeMaxTopK.
void MoeRoute(const float* logits, int64_t rows, int32_t experts, int32_t top_k, bool normalize,
              int32_t* ids, float* weights, cudaStream_t stream);

// Groups the pairs of `ids` by expert: fills source_row, pair_position, tiles and num_tiles
// of `ws`, and adds the number of distinct experts used to *activated_experts (when non-null).
void MoeAlign(const int32_t* ids, int64_t rows, int32_t experts, int32_t top_k,
              const MoeWorkspace& ws, unsigned long long* activated_experts, cudaStream_t stream);

// MoeRoute from ws.router_logits into ws.topk_ids/topk_weights, then MoeAlign: the same
// results, in one launch for batches of up to 8 rows.
void MoeRouteAndAlign(int64_t rows, int32_t experts, int32_t top_k, bool normalize,
                      const MoeWorkspace& ws, unsigned long long* activated_experts,
                      cudaStream_t stream);

// One launch over every tile: y[p, :] = x[row(p), :] . W_e^T for the permuted rows p of each
// tile, e the tile's expert, with bf16 tensor-core MMAs (m16n8k16) and float32 accumulation.
// With fused_silu the expert's weights are [2n, k] (gate rows, then up rows) and
// y[p, j] = silu(gate_j) * up_j, the gate/up products kept in float32.
struct GroupedGemmArgs {
  const bf16* x = nullptr;  // rows ldx apart
  int64_t ldx = 0;
  const int32_t* x_rows = nullptr;  // permuted position -> x row; null: the position itself
  const bf16* w = nullptr;          // expert e at w + e * w_expert_stride, row-major [., k]
  int64_t w_expert_stride = 0;
  bf16* y = nullptr;  // [pairs, n], rows ldy apart, indexed by position
  int64_t ldy = 0;
  const int4* tiles = nullptr;
  const int32_t* num_tiles = nullptr;
  int32_t max_tiles = 0;  // the grid covers this many; the rest exit
  int32_t n = 0, k = 0;   // k % 8 == 0; x, w 16-byte aligned, ldx % 8 == 0
  bool fused_silu = false;
  // The tiles, num_tiles and x_rows were written before the kernel launched just ahead of
  // this one on the stream (the down GEMM: the gate/up GEMM runs between it and MoeAlign).
  // With programmatic launch the blocks then read them, and start streaming their weights,
  // while that kernel finishes; only x waits for it.
  bool tiles_settled = false;
};
void GroupedGemm(const GroupedGemmArgs& args, cudaStream_t stream);

// out[r, :] = sum_j weights[r * top_k + j] * expert_out[pair_position[r * top_k + j], :],
// summed in slot order in float32, rounded to bf16. hidden % 8 == 0, expert_out and out
// 16-byte aligned.
void MoeCombine(const bf16* expert_out, const int32_t* pair_position, const float* weights,
                int64_t rows, int32_t top_k, int64_t hidden, bf16* out, cudaStream_t stream);

// The whole expert step after the router GEMM: route, align, gate/up, down, combine.
// gate_up [experts, 2 inter, hidden], down [experts, hidden, inter]; x [rows, hidden] and
// out [rows, hidden] bf16; ws.router_logits must hold the router's output.
struct MoeExpertsArgs {
  const bf16* x = nullptr;
  const bf16* gate_up = nullptr;
  const bf16* down = nullptr;
  bf16* out = nullptr;
  int64_t rows = 0;
  int32_t experts = 0, top_k = 0;
  int64_t inter = 0, hidden = 0;
  bool normalize = false;
  unsigned long long* activated_experts = nullptr;  // or null
};
void MoeExperts(const MoeExpertsArgs& args, const MoeWorkspace& ws, cudaStream_t stream);
// The step's two grouped GEMMs alone (gate/up with SiLU into ws.act, down into
// ws.expert_out), over the tiles MoeRouteAndAlign left in ws; args.out is not written.
void MoeExpertGemms(const MoeExpertsArgs& args, const MoeWorkspace& ws, cudaStream_t stream);

}  // namespace strata::kernels::cuda
