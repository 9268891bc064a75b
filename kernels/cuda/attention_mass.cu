// Attention mass per KV block (heavy-hitter eviction scores): the softmax probability mass
// that each block of a sequence's context receives from the sequence's last query row,
// summed over heads and added to a float per block-table entry. Two small kernels after the
// attention of a layer, only for the sequences that asked:
//   1. stats: grid (item, kv head x head chunk, split); each split of the context (whole
//      KV blocks) computes, for every query head of its chunk of the kv head's group (up
//      to 8 heads), its (max, sum) of exp2(score - max) into `scratch`;
//   2. mass: the same grid; each split merges every split's (max, sum) into each head's
//      row (M, L), recomputes its blocks' scores and adds sum_h sum_t exp2(s_t - M_h) / L_h
//      per block with atomicAdd (kv heads meet in one float: the summation order, and so
//      the last bits, may vary from run to run).
// Both reread the keys (never the values) once per kv head and head chunk (once per kv
// head for groups of up to 8): about half the bytes of the attention itself for the
// counted sequences, nothing for the others. A warp scores four keys at a time, eight
// lanes per key row with 16-byte loads.
// Int8 pages (the plan's page flags, kv_quant.h) are read as int8 values times their kv
// head's scale.
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
constexpr int kMassSplits = 64;  // context splits per (sequence, kv head)
constexpr int kMassMinBlocks = 3;  // resident blocks per SM the register budget allows
constexpr int kTokenLanes = 8;   // lanes sharing one key row, 8 dims each per step
constexpr int kTokensPerWarp = 32 / kTokenLanes;
constexpr int kMaxHeadDim = 512;
// A block scores up to 8 query heads of one kv head (a larger group is split over blocks,
// each rereading the keys); their query rows sit in dynamic shared memory.
constexpr int kMaxHeadsPerBlock = 8;
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
  int32_t group;        // query heads per kv head
  int32_t head_chunks;  // blocks per kv head: ceil(group / G) of the launch's G
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

// The split's KV blocks: [first, last) of the sequence's ceil(ctx / block_size).
__device__ __forceinline__ void SplitBlocks(int ctx, int block_size, int split, int* first,
                                            int* last) {
  const int blocks = (ctx + block_size - 1) / block_size;
  const int per = (blocks + kMassSplits - 1) / kMassSplits;
  *first = min(blocks, split * per);
  *last = min(blocks, *first + per);
}

// The block's query heads: [head0, head0 + count) of kv head `kv_head`'s group.
struct BlockHeads {
  int kv_head, head0, count;
};
template <int G>
__device__ __forceinline__ BlockHeads HeadsOfBlock(const MassArgs& a) {
  const int kv_head = blockIdx.y / a.head_chunks, chunk = blockIdx.y % a.head_chunks;
  const int head0 = kv_head * a.group + chunk * G;
  return {kv_head, head0, min(G, a.group - chunk * G)};
}

// Loads the last query row of each of the block's heads, scaled to the log2 domain, into
// shared q ([count, head_dim]; a group's heads are consecutive).
__device__ void LoadQueries(const MassArgs& a, int seq, const BlockHeads& heads, float* q) {
  const int64_t row = int64_t{a.seq_q_begin[seq]} + a.seq_q_len[seq] - 1;
  const int n = heads.count * a.cache.head_dim;
  const bf16* src = a.q + row * a.q_stride + int64_t{heads.head0} * a.cache.head_dim;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    q[i] = __bfloat162float(src[i]) * a.scale_log2;
  }
  __syncthreads();
}

// Calls fn(s) for every token of KV block b (table entry b of `seq`), s[h] holding the
// token's score against the block's query head h (h < heads). A warp takes four tokens
// at a time, eight lanes per key row and eight dims per lane per load, and loads kRounds
// such rounds (8 tokens) before it computes, so that each lane has several loads in flight;
// every lane of a token's eight holds its scores. The caller's warp runs this in lockstep
// (uniform trip counts; the shuffles need every lane).
template <int G, typename Fn>
__device__ __forceinline__ void ForEachTokenScores(const MassArgs& a, int seq, int kv_head,
                                                   int heads, const float* q, int b, Fn fn) {
  constexpr int kRounds = 2;
  const int lane = threadIdx.x % 32, sub = lane % kTokenLanes, slot = lane / kTokenLanes;
  const int head_dim = a.cache.head_dim, block_size = a.cache.block_size;
  const int count = min(block_size, a.seq_ctx_len[seq] - b * block_size);
  const int page = a.pages[a.seq_page_begin[seq] + b];
  const int64_t token_stride = int64_t{a.cache.kv_heads} * head_dim;
  const bool int8 = a.page_int8 != nullptr && a.page_int8[a.seq_page_begin[seq] + b] != 0;
  const Int8Plane plane = Int8PlaneOf(a.cache.k, page, a.cache);
  const int8_t* k8 = plane.values + int64_t{kv_head} * head_dim;
  const float k8_scale = int8 ? plane.scales[kv_head] : 0.0f;
  const bf16* k16 =
      a.cache.k + int64_t{page} * block_size * token_stride + int64_t{kv_head} * head_dim;
  for (int t0 = 0; t0 < count; t0 += kRounds * kTokensPerWarp) {
    float s[kRounds][G];
#pragma unroll
    for (int r = 0; r < kRounds; ++r) {
#pragma unroll
      for (int h = 0; h < G; ++h) s[r][h] = 0.0f;
    }
    for (int d = sub * 8; d < head_dim; d += kTokenLanes * 8) {
      float k[kRounds][8];
#pragma unroll
      for (int r = 0; r < kRounds; ++r) {
        const int t = t0 + r * kTokensPerWarp + slot;
        if (t >= count) {
#pragma unroll
          for (int j = 0; j < 8; ++j) k[r][j] = 0.0f;
        } else if (int8) {
          const uint2 raw = *reinterpret_cast<const uint2*>(k8 + t * token_stride + d);
          UnpackInt8x8(raw.x, raw.y, k8_scale, k[r]);
        } else {
          Unpack(LoadBf16x8(k16 + t * token_stride + d), k[r]);
        }
      }
#pragma unroll
      for (int h = 0; h < G; ++h) {
        if (h < heads) {
          const float4 q0 = *reinterpret_cast<const float4*>(q + h * head_dim + d);
          const float4 q1 = *reinterpret_cast<const float4*>(q + h * head_dim + d + 4);
#pragma unroll
          for (int r = 0; r < kRounds; ++r) {
            s[r][h] += q0.x * k[r][0] + q0.y * k[r][1] + q0.z * k[r][2] + q0.w * k[r][3] +
                       q1.x * k[r][4] + q1.y * k[r][5] + q1.z * k[r][6] + q1.w * k[r][7];
          }
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kRounds; ++r) {
#pragma unroll
      for (int h = 0; h < G; ++h) {
#pragma unroll
        for (int offset = kTokenLanes / 2; offset > 0; offset /= 2) {
          s[r][h] += __shfl_xor_sync(~0u, s[r][h], offset);
        }
      }
      if (t0 + r * kTokensPerWarp + slot < count) fn(s[r]);
    }
  }
}

// Merges the online-softmax state (m, l) of another part into (m, l); -inf maxima are
// empty parts.
__device__ __forceinline__ void MergeSoftmax(float* m, float* l, float m2, float l2) {
  const float m_new = fmaxf(*m, m2);
  if (m_new == -INFINITY) return;
  *l = *l * exp2f(*m - m_new) + l2 * exp2f(m2 - m_new);
  *m = m_new;
}

// Grid (item, kv head x head chunk, split), dynamic shared memory min(group, G) x head_dim
// floats.
template <int G>
__global__ void __launch_bounds__(kMassThreads, kMassMinBlocks) MassStatsKernel(MassArgs a) {
  GridDependencyEnter();
  extern __shared__ float q[];
  __shared__ float warp_m[kMassWarps][G], warp_l[kMassWarps][G], warp_s[kMassWarps][G];
  const int2 item = a.items[blockIdx.x];
  const BlockHeads heads = HeadsOfBlock<G>(a);
  const int split = blockIdx.z;
  LoadQueries(a, item.x, heads, q);
  int first, last;
  SplitBlocks(a.seq_ctx_len[item.x], a.cache.block_size, split, &first, &last);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float m[G], l[G], sum_s[G];
#pragma unroll
  for (int h = 0; h < G; ++h) m[h] = -INFINITY, l[h] = 0.0f, sum_s[h] = 0.0f;
  for (int b = first + warp; b < last; b += kMassWarps) {
    ForEachTokenScores<G>(a, item.x, heads.kv_head, heads.count, q, b, [&](const float (&s)[G]) {
#pragma unroll
      for (int h = 0; h < G; ++h) {
        const float m_new = fmaxf(m[h], s[h]);
        l[h] = l[h] * exp2f(m[h] - m_new) + exp2f(s[h] - m_new);
        m[h] = m_new;
        sum_s[h] += s[h];
      }
    });
  }
  // The warp's four token slots (lanes differing in bits 3 and 4) into lane 0.
#pragma unroll
  for (int h = 0; h < G; ++h) {
    for (int offset = kTokenLanes; offset < 32; offset *= 2) {
      const float m2 = __shfl_xor_sync(~0u, m[h], offset);
      const float l2 = __shfl_xor_sync(~0u, l[h], offset);
      sum_s[h] += __shfl_xor_sync(~0u, sum_s[h], offset);
      MergeSoftmax(&m[h], &l[h], m2, l2);
    }
    if (lane == 0) warp_m[warp][h] = m[h], warp_l[warp][h] = l[h], warp_s[warp][h] = sum_s[h];
  }
  __syncthreads();
  const int h = threadIdx.x;
  if (h < heads.count) {
    float max_m = -INFINITY, sum = 0.0f, total_s = 0.0f;
    for (int w = 0; w < kMassWarps; ++w) {
      MergeSoftmax(&max_m, &sum, warp_m[w][h], warp_l[w][h]);
      total_s += warp_s[w][h];
    }
    float* out = SplitScratch(a, blockIdx.x, heads.head0 + h, split);
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

// Same grid: recomputes the split's scores and adds each block's mass, summed over the
// group's heads, with one atomicAdd per (kv head, block).
template <int G>
__global__ void __launch_bounds__(kMassThreads, kMassMinBlocks) MassKernel(MassArgs a) {
  GridDependencyEnter();
  extern __shared__ float q[];
  __shared__ float warp_sums[3][kMassWarps][G];
  const int2 item = a.items[blockIdx.x];
  const BlockHeads heads = HeadsOfBlock<G>(a);
  const int split = blockIdx.z, head0 = heads.head0;
  const int ctx = a.seq_ctx_len[item.x];
  int first, last;
  SplitBlocks(ctx, a.cache.block_size, split, &first, &last);
  if (a.stats != nullptr && threadIdx.x < heads.count) {
    float* out = SplitScratch(a, blockIdx.x, head0 + threadIdx.x, split);
    out[3] = out[4] = out[5] = 0.0f;
  }
  if (first >= last) return;  // uniform across the block: no barrier is skipped
  LoadQueries(a, item.x, heads, q);
  // Per head: the row's max, 1 / normalizer (0: an empty row, which adds nothing) and
  // mean score (statistics).
  float row_m[G], inv_l[G], mean[G];
#pragma unroll
  for (int h = 0; h < G; ++h) {
    row_m[h] = 0.0f, inv_l[h] = 0.0f, mean[h] = 0.0f;
    if (h < heads.count) {
      float l;
      RowNormalizer(a, blockIdx.x, head0 + h, &row_m[h], &l);
      inv_l[h] = l > 0.0f ? 1.0f / l : 0.0f;
      if (a.stats != nullptr) {
        for (int s = 0; s < kMassSplits; ++s) mean[h] += SplitScratch(a, blockIdx.x, head0 + h, s)[2];
        mean[h] /= ctx;
      }
    }
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float weighted[G], c2[G], c4[G];  // this lane's token slot (score statistics)
#pragma unroll
  for (int h = 0; h < G; ++h) weighted[h] = c2[h] = c4[h] = 0.0f;
  for (int b = first + warp; b < last; b += kMassWarps) {
    float p = 0.0f;
    ForEachTokenScores<G>(a, item.x, heads.kv_head, heads.count, q, b, [&](const float (&s)[G]) {
#pragma unroll
      for (int h = 0; h < G; ++h) {
        if (!(inv_l[h] > 0.0f)) continue;
        const float e = exp2f(s[h] - row_m[h]);
        p += e * inv_l[h];
        if (a.stats != nullptr) {
          weighted[h] += e * (s[h] - row_m[h]);
          const float c = (s[h] - mean[h]) * (s[h] - mean[h]);
          c2[h] += c;
          c4[h] += c * c;
        }
      }
    });
    for (int offset = kTokenLanes; offset < 32; offset *= 2) p += __shfl_xor_sync(~0u, p, offset);
    if (lane == 0 && item.y >= 0) atomicAdd(a.mass + item.y + b, p);
  }
  if (a.stats == nullptr) return;  // uniform
#pragma unroll
  for (int h = 0; h < G; ++h) {
    for (int offset = kTokenLanes; offset < 32; offset *= 2) {
      weighted[h] += __shfl_xor_sync(~0u, weighted[h], offset);
      c2[h] += __shfl_xor_sync(~0u, c2[h], offset);
      c4[h] += __shfl_xor_sync(~0u, c4[h], offset);
    }
    if (lane == 0) {
      warp_sums[0][warp][h] = weighted[h];
      warp_sums[1][warp][h] = c2[h];
      warp_sums[2][warp][h] = c4[h];
    }
  }
  __syncthreads();
  const int h = threadIdx.x;
  if (h < heads.count) {
    float* out = SplitScratch(a, blockIdx.x, head0 + h, split);
    for (int i = 0; i < 3; ++i) {
      float sum = 0.0f;
      for (int w = 0; w < kMassWarps; ++w) sum += warp_sums[i][w][h];
      out[3 + i] = sum;
    }
  }
}

template <int G>
void LaunchMass(MassArgs a, int32_t num_items, cudaStream_t stream) {
  a.head_chunks = (a.group + G - 1) / G;
  const dim3 grid(num_items, a.cache.kv_heads * a.head_chunks, kMassSplits);
  const size_t smem = size_t{static_cast<size_t>(std::min(a.group, G))} * a.cache.head_dim *
                      sizeof(float);
  internal::Launch(MassStatsKernel<G>, grid, dim3(kMassThreads), smem, stream, a);
  internal::Launch(MassKernel<G>, grid, dim3(kMassThreads), smem, stream, a);
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
  const int32_t group = config.heads / config.kv_heads;
  STRATA_CHECK(config.head_dim % 8 == 0 && config.head_dim <= kMaxHeadDim)
      << "attention mass: head_dim " << config.head_dim << " must be a multiple of 8 up to "
      << kMaxHeadDim;
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
  a.group = group;
  a.items = items;
  a.scratch = scratch;
  a.mass = mass;
  a.stats = stats;
  a.stats_stride = stats_stride;
  if (a.group <= 1) {
    LaunchMass<1>(a, num_items, stream);
  } else if (a.group <= 2) {
    LaunchMass<2>(a, num_items, stream);
  } else if (a.group <= 4) {
    LaunchMass<4>(a, num_items, stream);
  } else {
    LaunchMass<kMaxHeadsPerBlock>(a, num_items, stream);
  }
  if (stats != nullptr) {
    internal::Launch(ScoreStatsKernel, dim3(num_items), dim3(kStatsThreads), 0, stream, a);
  }
}

}  // namespace strata::kernels::cuda
