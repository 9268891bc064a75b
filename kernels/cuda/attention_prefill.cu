// Prefill attention over the paged cache: flash-attention 2 tiling with bf16 mma.sync.
//
// A block of 4 warps serves one tile of 64 packed rows of one sequence and kv head; row r
// of the tile is query token r / group, query head r % group of that kv head's group, so
// every key and value tile loaded is shared by the whole GQA group. Each warp owns 16 rows:
// S = Q K^T (m16n8k16, fp32 accumulators), causal/length mask, online softmax in registers
// (exp2), then O += P V with P re-packed to bf16 straight from the accumulators. Keys and
// values come in 64-row tiles through cp.async into two shared stages: K_{j+1} and V_{j+1}
// load during the whole of step j (S_j, softmax, P V_j). Only tiles that cross the causal
// diagonal (or the context's end) are masked. Shared rows are padded by 16 bytes against
// bank conflicts.
//
// Key splits (attention_plan.cc): when a batch's tiles are too few to fill the GPU, a tile's
// key steps are shared out among several blocks, each writing float partial outputs and
// their log2-sum-exp per query row; the split reduce (attention_decode.cu) merges them.
//
// Int8 pages (kv_quant.h; the kInt8 variants, chosen when the plan carries page flags):
// the MMAs want bf16 tiles, so a thread loads the 8-byte int8 pieces of its rows of the
// next tile into registers (two at a time, so loads overlap), dequantizes them
// (value x its kv head's scale, rounded to bf16) and stores them into the same shared
// stage that cp.async fills for bf16 pages; the barriers that order the cp.async stages
// order these stores too. That load is not asynchronous: the int8 pieces of tile j + 1
// arrive before step j's math starts, the price of the halved bytes.
#include <algorithm>
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
constexpr int kTileRows = kPrefillTileRows;  // 16 per warp
constexpr int kTileKeys = kPrefillTileKeys;

// c += a (16x16, row-major) * b (16x8, column-major), bf16 in, fp32 accumulate.
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

template <int kHeadDim>
constexpr int kSharedBytes = 4 * kTileKeys * (kHeadDim + 8) * sizeof(bf16);

template <int kHeadDim, bool kInt8>
__global__ void __launch_bounds__(kThreads, 3)
    PrefillKernel(AttentionArgs args, const int4* items) {
  constexpr int kStride = kHeadDim + 8;  // padded shared row, in bf16
  constexpr int kChunks = kHeadDim / 8;  // 16-byte pieces per row
  constexpr int kDimTiles = kHeadDim / 8;
  constexpr int kKeyTiles = kTileKeys / 8;
  // Two stages of K, then two of V, kTileKeys padded rows each (dynamic, sized by LaunchFor).
  extern __shared__ __align__(16) unsigned char prefill_shared[];
  bf16* const shared_k = reinterpret_cast<bf16*>(prefill_shared);
  bf16* const shared_v = shared_k + 2 * kTileKeys * kStride;

  GridDependencyEnter();
  const int4 item = items[blockIdx.x];
  const int seq = item.x, kv_head = blockIdx.y;
  const int split = item.z & 0xffff, splits = item.z >> 16, first_partial = item.w;
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int group = args.group;
  const int q_len = args.seq_q_len[seq], ctx = args.seq_ctx_len[seq];
  const int64_t q_begin = args.seq_q_begin[seq];
  const int rows = q_len * group;
  const int row0 = item.y * kTileRows;
  const int32_t* pages = args.pages + args.seq_page_begin[seq];
  const int block_size = args.cache.block_size;
  const int64_t token_stride = int64_t{args.cache.kv_heads} * kHeadDim;

  // Q tile -> shared (staged in shared_k) -> registers as A fragments.
  for (int c = threadIdx.x; c < kTileRows * kChunks; c += kThreads) {
    const int r = c / kChunks, part = c % kChunks;
    const int packed = row0 + r;
    const bool valid = packed < rows;
    const int token = valid ? packed / group : 0;
    const int head = kv_head * group + (valid ? packed % group : 0);
    const bf16* src = args.q + (q_begin + token) * args.q_stride + int64_t{head} * kHeadDim;
    CopyAsync16(&shared_k[r * kStride + part * 8], src + part * 8, valid);
  }
  CopyCommit();
  CopyWaitAll();
  __syncthreads();
  uint32_t q_frag[kHeadDim / 16][4];
#pragma unroll
  for (int kk = 0; kk < kHeadDim / 16; ++kk) {
    LoadMatrixX4(q_frag[kk],
                 &shared_k[(warp * 16 + lane % 16) * kStride + kk * 16 + (lane / 16) * 8]);
  }
  __syncthreads();

  // The two rows this thread holds in the accumulators, and how many keys each sees.
  int visible[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int packed = row0 + warp * 16 + lane / 4 + 8 * i;
    visible[i] = packed >= rows ? 0 : (args.causal ? ctx - q_len + packed / group + 1 : ctx);
  }
  const int last_token = (min(rows, row0 + kTileRows) - 1) / group;
  const int kv_end = args.causal ? ctx - q_len + last_token + 1 : ctx;
  const int num_key_tiles = (kv_end + kTileKeys - 1) / kTileKeys;
  // This block's share of the key steps: all of them unless the tile is split.
  const int key_begin = num_key_tiles * split / splits;
  const int key_end = num_key_tiles * (split + 1) / splits;

  const uint8_t* page_int8 = kInt8 ? args.page_int8 + args.seq_page_begin[seq] : nullptr;
  auto load_tile = [&](bf16* dst, const bf16* cache, int tile) {
    if (tile >= key_end) {
      CopyCommit();  // empty group: keeps the wait counts above uniform
      return;
    }
    if constexpr (kInt8) {
      // In batches of kBatch pieces per thread: the loads of a batch overlap, and few
      // registers stay live beside the accumulators.
      constexpr int kPerThread = kTileKeys * kChunks / kThreads;
      constexpr int kBatch = 2;
      static_assert(kTileKeys * kChunks % kThreads == 0 && kPerThread % kBatch == 0);
#pragma unroll 1
      for (int i0 = 0; i0 < kPerThread; i0 += kBatch) {
        uint2 raw[kBatch];
        float scale[kBatch];
        bool int8[kBatch];
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
          const int c = threadIdx.x + (i0 + b) * kThreads;
          const int r = c / kChunks, part = c % kChunks;
          const int t = tile * kTileKeys + r;
          const bool valid = t < kv_end;
          int8[b] = valid && page_int8[t / block_size] != 0;
          const int64_t page = valid ? pages[t / block_size] : 0;
          if (int8[b]) {
            const Int8Plane plane = Int8PlaneOf(cache, page, args.cache);
            raw[b] = *reinterpret_cast<const uint2*>(plane.values +
                                                     (t % block_size) * token_stride +
                                                     int64_t{kv_head} * kHeadDim + part * 8);
            scale[b] = plane.scales[kv_head];
          } else {
            const int64_t slot = page * block_size + t % block_size;
            CopyAsync16(&dst[r * kStride + part * 8],
                        cache + slot * token_stride + int64_t{kv_head} * kHeadDim + part * 8,
                        valid);
          }
        }
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
          if (!int8[b]) continue;
          const int c = threadIdx.x + (i0 + b) * kThreads;
          const int r = c / kChunks, part = c % kChunks;
          float x[8];
          UnpackInt8x8(raw[b].x, raw[b].y, scale[b], x);
          StoreBf16x8(&dst[r * kStride + part * 8], Pack(x));
        }
      }
    } else {
      for (int c = threadIdx.x; c < kTileKeys * kChunks; c += kThreads) {
        const int r = c / kChunks, part = c % kChunks;
        const int t = tile * kTileKeys + r;
        const bool valid = t < kv_end;
        const int64_t slot = valid ? int64_t{pages[t / block_size]} * block_size + t % block_size : 0;
        CopyAsync16(&dst[r * kStride + part * 8],
                    cache + slot * token_stride + int64_t{kv_head} * kHeadDim + part * 8, valid);
      }
    }
    CopyCommit();
  };

  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  // Copy groups are committed in the order K_0, V_0, K_1, V_1, ... (empty past the end).
  load_tile(shared_k, args.cache.k, key_begin);
  load_tile(shared_v, args.cache.v, key_begin);
  // Keys every row of this thread sees: tiles below this need no mask.
  const int all_visible = min(visible[0], visible[1]);
  for (int j = key_begin; j < key_end; ++j) {
    const int stage = (j - key_begin) % 2;
    const bf16* const k_tile = shared_k + stage * kTileKeys * kStride;
    const bf16* const v_tile = shared_v + stage * kTileKeys * kStride;
    CopyWait<1>();    // K_j landed (V_j may be in flight)
    __syncthreads();  // K_j visible; every warp is done with step j - 1 and its stage
    load_tile(shared_k + (1 - stage) * kTileKeys * kStride, args.cache.k, j + 1);
    load_tile(shared_v + (1 - stage) * kTileKeys * kStride, args.cache.v, j + 1);

    float s[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kHeadDim / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kKeyTiles / 2; ++np) {
        uint32_t b[4];
        LoadMatrixX4(b, &k_tile[(np * 16 + (lane / 16) * 8 + lane % 8) * kStride + kk * 16 +
                                ((lane / 8) % 2) * 8]);
        Mma(s[2 * np], q_frag[kk], b[0], b[1]);
        Mma(s[2 * np + 1], q_frag[kk], b[2], b[3]);
      }
    }

    // Mask (tiles crossing the diagonal or the end only), then the online softmax of the
    // thread's two rows (shared by 4 lanes each).
    const bool masked = (j + 1) * kTileKeys > all_visible;
    float correction[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float row_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int key = j * kTileKeys + n * 8 + (lane % 4) * 2 + e;
          float& v = s[n][2 * i + e];
          v = !masked || key < visible[i] ? v * args.scale_log2 : -INFINITY;
          row_max = fmaxf(row_max, v);
        }
      }
      row_max = fmaxf(row_max, __shfl_xor_sync(~0u, row_max, 1));
      row_max = fmaxf(row_max, __shfl_xor_sync(~0u, row_max, 2));
      const float m_new = fmaxf(m[i], row_max);
      // A row with no visible key yet keeps m = -inf and gets p = 0 below.
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;
      correction[i] = exp2f(m[i] - m_use);
      m[i] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& v = s[n][2 * i + e];
          v = exp2f(v - m_use);
          sum += v;
        }
      }
      l[i] = l[i] * correction[i] + sum;  // per-lane partial; reduced across lanes at the end
    }
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      o[n][0] *= correction[0];
      o[n][1] *= correction[0];
      o[n][2] *= correction[1];
      o[n][3] *= correction[1];
    }

    CopyWait<2>();    // V_j landed (K_{j+1}, V_{j+1} may be in flight)
    __syncthreads();  // V_j visible

#pragma unroll
    for (int kk = 0; kk < kTileKeys / 16; ++kk) {
      const uint32_t p[4] = {PackBf16(s[2 * kk][0], s[2 * kk][1]),
                             PackBf16(s[2 * kk][2], s[2 * kk][3]),
                             PackBf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             PackBf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kDimTiles / 2; ++dp) {
        uint32_t b[4];
        LoadMatrixX4Trans(b, &v_tile[(kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * kStride +
                                     dp * 16 + (lane / 16) * 8]);
        Mma(o[2 * dp], p, b[0], b[1]);
        Mma(o[2 * dp + 1], p, b[2], b[3]);
      }
    }
  }

#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(~0u, l[i], 1);
    l[i] += __shfl_xor_sync(~0u, l[i], 2);
    const int packed = row0 + warp * 16 + lane / 4 + 8 * i;
    if (packed >= rows) continue;
    const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
    const int head = kv_head * group + packed % group;
    if (first_partial < 0) {
      const int64_t token = q_begin + packed / group;
      bf16* dst = args.out + (token * args.heads + head) * kHeadDim + (lane % 4) * 2;
#pragma unroll
      for (int n = 0; n < kDimTiles; ++n) {
        *reinterpret_cast<__nv_bfloat162*>(dst + n * 8) =
            __floats2bfloat162_rn(o[n][2 * i] * inv, o[n][2 * i + 1] * inv);
      }
      continue;
    }
    // Partial of (query row, split): the tile's rows are whole query rows here.
    const int64_t partial = first_partial + int64_t{packed / group - row0 / group} * splits + split;
    float* dst = args.partial_out + (partial * args.heads + head) * kHeadDim + (lane % 4) * 2;
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      *reinterpret_cast<float2*>(dst + n * 8) =
          make_float2(o[n][2 * i] * inv, o[n][2 * i + 1] * inv);
    }
    if (lane % 4 == 0) {
      args.partial_lse[partial * args.heads + head] = l[i] > 0.0f ? m[i] + log2f(l[i]) : -INFINITY;
    }
  }
}

// Allows the kernel its dynamic shared memory (once per instantiation).
template <int kHeadDim, bool kInt8>
void Configure() {
  static const bool configured = [] {
    STRATA_CUDA_CHECK(cudaFuncSetAttribute(PrefillKernel<kHeadDim, kInt8>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           kSharedBytes<kHeadDim>));
    return true;
  }();
  (void)configured;
}

template <int kHeadDim, bool kInt8>
void LaunchVariant(const AttentionArgs& args, const int4* items, int num_items,
                   cudaStream_t stream) {
  Configure<kHeadDim, kInt8>();
  Launch(PrefillKernel<kHeadDim, kInt8>, dim3(num_items, args.cache.kv_heads), dim3(kThreads),
         kSharedBytes<kHeadDim>, stream, args, items);
}

template <int kHeadDim>
int BlocksPerSm() {
  static const int blocks = [] {
    Configure<kHeadDim, false>();
    int count = 0;
    STRATA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &count, PrefillKernel<kHeadDim, false>, kThreads, kSharedBytes<kHeadDim>));
    return std::max(count, 1);
  }();
  return blocks;
}

template <int kHeadDim>
void LaunchFor(const AttentionArgs& args, const int4* items, int num_items, cudaStream_t stream) {
  if (args.page_int8 != nullptr) {
    LaunchVariant<kHeadDim, true>(args, items, num_items, stream);
  } else {
    LaunchVariant<kHeadDim, false>(args, items, num_items, stream);
  }
}

}  // namespace

bool PrefillFastPath(int head_dim) { return head_dim == 64 || head_dim == 128; }

int PrefillBlocksPerSm(int head_dim) {
  STRATA_CHECK(PrefillFastPath(head_dim)) << "no prefill kernel for head_dim " << head_dim;
  return head_dim == 64 ? BlocksPerSm<64>() : BlocksPerSm<128>();
}

void LaunchPrefill(const AttentionArgs& args, const int4* items, int num_items,
                   cudaStream_t stream) {
  switch (args.cache.head_dim) {
    case 64:
      LaunchFor<64>(args, items, num_items, stream);
      break;
    case 128:
      LaunchFor<128>(args, items, num_items, stream);
      break;
    default:
      STRATA_CHECK(false) << "no prefill kernel for head_dim " << args.cache.head_dim;
  }
}

}  // namespace strata::kernels::cuda::internal
