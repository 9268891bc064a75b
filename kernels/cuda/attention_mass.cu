// Attention mass per KV block (heavy-hitter eviction scores): the softmax probability mass
// that each block of a sequence's context receives from the sequence's last query row,
// summed over heads and added to a float per block-table entry. Two small kernels after the
// attention of a layer, only for the sequences that asked:
//   1. stats: grid (item, head, split); each split of the context (whole KV blocks) computes
//      its (max, sum) of exp2(score - max), one warp per block, into `scratch`;
//   2. mass: the same grid; each split merges every split's (max, sum) into the row's
//      (M, L), recomputes its blocks' scores and adds sum_t exp2(s_t - M) / L per block with
//      atomicAdd (heads meet in one float: the summation order across heads, and so the
//      last bits, may vary from run to run).
// Both reread the keys (never the values): about half the bytes of the attention itself
// for the counted sequences, nothing for the others. Int8 pages (the plan's page flags,
// kv_quant.h) are read as int8 values times their kv head's scale.
#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kv_quant_device.cuh"
#include "kernels/cuda/launch.h"

namespace strata::kernels::cuda {
namespace {

constexpr int kMassThreads = 256;
constexpr int kMassWarps = kMassThreads / 32;
constexpr int kMassSplits = 16;  // context splits per (sequence, head)
constexpr int kMaxMassHeadDim = 512;

struct MassArgs {
  const int32_t* seq_q_begin;
  const int32_t* seq_q_len;
  const int32_t* seq_ctx_len;
  const int32_t* seq_page_begin;
  const int32_t* pages;
  const uint8_t* page_int8;  // per page, 1: int8 (kv_quant.h); nullptr: all bf16
  const bf16* q;
  int64_t q_stride;
  PagedKvCache cache;
  float scale_log2;
  int32_t heads;
  int32_t group;
  const int2* items;  // {sequence, offset of its first table entry in mass}
  float* scratch;     // [items, heads, kMassSplits, 2]
  float* mass;
};

__device__ __forceinline__ float Score(const float* q, const bf16* k, int head_dim, int lane) {
  float dot = 0.0f;
  for (int d = lane; d < head_dim; d += 32) dot += q[d] * __bfloat162float(k[d]);
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(~0u, dot, offset);
  return dot;
}
__device__ __forceinline__ float Score(const float* q, const int8_t* k, float scale, int head_dim,
                                       int lane) {
  float dot = 0.0f;
  for (int d = lane; d < head_dim; d += 32) dot += q[d] * (k[d] * scale);
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(~0u, dot, offset);
  return dot;
}

// The split's KV blocks: [first, last) of the sequence's ceil(ctx / block_size).
__device__ __forceinline__ void SplitBlocks(int ctx, int block_size, int split, int* first,
                                            int* last) {
  const int blocks = (ctx + block_size - 1) / block_size;
  const int per = (blocks + kMassSplits - 1) / kMassSplits;
  *first = min(blocks, split * per);
  *last = min(blocks, *first + per);
}

// Loads the last query row of head `head`, scaled to the log2 domain, into shared q.
__device__ void LoadQuery(const MassArgs& a, int seq, int head, float* q) {
  const int64_t row = int64_t{a.seq_q_begin[seq]} + a.seq_q_len[seq] - 1;
  const bf16* src = a.q + row * a.q_stride + int64_t{head} * a.cache.head_dim;
  for (int d = threadIdx.x; d < a.cache.head_dim; d += blockDim.x) {
    q[d] = __bfloat162float(src[d]) * a.scale_log2;
  }
  __syncthreads();
}

template <typename Fn>
__device__ void ForEachBlockScore(const MassArgs& a, int seq, int head, const float* q, int b,
                                  Fn fn) {
  const int lane = threadIdx.x % 32;
  const int ctx = a.seq_ctx_len[seq];
  const int block_size = a.cache.block_size;
  const int page = a.pages[a.seq_page_begin[seq] + b];
  const int64_t token_stride = int64_t{a.cache.kv_heads} * a.cache.head_dim;
  const int kv_head = head / a.group;
  const int count = min(block_size, ctx - b * block_size);
  if (a.page_int8 != nullptr && a.page_int8[a.seq_page_begin[seq] + b] != 0) {
    const Int8Plane plane = Int8PlaneOf(a.cache.k, page, a.cache);
    const int8_t* k = plane.values + int64_t{kv_head} * a.cache.head_dim;
    const float scale = plane.scales[kv_head];
    for (int t = 0; t < count; ++t) {
      fn(Score(q, k + t * token_stride, scale, a.cache.head_dim, lane));
    }
    return;
  }
  const bf16* k = a.cache.k + int64_t{page} * block_size * token_stride +
                  int64_t{kv_head} * a.cache.head_dim;
  for (int t = 0; t < count; ++t) fn(Score(q, k + t * token_stride, a.cache.head_dim, lane));
}

__global__ void MassStatsKernel(MassArgs a) {
  GridDependencyEnter();
  __shared__ float q[kMaxMassHeadDim];
  __shared__ float warp_m[kMassWarps], warp_l[kMassWarps];
  const int2 item = a.items[blockIdx.x];
  const int head = blockIdx.y, split = blockIdx.z;
  LoadQuery(a, item.x, head, q);
  int first, last;
  SplitBlocks(a.seq_ctx_len[item.x], a.cache.block_size, split, &first, &last);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float m = -INFINITY, l = 0.0f;
  for (int b = first + warp; b < last; b += kMassWarps) {
    ForEachBlockScore(a, item.x, head, q, b, [&](float s) {
      const float m_new = fmaxf(m, s);
      l = l * exp2f(m - m_new) + exp2f(s - m_new);
      m = m_new;
    });
  }
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float max_m = -INFINITY, sum = 0.0f;
    for (int w = 0; w < kMassWarps; ++w) max_m = fmaxf(max_m, warp_m[w]);
    if (max_m != -INFINITY) {
      for (int w = 0; w < kMassWarps; ++w) sum += warp_l[w] * exp2f(warp_m[w] - max_m);
    }
    float* out = a.scratch + ((int64_t{blockIdx.x} * a.heads + head) * kMassSplits + split) * 2;
    out[0] = max_m;
    out[1] = sum;
  }
}

__global__ void MassKernel(MassArgs a) {
  GridDependencyEnter();
  __shared__ float q[kMaxMassHeadDim];
  const int2 item = a.items[blockIdx.x];
  const int head = blockIdx.y, split = blockIdx.z;
  int first, last;
  SplitBlocks(a.seq_ctx_len[item.x], a.cache.block_size, split, &first, &last);
  if (first >= last) return;  // uniform across the block: no barrier is skipped
  LoadQuery(a, item.x, head, q);
  // The row's softmax normalizer, from every split's stats.
  const float* stats = a.scratch + (int64_t{blockIdx.x} * a.heads + head) * kMassSplits * 2;
  float row_m = -INFINITY, row_l = 0.0f;
  for (int s = 0; s < kMassSplits; ++s) row_m = fmaxf(row_m, stats[2 * s]);
  for (int s = 0; s < kMassSplits; ++s) {
    if (stats[2 * s + 1] > 0.0f) row_l += stats[2 * s + 1] * exp2f(stats[2 * s] - row_m);
  }
  if (!(row_l > 0.0f)) return;
  const float inv_l = 1.0f / row_l;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int b = first + warp; b < last; b += kMassWarps) {
    float p = 0.0f;
    ForEachBlockScore(a, item.x, head, q, b, [&](float s) { p += exp2f(s - row_m); });
    if (lane == 0) atomicAdd(a.mass + item.y + b, p * inv_l);
  }
}

}  // namespace

size_t AttentionMassScratchBytes(const AttentionConfig& config, int32_t max_items) {
  return size_t{static_cast<size_t>(max_items)} * config.heads * kMassSplits * 2 * sizeof(float);
}

void AccumulateAttentionMass(const AttentionPlan& plan, const void* workspace, const bf16* q,
                             int64_t q_row_stride, const PagedKvCache& cache, float scale,
                             const int2* items, int32_t num_items, float* scratch, float* mass,
                             cudaStream_t stream) {
  if (num_items == 0) return;
  const AttentionConfig& config = plan.config();
  const AttentionPlan::Layout& layout = plan.layout();
  STRATA_CHECK(cache.kv_heads == config.kv_heads && cache.head_dim == config.head_dim &&
               cache.block_size == config.block_size)
      << "cache shape differs from the plan's";
  STRATA_CHECK_LE(config.head_dim, kMaxMassHeadDim);
  const char* ws = static_cast<const char*>(workspace);
  MassArgs a;
  a.seq_q_begin = reinterpret_cast<const int32_t*>(ws + layout.seq_q_begin);
  a.seq_q_len = reinterpret_cast<const int32_t*>(ws + layout.seq_q_len);
  a.seq_ctx_len = reinterpret_cast<const int32_t*>(ws + layout.seq_ctx_len);
  a.seq_page_begin = reinterpret_cast<const int32_t*>(ws + layout.seq_page_begin);
  a.pages = reinterpret_cast<const int32_t*>(ws + layout.pages);
  a.page_int8 =
      plan.int8_pages() ? reinterpret_cast<const uint8_t*>(ws + layout.page_precision) : nullptr;
  a.q = q;
  a.q_stride = q_row_stride;
  a.cache = cache;
  a.scale_log2 = scale * 1.4426950408889634f;
  a.heads = config.heads;
  a.group = config.heads / config.kv_heads;
  a.items = items;
  a.scratch = scratch;
  a.mass = mass;
  const dim3 grid(num_items, config.heads, kMassSplits);
  internal::Launch(MassStatsKernel, grid, dim3(kMassThreads), 0, stream, a);
  internal::Launch(MassKernel, grid, dim3(kMassThreads), 0, stream, a);
}

}  // namespace strata::kernels::cuda
