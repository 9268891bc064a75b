// Split-K decode attention (flash-decoding) over the paged cache, and its reduce kernel.
//
// A block of 128 threads serves one (sequence, token chunk, kv head, head chunk): it reads
// each key and value row of the chunk once for up to kDecodeMaxGroup query heads (GQA).
// Threads form groups of head_dim / 8; each group owns whole tokens (a 16-byte slice of the
// row per thread) and keeps its own online softmax. Rows arrive through cp.async into a
// per-thread ring of kStages steps in shared memory, kStages - 1 steps ahead of use, with
// the page ids one step further ahead in registers: every thread reads back only what it
// copied itself, so the loop needs no barrier. The groups' states merge through shared
// memory at the end; a chunk that is the sequence's only one writes bf16 output directly,
// others write float partials and their log2-sum-exp.
//
// Int8 pages (kv_quant.h; the kInt8 variants, chosen when the plan carries page flags): a
// thread copies its 8 int8 values (8 bytes) into the first half of its ring slot and the
// kv head's float scale into the next 4 bytes, and remembers the slot's precision in a
// bit mask (one bit per (stage, unrolled token)); the read dequantizes with one multiply
// per value. Bf16 pages of the same table go the bf16 way, so a table may mix both.
#include <algorithm>
#include <atomic>
#include <cmath>

#include "base/check.h"
#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kv_quant_device.cuh"
#include "kernels/cuda/launch.h"

namespace strata::kernels::cuda::internal {
namespace {

constexpr int kThreads = 128;
constexpr int kStages = 4;  // ring depth, in loop steps
constexpr int kUnroll = 2;  // tokens per thread group per step

// 8- and 4-byte asynchronous copies (through L1); an invalid source fills zeros.
template <int kBytes>
__device__ __forceinline__ void CopyAsyncSmall(void* dst, const void* src, bool valid) {
  static_assert(kBytes == 4 || kBytes == 8);
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(
                   static_cast<uint32_t>(__cvta_generic_to_shared(dst))),
               "l"(src), "n"(kBytes), "r"(valid ? kBytes : 0));
}

// One ring slot as 8 floats: bf16 values, or (kInt8 pages) 8 int8 values and their scale.
template <bool kInt8>
__device__ __forceinline__ void ReadSlot(const Bf16x8& slot, bool int8, float (&out)[8]) {
  if (kInt8 && int8) {
    const uint4 raw = reinterpret_cast<const uint4&>(slot);
    UnpackInt8x8(raw.x, raw.y, __uint_as_float(raw.z), out);
  } else {
    Unpack(slot, out);
  }
}

template <int kHeadDim, int kGroup, bool kInt8>
__global__ void __launch_bounds__(kThreads)
    DecodeKernel(AttentionArgs args, const int4* items, int head_chunks) {
  constexpr int kLanes = kHeadDim / 8;             // threads per token row
  constexpr int kTokenGroups = kThreads / kLanes;  // tokens per unrolled slot
  constexpr int kStep = kTokenGroups * kUnroll;
  constexpr int kRingBytes = kStages * kUnroll * 2 * kThreads * 16;
  constexpr int kMergeBytes = kTokenGroups * kGroup * kHeadDim * 4;
  __shared__ alignas(16) unsigned char buffer[kRingBytes > kMergeBytes ? kRingBytes : kMergeBytes];
  __shared__ float shared_m[kTokenGroups][kGroup];
  __shared__ float shared_l[kTokenGroups][kGroup];
  // ring[stage][u][k or v][thread]: consecutive threads, consecutive 16-byte words.
  Bf16x8* ring = reinterpret_cast<Bf16x8*>(buffer);
  auto ring_at = [&](int stage, int u, int kv) -> Bf16x8& {
    return ring[((stage * kUnroll + u) * 2 + kv) * kThreads + threadIdx.x];
  };

  GridDependencyEnter();
  const int4 item = items[blockIdx.x];
  const int seq = item.x, t_begin = item.y, t_end = item.z, partial = item.w;
  const int kv_head = blockIdx.y / head_chunks;
  const int head0 = kv_head * args.group + (blockIdx.y % head_chunks) * kGroup;
  const int num_heads = min(kGroup, kv_head * args.group + args.group - head0);
  const int lane = threadIdx.x % kLanes, token_group = threadIdx.x / kLanes;
  const int dim0 = lane * 8;
  const int64_t row = args.seq_q_begin[seq];

  const int block_size = args.cache.block_size;
  const int32_t* pages = args.pages + args.seq_page_begin[seq];
  const int64_t token_stride = int64_t{args.cache.kv_heads} * kHeadDim;
  const int64_t head_offset = int64_t{kv_head} * kHeadDim + dim0;
  // kInt8: the pages' flags, the plane size in values (= the scales' byte offset), and one
  // bit per ring slot (stage * kUnroll + u) set while the slot holds int8 values.
  const uint8_t* page_int8 = kInt8 ? args.page_int8 + args.seq_page_begin[seq] : nullptr;
  const int64_t plane = int64_t{block_size} * token_stride;
  uint32_t slot_int8 = 0;
  bool next_int8[kUnroll];
  const int num_steps = (t_end - t_begin + kStep - 1) / kStep;
  auto token_of = [&](int step, int u) {
    return t_begin + step * kStep + u * kTokenGroups + token_group;
  };
  int next_page[kUnroll];  // page ids of the next step to issue
  auto load_pages = [&](int step) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int t = token_of(step, u);
      next_page[u] = step < num_steps && t < t_end ? pages[t / block_size] : 0;
      if constexpr (kInt8) {
        next_int8[u] = step < num_steps && t < t_end && page_int8[t / block_size] != 0;
      }
    }
  };
  auto issue = [&](int step) {
    if (step < num_steps) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int t = token_of(step, u);
        if constexpr (kInt8) {
          const uint32_t bit = 1u << ((step % kStages) * kUnroll + u);
          slot_int8 = next_int8[u] ? slot_int8 | bit : slot_int8 & ~bit;
          if (next_int8[u]) {  // t < t_end
            const int64_t at = int64_t{next_page[u]} * plane * 2 +
                               int64_t{t % block_size} * token_stride + head_offset;
            const int64_t scale_at = int64_t{next_page[u]} * plane * 2 + plane + kv_head * 4;
            const char* k_bytes = reinterpret_cast<const char*>(args.cache.k);
            const char* v_bytes = reinterpret_cast<const char*>(args.cache.v);
            char* k_slot = reinterpret_cast<char*>(&ring_at(step % kStages, u, 0));
            char* v_slot = reinterpret_cast<char*>(&ring_at(step % kStages, u, 1));
            CopyAsyncSmall<8>(k_slot, k_bytes + at, true);
            CopyAsyncSmall<4>(k_slot + 8, k_bytes + scale_at, true);
            CopyAsyncSmall<8>(v_slot, v_bytes + at, true);
            CopyAsyncSmall<4>(v_slot + 8, v_bytes + scale_at, true);
            continue;
          }
        }
        const int64_t slot = int64_t{next_page[u]} * block_size + t % block_size;
        const int64_t offset = t < t_end ? slot * token_stride + head_offset : 0;
        CopyAsync16(&ring_at(step % kStages, u, 0), args.cache.k + offset, t < t_end);
        CopyAsync16(&ring_at(step % kStages, u, 1), args.cache.v + offset, t < t_end);
      }
    }
    CopyCommit();  // possibly empty: keeps one group per step
  };
  load_pages(0);
#pragma unroll
  for (int step = 0; step < kStages - 1; ++step) {
    issue(step);
    load_pages(step + 1);
  }

  float q[kGroup][8];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    if (h < num_heads) {
      Unpack(LoadBf16x8(args.q + row * args.q_stride + int64_t{head0 + h} * kHeadDim + dim0), q[h]);
#pragma unroll
      for (int i = 0; i < 8; ++i) q[h][i] *= args.scale_log2;
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) q[h][i] = 0.0f;
    }
  }
  float m[kGroup], l[kGroup], acc[kGroup][8];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[h][i] = 0.0f;
  }

  for (int step = 0; step < num_steps; ++step) {
    issue(step + kStages - 1);
    load_pages(step + kStages);
    CopyWait<kStages - 1>();  // this step's copies (this thread's own) have landed
    float s[kUnroll][kGroup];
    bool valid[kUnroll];
    bool int8[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      valid[u] = token_of(step, u) < t_end;
      int8[u] = kInt8 && ((slot_int8 >> ((step % kStages) * kUnroll + u)) & 1u) != 0;
      float k[8];
      ReadSlot<kInt8>(ring_at(step % kStages, u, 0), int8[u], k);  // zeros for an invalid token
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) dot += q[h][i] * k[i];
#pragma unroll
        for (int offset = kLanes / 2; offset > 0; offset /= 2) {
          dot += __shfl_xor_sync(~0u, dot, offset);
        }
        s[u][h] = valid[u] ? dot : -INFINITY;
      }
    }
#pragma unroll
    for (int h = 0; h < kGroup; ++h) {
      float step_max = s[0][h];
#pragma unroll
      for (int u = 1; u < kUnroll; ++u) step_max = fmaxf(step_max, s[u][h]);
      const float m_new = fmaxf(m[h], step_max);
      if (m_new == -INFINITY) continue;  // nothing valid yet for this group
      const float correction = exp2f(m[h] - m_new);
      l[h] *= correction;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[h][i] *= correction;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const float p = exp2f(s[u][h] - m_new);  // 0 for an invalid token
        l[h] += p;
        float v[8];
        ReadSlot<kInt8>(ring_at(step % kStages, u, 1), int8[u], v);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[h][i] += p * v[i];
      }
      m[h] = m_new;
    }
  }
  CopyWait<0>();
  __syncthreads();  // the ring's space becomes the merge buffer

  // Merge the token groups' states.
  float(*shared_acc)[kGroup][kHeadDim] = reinterpret_cast<float(*)[kGroup][kHeadDim]>(buffer);
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    if (lane == 0) {
      shared_m[token_group][h] = m[h];
      shared_l[token_group][h] = l[h];
    }
    float4* dst = reinterpret_cast<float4*>(&shared_acc[token_group][h][dim0]);
    dst[0] = make_float4(acc[h][0], acc[h][1], acc[h][2], acc[h][3]);
    dst[1] = make_float4(acc[h][4], acc[h][5], acc[h][6], acc[h][7]);
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < num_heads * kHeadDim; idx += kThreads) {
    const int h = idx / kHeadDim, d = idx % kHeadDim;
    float max_m = -INFINITY;
#pragma unroll
    for (int g = 0; g < kTokenGroups; ++g) max_m = fmaxf(max_m, shared_m[g][h]);
    float total_l = 0.0f, total = 0.0f;
    if (max_m != -INFINITY) {
#pragma unroll
      for (int g = 0; g < kTokenGroups; ++g) {
        const float w = exp2f(shared_m[g][h] - max_m);
        total_l += shared_l[g][h] * w;
        total += shared_acc[g][h][d] * w;
      }
    }
    const float o = total_l > 0.0f ? total / total_l : 0.0f;
    const int head = head0 + h;
    if (partial < 0) {
      args.out[(row * args.heads + head) * kHeadDim + d] = __float2bfloat16(o);
    } else {
      args.partial_out[(int64_t{partial} * args.heads + head) * kHeadDim + d] = o;
      if (d == 0) {
        args.partial_lse[int64_t{partial} * args.heads + head] =
            total_l > 0.0f ? max_m + log2f(total_l) : -INFINITY;
      }
    }
  }
}

// Merges a query row's split outputs (a decode's, or a split prefill tile's row item.w):
// out = sum_i 2^(lse_i - L) o_i with L = log2 sum 2^lse_i.
__global__ void SplitReduceKernel(AttentionArgs args, const int4* items, int head_dim) {
  GridDependencyEnter();
  const int4 item = items[blockIdx.x];
  const int head = blockIdx.y;
  const int first = item.y, splits = item.z;
  const float* lse = args.partial_lse + head;
  float max_lse = -INFINITY;
  for (int i = 0; i < splits; ++i) {
    max_lse = fmaxf(max_lse, lse[int64_t{first + i} * args.heads]);
  }
  const int64_t row = int64_t{args.seq_q_begin[item.x]} + item.w;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float total = 0.0f, weight_sum = 0.0f;
    if (max_lse != -INFINITY) {
      for (int i = 0; i < splits; ++i) {
        const int64_t p = first + i;
        const float w = exp2f(lse[p * args.heads] - max_lse);
        weight_sum += w;
        total += w * args.partial_out[(p * args.heads + head) * head_dim + d];
      }
    }
    args.out[(row * args.heads + head) * head_dim + d] =
        __float2bfloat16(weight_sum > 0.0f ? total / weight_sum : 0.0f);
  }
}

using DecodeFn = void (*)(AttentionArgs, const int4*, int);

template <int kHeadDim, bool kInt8>
DecodeFn SelectForGroup(int group) {
  if (group == 1) return DecodeKernel<kHeadDim, 1, kInt8>;
  if (group == 2) return DecodeKernel<kHeadDim, 2, kInt8>;
  if (group <= 4) return DecodeKernel<kHeadDim, 4, kInt8>;
  return DecodeKernel<kHeadDim, 8, kInt8>;
}

// The instantiation serving `group` query heads per kv head (in chunks of 8 beyond 8),
// reading int8 pages too when `int8`.
DecodeFn SelectKernel(int head_dim, int group, bool int8 = false) {
  static_assert(kDecodeMaxGroup == 8);
  group = std::min(group, kDecodeMaxGroup);
  switch (head_dim) {
    case 64:
      return int8 ? SelectForGroup<64, true>(group) : SelectForGroup<64, false>(group);
    case 128:
      return int8 ? SelectForGroup<128, true>(group) : SelectForGroup<128, false>(group);
    case 256:
      return int8 ? SelectForGroup<256, true>(group) : SelectForGroup<256, false>(group);
  }
  STRATA_CHECK(false) << "no decode kernel for head_dim " << head_dim;
  return nullptr;
}

int GroupIndex(int group) { return group <= 1 ? 0 : group == 2 ? 1 : group <= 4 ? 2 : 3; }

}  // namespace

bool DecodeFastPath(int head_dim) { return head_dim == 64 || head_dim == 128 || head_dim == 256; }

int DecodeBlocksPerSm(int head_dim, int group) {
  static std::atomic<int> cache[3][4] = {};
  std::atomic<int>& slot = cache[head_dim == 64 ? 0 : head_dim == 128 ? 1 : 2][GroupIndex(group)];
  int blocks = slot.load(std::memory_order_relaxed);
  if (blocks == 0) {
    STRATA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &blocks, SelectKernel(head_dim, group), kThreads, 0));
    blocks = std::max(blocks, 1);
    slot.store(blocks, std::memory_order_relaxed);
  }
  return blocks;
}

void LaunchDecode(const AttentionArgs& args, const int4* items, int num_items, int head_chunks,
                  cudaStream_t stream) {
  const dim3 grid(num_items, args.cache.kv_heads * head_chunks);
  Launch(SelectKernel(args.cache.head_dim, args.group, args.page_int8 != nullptr), grid,
         dim3(kThreads), 0, stream, args, items, head_chunks);
}

void LaunchSplitReduce(const AttentionArgs& args, const int4* items, int num_items,
                       cudaStream_t stream) {
  const dim3 grid(num_items, args.heads);
  const int threads = std::min(256, (args.cache.head_dim + 31) / 32 * 32);
  Launch(SplitReduceKernel, grid, dim3(threads), 0, stream, args, items, args.cache.head_dim);
}

}  // namespace strata::kernels::cuda::internal
