// The MoE block's kernels: see moe.h.
#include <algorithm>
#include <cfloat>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/moe.h"

namespace strata::kernels::cuda {
namespace {

size_t Align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

// ---- Routing: one warp per row. -------------------------------------------------------------

constexpr int kRouteValuesPerLane = kMoeMaxExperts / kWarpSize;

// Called by a whole warp.
__device__ void RouteRow(const float* logits, int row, int experts, int top_k, bool normalize,
                         int32_t* ids, float* weights) {
  const int lane = threadIdx.x % kWarpSize;
  const float* in = logits + int64_t{row} * experts;
  float p[kRouteValuesPerLane];
  float max_value = -FLT_MAX;
#pragma unroll
  for (int i = 0; i < kRouteValuesPerLane; ++i) {
    const int e = lane + i * kWarpSize;
    p[i] = e < experts ? in[e] : -FLT_MAX;
    max_value = fmaxf(max_value, p[i]);
  }
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    max_value = fmaxf(max_value, __shfl_xor_sync(~0u, max_value, offset));
  }
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kRouteValuesPerLane; ++i) {
    const int e = lane + i * kWarpSize;
    p[i] = e < experts ? expf(p[i] - max_value) : 0.0f;
    sum += p[i];
  }
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    sum += __shfl_xor_sync(~0u, sum, offset);
  }
  const float inv = 1.0f / sum;
#pragma unroll
  for (int i = 0; i < kRouteValuesPerLane; ++i)
    p[i] = lane + i * kWarpSize < experts ? p[i] * inv : -1.0f;

  // top_k rounds of a warp argmax (larger probability, then lower id); lane j keeps pick j.
  float my_weight = 0.0f, total = 0.0f;
  int my_id = 0;
  for (int j = 0; j < top_k; ++j) {
    float best = -2.0f;
    int best_id = INT32_MAX;
#pragma unroll
    for (int i = 0; i < kRouteValuesPerLane; ++i) {
      if (p[i] > best) best = p[i], best_id = lane + i * kWarpSize;  // ascending ids per lane
    }
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      const float other = __shfl_xor_sync(~0u, best, offset);
      const int other_id = __shfl_xor_sync(~0u, best_id, offset);
      if (other > best || (other == best && other_id < best_id)) best = other, best_id = other_id;
    }
    if (best_id % kWarpSize == lane) {
#pragma unroll
      for (int i = 0; i < kRouteValuesPerLane; ++i) {
        if (lane + i * kWarpSize == best_id) p[i] = -1.0f;
      }
    }
    if (lane == j) my_weight = best, my_id = best_id;
    total += best;
  }
  if (lane < top_k) {
    ids[int64_t{row} * top_k + lane] = my_id;
    weights[int64_t{row} * top_k + lane] = normalize ? my_weight / total : my_weight;
  }
}

__global__ void RouteKernel(const float* logits, int rows, int experts, int top_k, bool normalize,
                            int32_t* ids, float* weights) {
  GridDependencyEnter();
  const int row = (blockIdx.x * blockDim.x + threadIdx.x) / kWarpSize;
  if (row < rows) RouteRow(logits, row, experts, top_k, normalize, ids, weights);
}

// ---- Alignment: one block counts, lays out the tiles and places every pair. ------------------

constexpr int kAlignThreads = 1024;
static_assert(kAlignThreads >= kMoeMaxExperts && kAlignThreads == kWarpSize * kWarpSize);

// Called by a whole block of kAlignThreads threads.
__device__ void AlignPairs(const int32_t* ids, int pairs, int experts, int top_k,
                           int32_t* source_row, int32_t* pair_position, int4* tiles,
                           int32_t* num_tiles, unsigned long long* activated) {
  __shared__ int count[kMoeMaxExperts], cursor[kMoeMaxExperts];
  __shared__ long long warp_sums[kWarpSize];
  const int e = threadIdx.x, lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  if (e < experts) count[e] = 0;
  __syncthreads();
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) atomicAdd(&count[ids[p]], 1);
  __syncthreads();
  // Thread e lays out expert e: an exclusive block scan of (pairs << 32 | tiles) over the
  // experts gives its first position and its first tile at once (tile counts stay far
  // below 2^32, so the low half never carries into the high one).
  const int c = e < experts ? count[e] : 0;
  const int t = (c + kMoeTileRows - 1) / kMoeTileRows;
  const long long own = (static_cast<long long>(c) << 32) | t;
  long long v = own;
  for (int offset = 1; offset < kWarpSize; offset *= 2) {
    const long long up = __shfl_up_sync(~0u, v, offset);
    if (lane >= offset) v += up;
  }
  if (lane == kWarpSize - 1) warp_sums[warp] = v;
  const int used = __syncthreads_count(c > 0);
  if (warp == 0) {
    long long w = warp_sums[lane];
    for (int offset = 1; offset < kWarpSize; offset *= 2) {
      const long long up = __shfl_up_sync(~0u, w, offset);
      if (lane >= offset) w += up;
    }
    warp_sums[lane] = w;
  }
  __syncthreads();
  const long long before = (warp > 0 ? warp_sums[warp - 1] : 0) + v - own;
  if (e < experts) {
    const int position = static_cast<int>(before >> 32);
    const int first_tile = static_cast<int>(before & 0xffffffff);
    cursor[e] = position;
    for (int i = 0; i < t; ++i) {
      const int b = i * kMoeTileRows;
      tiles[first_tile + i] = make_int4(e, position + b, min(kMoeTileRows, c - b), 0);
    }
  }
  if (threadIdx.x == kAlignThreads - 1)
    *num_tiles = static_cast<int>(warp_sums[kWarpSize - 1] & 0xffffffff);
  if (threadIdx.x == 0 && activated != nullptr) *activated += static_cast<unsigned long long>(used);
  __syncthreads();
  // The order inside an expert's group does not matter: each row's products are independent.
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
    const int position = atomicAdd(&cursor[ids[p]], 1);
    source_row[position] = p / top_k;
    pair_position[p] = position;
  }
}

__global__ void __launch_bounds__(kAlignThreads)
    AlignKernel(const int32_t* ids, int pairs, int experts, int top_k, int32_t* source_row,
                int32_t* pair_position, int4* tiles, int32_t* num_tiles,
                unsigned long long* activated) {
  GridDependencyEnter();
  AlignPairs(ids, pairs, experts, top_k, source_row, pair_position, tiles, num_tiles, activated);
}

// Both in one block, for decode batches of a few rows: a warp per row routes them, and
// after the barrier (which makes the block's global writes visible to the whole block)
// the block aligns them. One launch instead of two saves 2-3 us up to 8 rows; from 16 rows
// it is slower (strata-cuda-moe-bench), the routing warps sharing one SM where MoeRoute
// spreads them over several.
constexpr int kFusedRouteMaxRows = 8;
static_assert(kFusedRouteMaxRows <= kAlignThreads / kWarpSize);

__global__ void __launch_bounds__(kAlignThreads)
    RouteAndAlignKernel(const float* logits, int rows, int experts, int top_k, bool normalize,
                        int32_t* ids, float* weights, int32_t* source_row, int32_t* pair_position,
                        int4* tiles, int32_t* num_tiles, unsigned long long* activated) {
  GridDependencyEnter();
  const int row = threadIdx.x / kWarpSize;
  if (row < rows) RouteRow(logits, row, experts, top_k, normalize, ids, weights);
  __syncthreads();
  AlignPairs(ids, rows * top_k, experts, top_k, source_row, pair_position, tiles, num_tiles,
             activated);
}

// ---- Combine: one block per token row. ------------------------------------------------------

constexpr int kCombineThreads = 256;

// The row's slots are read once into shared memory; each thread then sums 8 columns at a
// time, its top_k 16-byte loads independent of one another (the per-slot loads of the
// positions would otherwise sit in front of every column's read).
__global__ void __launch_bounds__(kCombineThreads)
    CombineKernel(const bf16* expert_out, const int32_t* pair_position, const float* weights,
                  int top_k, int64_t hidden, bf16* out) {
  GridDependencyEnter();
  __shared__ int64_t source[kMoeMaxTopK];
  __shared__ float weight[kMoeMaxTopK];
  const int64_t row = blockIdx.x;
  if (threadIdx.x < top_k) {
    const int64_t pair = row * top_k + threadIdx.x;
    source[threadIdx.x] = int64_t{pair_position[pair]} * hidden;
    weight[threadIdx.x] = weights[pair];
  }
  __syncthreads();
  for (int64_t h = threadIdx.x * 8; h < hidden; h += kCombineThreads * 8) {
    float sum[8] = {};
    for (int j = 0; j < top_k; ++j) {
      float v[8];
      Unpack(LoadBf16x8(expert_out + source[j] + h), v);
#pragma unroll
      for (int e = 0; e < 8; ++e) sum[e] += weight[j] * v[e];
    }
    StoreBf16x8(out + row * hidden + h, Pack(sum));
  }
}

}  // namespace

int32_t MoeMaxTiles(int64_t pairs, int64_t experts) {
  const int64_t bound = (pairs + kMoeTileRows - 1) / kMoeTileRows + std::min(pairs, experts);
  return static_cast<int32_t>(std::min(bound, pairs));
}

size_t MoeWorkspaceBytes(int64_t max_rows, int64_t experts, int64_t top_k, int64_t inter,
                         int64_t hidden) {
  const size_t pairs = static_cast<size_t>(max_rows * top_k);
  return Align256(max_rows * experts * sizeof(float)) + Align256(pairs * sizeof(int32_t)) * 3 +
         Align256(pairs * sizeof(float)) + Align256(MoeMaxTiles(pairs, experts) * sizeof(int4)) +
         Align256(sizeof(int32_t)) + Align256(pairs * inter * sizeof(bf16)) +
         Align256(pairs * hidden * sizeof(bf16));
}

MoeWorkspace MoeWorkspace::Carve(void* base, int64_t max_rows, int64_t experts, int64_t top_k,
                                 int64_t inter, int64_t hidden) {
  char* at = static_cast<char*>(base);
  auto take = [&at](size_t bytes) {
    char* p = at;
    at += Align256(bytes);
    return p;
  };
  const size_t pairs = static_cast<size_t>(max_rows * top_k);
  MoeWorkspace ws;
  ws.router_logits = reinterpret_cast<float*>(take(max_rows * experts * sizeof(float)));
  ws.topk_ids = reinterpret_cast<int32_t*>(take(pairs * sizeof(int32_t)));
  ws.topk_weights = reinterpret_cast<float*>(take(pairs * sizeof(float)));
  ws.source_row = reinterpret_cast<int32_t*>(take(pairs * sizeof(int32_t)));
  ws.pair_position = reinterpret_cast<int32_t*>(take(pairs * sizeof(int32_t)));
  ws.max_tiles = MoeMaxTiles(pairs, experts);
  ws.tiles = reinterpret_cast<int4*>(take(ws.max_tiles * sizeof(int4)));
  ws.num_tiles = reinterpret_cast<int32_t*>(take(sizeof(int32_t)));
  ws.act = reinterpret_cast<bf16*>(take(pairs * inter * sizeof(bf16)));
  ws.expert_out = reinterpret_cast<bf16*>(take(pairs * hidden * sizeof(bf16)));
  return ws;
}

namespace {
void CheckRouting(int32_t experts, int32_t top_k) {
  STRATA_CHECK(experts > 0 && experts <= kMoeMaxExperts && top_k > 0 && top_k <= kMoeMaxTopK &&
               top_k <= experts)
      << "MoE routing: " << experts << " experts, top " << top_k;
}
void CheckTiles(int64_t rows, int32_t experts, int32_t top_k, const MoeWorkspace& ws) {
  STRATA_CHECK_LE(MoeMaxTiles(rows * top_k, experts), ws.max_tiles);
}
}  // namespace

void MoeRoute(const float* logits, int64_t rows, int32_t experts, int32_t top_k, bool normalize,
              int32_t* ids, float* weights, cudaStream_t stream) {
  CheckRouting(experts, top_k);
  if (rows == 0) return;
  constexpr int kWarps = 4;
  const int blocks = static_cast<int>((rows + kWarps - 1) / kWarps);
  internal::Launch(RouteKernel, dim3(blocks), dim3(kWarps * kWarpSize), 0, stream, logits,
                   static_cast<int>(rows), experts, top_k, normalize, ids, weights);
  STRATA_CUDA_CHECK_LAUNCH();
}

void MoeAlign(const int32_t* ids, int64_t rows, int32_t experts, int32_t top_k,
              const MoeWorkspace& ws, unsigned long long* activated_experts, cudaStream_t stream) {
  CheckRouting(experts, top_k);
  if (rows == 0) return;
  CheckTiles(rows, experts, top_k, ws);
  internal::Launch(AlignKernel, dim3(1), dim3(kAlignThreads), 0, stream, ids,
                   static_cast<int>(rows * top_k), experts, top_k, ws.source_row, ws.pair_position,
                   ws.tiles, ws.num_tiles, activated_experts);
  STRATA_CUDA_CHECK_LAUNCH();
}

void MoeRouteAndAlign(int64_t rows, int32_t experts, int32_t top_k, bool normalize,
                      const MoeWorkspace& ws, unsigned long long* activated_experts,
                      cudaStream_t stream) {
  if (rows > kFusedRouteMaxRows) {
    MoeRoute(ws.router_logits, rows, experts, top_k, normalize, ws.topk_ids, ws.topk_weights,
             stream);
    MoeAlign(ws.topk_ids, rows, experts, top_k, ws, activated_experts, stream);
    return;
  }
  CheckRouting(experts, top_k);
  if (rows == 0) return;
  CheckTiles(rows, experts, top_k, ws);
  internal::Launch(RouteAndAlignKernel, dim3(1), dim3(kAlignThreads), 0, stream, ws.router_logits,
                   static_cast<int>(rows), experts, top_k, normalize, ws.topk_ids, ws.topk_weights,
                   ws.source_row, ws.pair_position, ws.tiles, ws.num_tiles, activated_experts);
  STRATA_CUDA_CHECK_LAUNCH();
}

void MoeCombine(const bf16* expert_out, const int32_t* pair_position, const float* weights,
                int64_t rows, int32_t top_k, int64_t hidden, bf16* out, cudaStream_t stream) {
  STRATA_CHECK(top_k > 0 && top_k <= kMoeMaxTopK && hidden % 8 == 0 && Aligned16(expert_out) &&
               Aligned16(out))
      << "MoE combine: top_k " << top_k << " hidden " << hidden;
  if (rows == 0) return;
  internal::Launch(CombineKernel, dim3(static_cast<unsigned>(rows)), dim3(kCombineThreads), 0,
                   stream, expert_out, pair_position, weights, static_cast<int>(top_k), hidden,
                   out);
  STRATA_CUDA_CHECK_LAUNCH();
}

void MoeExpertGemms(const MoeExpertsArgs& a, const MoeWorkspace& ws, cudaStream_t stream) {
  if (a.rows == 0) return;
  const int32_t tiles = MoeMaxTiles(a.rows * a.top_k, a.experts);
  GroupedGemm({.x = a.x,
               .ldx = a.hidden,
               .x_rows = ws.source_row,
               .w = a.gate_up,
               .w_expert_stride = 2 * a.inter * a.hidden,
               .y = ws.act,
               .ldy = a.inter,
               .tiles = ws.tiles,
               .num_tiles = ws.num_tiles,
               .max_tiles = tiles,
               .n = static_cast<int32_t>(a.inter),
               .k = static_cast<int32_t>(a.hidden),
               .fused_silu = true},
              stream);
  GroupedGemm({.x = ws.act,
               .ldx = a.inter,
               .x_rows = nullptr,
               .w = a.down,
               .w_expert_stride = a.hidden * a.inter,
               .y = ws.expert_out,
               .ldy = a.hidden,
               .tiles = ws.tiles,
               .num_tiles = ws.num_tiles,
               .max_tiles = tiles,
               .n = static_cast<int32_t>(a.hidden),
               .k = static_cast<int32_t>(a.inter),
               .fused_silu = false,
               .tiles_settled = true},
              stream);
}

void MoeExperts(const MoeExpertsArgs& a, const MoeWorkspace& ws, cudaStream_t stream) {
  if (a.rows == 0) return;
  MoeRouteAndAlign(a.rows, a.experts, a.top_k, a.normalize, ws, a.activated_experts, stream);
  MoeExpertGemms(a, ws, stream);
  MoeCombine(ws.expert_out, ws.pair_position, ws.topk_weights, a.rows, a.top_k, a.hidden, a.out,
             stream);
}

}  // namespace strata::kernels::cuda
