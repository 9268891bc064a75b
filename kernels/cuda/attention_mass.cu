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
// Score statistics (optional, cpu::AttentionSequence::score_stats) ride on the same passes:
// the first also sums the scores (their mean), the second also sums, per split,
// p * (s - M) and the scores' centered second and fourth powers; a third kernel, a block
// per item, turns each head's sums into entropy, variance and excess kurtosis and
// averages them over heads in a fixed order (deterministic).
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
// Scratch floats per (item, head, split): max, sum of exp2(s - max), sum of s, and (score
// statistics) sum of exp2(s - M) (s - M), sum of (s - mean)^2, sum of (s - mean)^4.
constexpr int kSplitFloats = 6;
constexpr int kStatsThreads = 128;
constexpr float kLn2 = 0.6931471805599453f;

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
  const int2* items;  // {sequence, offset of its first table entry in mass or -1}
  float* scratch;     // [items, heads, kMassSplits, kSplitFloats]
  float* mass;
  float* stats;  // nullptr: no score statistics; else item i's 3 floats at i * stats_stride
  int64_t stats_stride;
};

__device__ __forceinline__ float* SplitScratch(const MassArgs& a, int item, int head,
                                               int split) {
  return a.scratch + ((int64_t{item} * a.heads + head) * kMassSplits + split) * kSplitFloats;
}

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
  __shared__ float warp_m[kMassWarps], warp_l[kMassWarps], warp_s[kMassWarps];
  const int2 item = a.items[blockIdx.x];
  const int head = blockIdx.y, split = blockIdx.z;
  LoadQuery(a, item.x, head, q);
  int first, last;
  SplitBlocks(a.seq_ctx_len[item.x], a.cache.block_size, split, &first, &last);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float m = -INFINITY, l = 0.0f, sum_s = 0.0f;
  for (int b = first + warp; b < last; b += kMassWarps) {
    ForEachBlockScore(a, item.x, head, q, b, [&](float s) {
      const float m_new = fmaxf(m, s);
      l = l * exp2f(m - m_new) + exp2f(s - m_new);
      m = m_new;
      sum_s += s;
    });
  }
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
    warp_s[warp] = sum_s;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float max_m = -INFINITY, sum = 0.0f, total_s = 0.0f;
    for (int w = 0; w < kMassWarps; ++w) max_m = fmaxf(max_m, warp_m[w]);
    if (max_m != -INFINITY) {
      for (int w = 0; w < kMassWarps; ++w) sum += warp_l[w] * exp2f(warp_m[w] - max_m);
    }
    for (int w = 0; w < kMassWarps; ++w) total_s += warp_s[w];
    float* out = SplitScratch(a, blockIdx.x, head, split);
    out[0] = max_m;
    out[1] = sum;
    out[2] = total_s;
  }
}

// The row's softmax (max, normalizer) in the log2 domain from every split's stats.
__device__ __forceinline__ void RowNormalizer(const MassArgs& a, int item, int head, float* m,
                                              float* l) {
  float row_m = -INFINITY, row_l = 0.0f;
  for (int s = 0; s < kMassSplits; ++s) row_m = fmaxf(row_m, SplitScratch(a, item, head, s)[0]);
  for (int s = 0; s < kMassSplits; ++s) {
    const float* split = SplitScratch(a, item, head, s);
    if (split[1] > 0.0f) row_l += split[1] * exp2f(split[0] - row_m);
  }
  *m = row_m;
  *l = row_l;
}

__global__ void MassKernel(MassArgs a) {
  GridDependencyEnter();
  __shared__ float q[kMaxMassHeadDim];
  __shared__ float warp_sums[3][kMassWarps];
  const int2 item = a.items[blockIdx.x];
  const int head = blockIdx.y, split = blockIdx.z;
  const int ctx = a.seq_ctx_len[item.x];
  int first, last;
  SplitBlocks(ctx, a.cache.block_size, split, &first, &last);
  float* out = SplitScratch(a, blockIdx.x, head, split);
  if (a.stats != nullptr && threadIdx.x == 0) out[3] = out[4] = out[5] = 0.0f;
  if (first >= last) return;  // uniform across the block: no barrier is skipped
  LoadQuery(a, item.x, head, q);
  float row_m, row_l;
  RowNormalizer(a, blockIdx.x, head, &row_m, &row_l);
  if (!(row_l > 0.0f)) return;
  const float inv_l = 1.0f / row_l;
  float mean = 0.0f;
  if (a.stats != nullptr) {
    for (int s = 0; s < kMassSplits; ++s) mean += SplitScratch(a, blockIdx.x, head, s)[2];
    mean /= ctx;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float weighted = 0.0f, c2 = 0.0f, c4 = 0.0f;  // this warp's blocks (score statistics)
  for (int b = first + warp; b < last; b += kMassWarps) {
    float p = 0.0f;
    ForEachBlockScore(a, item.x, head, q, b, [&](float s) {
      const float e = exp2f(s - row_m);
      p += e;
      if (a.stats != nullptr) {
        weighted += e * (s - row_m);
        const float c = (s - mean) * (s - mean);
        c2 += c;
        c4 += c * c;
      }
    });
    if (lane == 0 && item.y >= 0) atomicAdd(a.mass + item.y + b, p * inv_l);
  }
  if (a.stats == nullptr) return;  // uniform
  if (lane == 0) {
    warp_sums[0][warp] = weighted;
    warp_sums[1][warp] = c2;
    warp_sums[2][warp] = c4;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int i = 0; i < 3; ++i) {
      float sum = 0.0f;
      for (int w = 0; w < kMassWarps; ++w) sum += warp_sums[i][w];
      out[3 + i] = sum;
    }
  }
}

// One block per item: each head's entropy (nats), variance and excess kurtosis of the
// scaled scores x = s ln 2 (s: the log2-domain scores above), averaged over heads.
//   entropy = ln L - ln 2 * sum_t 2^(s_t - M) (s_t - M) / L
//   variance = ln^2 2 * m2(s), kurtosis = m4(s) / m2(s)^2 - 3 (0 when m2 = 0)
__global__ void ScoreStatsKernel(MassArgs a) {
  GridDependencyEnter();
  __shared__ float head_sums[3][kStatsThreads];
  const int2 item = a.items[blockIdx.x];
  const float ctx = static_cast<float>(a.seq_ctx_len[item.x]);
  float sums[3] = {0.0f, 0.0f, 0.0f};
  for (int head = threadIdx.x; head < a.heads; head += blockDim.x) {
    float row_m, row_l;
    RowNormalizer(a, blockIdx.x, head, &row_m, &row_l);
    float weighted = 0.0f, c2 = 0.0f, c4 = 0.0f;
    for (int s = 0; s < kMassSplits; ++s) {
      const float* split = SplitScratch(a, blockIdx.x, head, s);
      weighted += split[3];
      c2 += split[4];
      c4 += split[5];
    }
    if (!(row_l > 0.0f) || !(ctx > 0.0f)) continue;
    const float m2 = c2 / ctx, m4 = c4 / ctx;
    sums[0] += logf(row_l) - kLn2 * weighted / row_l;
    sums[1] += kLn2 * kLn2 * m2;
    sums[2] += m2 > 0.0f ? m4 / (m2 * m2) - 3.0f : 0.0f;
  }
  for (int i = 0; i < 3; ++i) head_sums[i][threadIdx.x] = sums[i];
  __syncthreads();
  if (threadIdx.x < 3) {
    float total = 0.0f;
    for (int t = 0; t < kStatsThreads; ++t) total += head_sums[threadIdx.x][t];
    a.stats[blockIdx.x * a.stats_stride + threadIdx.x] = total / a.heads;
  }
}

}  // namespace

size_t AttentionMassScratchBytes(const AttentionConfig& config, int32_t max_items) {
  return size_t{static_cast<size_t>(max_items)} * config.heads * kMassSplits * kSplitFloats *
         sizeof(float);
}

void AccumulateAttentionMass(const AttentionPlan& plan, const void* workspace, const bf16* q,
                             int64_t q_row_stride, const PagedKvCache& cache, float scale,
                             const int2* items, int32_t num_items, float* scratch, float* mass,
                             cudaStream_t stream, float* stats, int64_t stats_stride) {
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
  a.stats = stats;
  a.stats_stride = stats_stride;
  const dim3 grid(num_items, config.heads, kMassSplits);
  internal::Launch(MassStatsKernel, grid, dim3(kMassThreads), 0, stream, a);
  internal::Launch(MassKernel, grid, dim3(kMassThreads), 0, stream, a);
  if (stats != nullptr) {
    internal::Launch(ScoreStatsKernel, dim3(num_items), dim3(kStatsThreads), 0, stream, a);
  }
}

}  // namespace strata::kernels::cuda
