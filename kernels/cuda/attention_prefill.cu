// Prefill attention over the paged cache: flash-attention 2 tiling with bf16 mma.sync.
//
// A block of 4 warps serves one tile of 128 packed rows of one sequence and kv head; row r
// of the tile is query token r / group, query head r % group of that kv head's group, so
// every key and value tile loaded is shared by the whole GQA group. Each warp owns 32 rows,
// two m16 row tiles, so every K or V fragment it loads from shared memory feeds two MMAs
// and each step has twice the independent accumulators (the kernel is bound by dependent-
// instruction latency, not by bandwidth). Per step: S = Q K^T (m16n8k16, fp32 accumulators;
// Q's fragments come from shared memory, where it stays), causal/length mask, online
// softmax in registers (the row maximum is kept in raw score units, so each probability is
// one exp2 of one FMA), then O += P V with P re-packed to bf16 straight from the
// accumulators. Keys and values come in 64-row tiles through cp.async into two shared
// stages: K_{j+1} and V_{j+1} load during the whole of step j (S_j, softmax, P V_j). Only
// tiles that cross the causal diagonal (or the context's end) are masked. Shared rows are
// padded by 16 bytes against bank conflicts.
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
constexpr int kTileRows = kPrefillTileRows;
constexpr int kTileKeys = kPrefillTileKeys;
constexpr int kWarpRows = kTileRows / (kThreads / kWarpSize);  // 32
constexpr int kRowTiles = kWarpRows / 16;                        // m16 tiles per warp
static_assert(kWarpRows % 16 == 0);

// c += a (16x16, row-major) * b (16x8, column-major), bf16 in, fp32 accumulate.
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  MmaBf16(c, a[0], a[1], a[2], a[3], b0, b1);
}

// 2^x by the special-function unit, subnormal results flushed to zero (such probabilities
// are far below what the bf16 P resolves beside the row's largest); exp2(-inf) = 0.
__device__ __forceinline__ float Exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// The Q tile, then two stages of K, then two of V, each row padded.
template <int kHeadDim>
constexpr int kSharedBytes = (kTileRows + 4 * kTileKeys) * (kHeadDim + 8) * sizeof(bf16);

template <int kHeadDim, bool kInt8>
__global__ void __launch_bounds__(kThreads, 2)
    PrefillKernel(AttentionArgs args, const int4* items) {
  constexpr int kStride = kHeadDim + 8;  // padded shared row, in bf16
  constexpr int kChunks = kHeadDim / 8;  // 16-byte pieces per row
  constexpr int kDimTiles = kHeadDim / 8;
  constexpr int kSubKeys = 32;  // keys of one online-softmax update
  constexpr int kSubKeyTiles = kSubKeys / 8;
  static_assert(kTileKeys % kSubKeys == 0 && kSubKeys % 16 == 0);
  extern __shared__ __align__(16) unsigned char prefill_shared[];
  bf16* const shared_q = reinterpret_cast<bf16*>(prefill_shared);
  bf16* const shared_k = shared_q + kTileRows * kStride;
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
  const int warp_row0 = row0 + warp * kWarpRows;
  const int32_t* pages = args.pages + args.seq_page_begin[seq];
  const int block_size = args.cache.block_size;
  const int64_t token_stride = int64_t{args.cache.kv_heads} * kHeadDim;

  // The Q tile -> shared, where its fragments are read at every key step (committed as
  // the first copy group, ahead of K_0 and V_0).
  for (int c = threadIdx.x; c < kTileRows * kChunks; c += kThreads) {
    const int r = c / kChunks, part = c % kChunks;
    const int packed = row0 + r;
    const bool valid = packed < rows;
    const int token = valid ? packed / group : 0;
    const int head = kv_head * group + (valid ? packed % group : 0);
    const bf16* src = args.q + (q_begin + token) * args.q_stride + int64_t{head} * kHeadDim;
    CopyAsync16(&shared_q[r * kStride + part * 8], src + part * 8, valid);
  }
  CopyCommit();

  // Keys a packed row sees; rows past the tile's end see none. Causal rows see more keys
  // the later they sit, so the warp's first row (or none, when the warp holds a row past
  // the end) bounds what every row of the warp sees.
  auto visible_keys = [&](int packed) {
    return packed >= rows ? 0 : (args.causal ? ctx - q_len + packed / group + 1 : ctx);
  };
  const int warp_visible = warp_row0 + kWarpRows > rows ? 0 : visible_keys(warp_row0);
  const int last_token = (min(rows, row0 + kTileRows) - 1) / group;
  const int kv_end = args.causal ? ctx - q_len + last_token + 1 : ctx;
  const int num_key_tiles = (kv_end + kTileKeys - 1) / kTileKeys;
  // This block's share of the key steps: all of them unless the tile is split.
  const int key_begin = num_key_tiles * split / splits;
  const int key_end = num_key_tiles * (split + 1) / splits;
  const uint8_t* page_int8 = kInt8 ? args.page_int8 + args.seq_page_begin[seq] : nullptr;
  // bf16 pages: threads 2r and 2r + 1 copy key row r of a tile, alternate 16-byte pieces
  // each, so one page lookup per thread serves the tile's K and V. The row's element offset
  // in a cache plane, or -1 past the context's end.
  static_assert(kThreads == 2 * kTileKeys && kChunks % 2 == 0);
  const int copy_row = threadIdx.x / 2, copy_part = threadIdx.x % 2;
  auto row_source = [&](int tile) -> int64_t {
    const int t = tile * kTileKeys + copy_row;
    if (kInt8 || tile >= key_end || t >= kv_end) return -1;
    return (int64_t{pages[t / block_size]} * block_size + t % block_size) * token_stride +
           int64_t{kv_head} * kHeadDim;
  };
  // Commits one copy group: tile `tile` of `cache` into `dst` (row_source(tile) is
  // `source`), or nothing past the key range.
  auto load_tile = [&](bf16* dst, const bf16* cache, int tile, int64_t source) {
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
#pragma unroll
      for (int part = copy_part; part < kChunks; part += 2) {
        CopyAsync16(&dst[copy_row * kStride + part * 8], cache + max(source, int64_t{0}) + part * 8,
                    source >= 0);
      }
    }
    CopyCommit();
  };

  float o[kRowTiles][kDimTiles][4];
#pragma unroll
  for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) o[t][n][0] = o[t][n][1] = o[t][n][2] = o[t][n][3] = 0.0f;
  }
  // Running maxima in raw score units; -inf until a row has seen a visible key.
  float m[kRowTiles][2], l[kRowTiles][2];
#pragma unroll
  for (int t = 0; t < kRowTiles; ++t) m[t][0] = m[t][1] = -INFINITY, l[t][0] = l[t][1] = 0.0f;
  const float scale = args.scale_log2;

  // Copy groups are committed in the order Q, K_0, V_0, K_1, V_1, ... (empty past the end).
  const int64_t first_source = row_source(key_begin);
  load_tile(shared_k, args.cache.k, key_begin, first_source);
  load_tile(shared_v, args.cache.v, key_begin, first_source);
  for (int j = key_begin; j < key_end; ++j) {
    const int stage = (j - key_begin) % 2;
    const bf16* const k_tile = shared_k + stage * kTileKeys * kStride;
    const bf16* const v_tile = shared_v + stage * kTileKeys * kStride;
    CopyWait<1>();    // Q and K_j landed (V_j may be in flight)
    __syncthreads();  // K_j visible; every warp is done with step j - 1 and its stage
    const int64_t next_source = row_source(j + 1);
    load_tile(shared_k + (1 - stage) * kTileKeys * kStride, args.cache.k, j + 1, next_source);
    load_tile(shared_v + (1 - stage) * kTileKeys * kStride, args.cache.v, j + 1, next_source);

    // The tile's keys in sub-steps of kSubKeys, each a whole online-softmax update: S, P
    // and O of 32 rows x 64 keys would not fit a thread's registers beside each other.
#pragma unroll
    for (int sub = 0; sub < kTileKeys / kSubKeys; ++sub) {
      const int key0 = j * kTileKeys + sub * kSubKeys;  // the sub-step's first key
      float s[kRowTiles][kSubKeyTiles][4];
#pragma unroll
      for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
        for (int n = 0; n < kSubKeyTiles; ++n) s[t][n][0] = s[t][n][1] = s[t][n][2] = s[t][n][3] = 0.0f;
      }
#pragma unroll
      for (int kk = 0; kk < kHeadDim / 16; ++kk) {
        uint32_t a[kRowTiles][4];
#pragma unroll
        for (int t = 0; t < kRowTiles; ++t) {
          LoadMatrixX4(a[t], &shared_q[(warp * kWarpRows + 16 * t + lane % 16) * kStride +
                                       kk * 16 + (lane / 16) * 8]);
        }
#pragma unroll
        for (int np = 0; np < kSubKeyTiles / 2; ++np) {
          uint32_t b[4];
          LoadMatrixX4(b, &k_tile[(sub * kSubKeys + np * 16 + (lane / 16) * 8 + lane % 8) * kStride +
                                  kk * 16 + ((lane / 8) % 2) * 8]);
#pragma unroll
          for (int t = 0; t < kRowTiles; ++t) {
            Mma(s[t][2 * np], a[t], b[0], b[1]);
            Mma(s[t][2 * np + 1], a[t], b[2], b[3]);
          }
        }
      }

      // Mask (sub-steps crossing the diagonal or the end only), then the online softmax of
      // the thread's rows (each shared by 4 lanes): p = exp2(s x scale - m x scale).
      if (key0 + kSubKeys > warp_visible) {  // some key here is hidden from some row
#pragma unroll
        for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
          for (int i = 0; i < 2; ++i) {
            const int visible = visible_keys(warp_row0 + 16 * t + lane / 4 + 8 * i);
#pragma unroll
            for (int n = 0; n < kSubKeyTiles; ++n) {
#pragma unroll
              for (int e = 0; e < 2; ++e) {
                if (key0 + n * 8 + (lane % 4) * 2 + e >= visible) s[t][n][2 * i + e] = -INFINITY;
              }
            }
          }
        }
      }
      float correction[kRowTiles][2];
#pragma unroll
      for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          float row_max = -INFINITY;
#pragma unroll
          for (int n = 0; n < kSubKeyTiles; ++n) {
            row_max = fmaxf(row_max, fmaxf(s[t][n][2 * i], s[t][n][2 * i + 1]));
          }
          row_max = fmaxf(row_max, __shfl_xor_sync(~0u, row_max, 1));
          row_max = fmaxf(row_max, __shfl_xor_sync(~0u, row_max, 2));
          const float m_new = fmaxf(m[t][i], row_max);
          // A row with no visible key yet keeps m = -inf and gets p = 0 below.
          const float m_scaled = m_new == -INFINITY ? 0.0f : m_new * scale;
          correction[t][i] = Exp2(m[t][i] * scale - m_scaled);  // exactly 1 when m held
          m[t][i] = m_new;
          float sums[2] = {0.0f, 0.0f};  // two chains of additions, not one
#pragma unroll
          for (int n = 0; n < kSubKeyTiles; ++n) {
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              float& v = s[t][n][2 * i + e];
              v = Exp2(fmaf(v, scale, -m_scaled));
              sums[e] += v;
            }
          }
          const float sum = sums[0] + sums[1];
          l[t][i] = l[t][i] * correction[t][i] + sum;  // per-lane; reduced across lanes at the end
        }
      }
      // A sub-step that leaves every row's maximum of the warp where it was skips
      // rescaling the accumulators.
      bool rescale = false;
#pragma unroll
      for (int t = 0; t < kRowTiles; ++t) rescale |= correction[t][0] != 1.0f || correction[t][1] != 1.0f;
      if (__any_sync(~0u, rescale)) {
#pragma unroll
        for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
          for (int n = 0; n < kDimTiles; ++n) {
            o[t][n][0] *= correction[t][0];
            o[t][n][1] *= correction[t][0];
            o[t][n][2] *= correction[t][1];
            o[t][n][3] *= correction[t][1];
          }
        }
      }

      if (sub == 0) {
        CopyWait<2>();    // V_j landed (K_{j+1}, V_{j+1} may be in flight)
        __syncthreads();  // V_j visible
      }
#pragma unroll
      for (int kk = 0; kk < kSubKeys / 16; ++kk) {
        uint32_t p[kRowTiles][4];
#pragma unroll
        for (int t = 0; t < kRowTiles; ++t) {
          p[t][0] = PackBf16(s[t][2 * kk][0], s[t][2 * kk][1]);
          p[t][1] = PackBf16(s[t][2 * kk][2], s[t][2 * kk][3]);
          p[t][2] = PackBf16(s[t][2 * kk + 1][0], s[t][2 * kk + 1][1]);
          p[t][3] = PackBf16(s[t][2 * kk + 1][2], s[t][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dp = 0; dp < kDimTiles / 2; ++dp) {
          uint32_t b[4];
          LoadMatrixX4Trans(b, &v_tile[(sub * kSubKeys + kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) *
                                           kStride +
                                       dp * 16 + (lane / 16) * 8]);
#pragma unroll
          for (int t = 0; t < kRowTiles; ++t) {
            Mma(o[t][2 * dp], p[t], b[0], b[1]);
            Mma(o[t][2 * dp + 1], p[t], b[2], b[3]);
          }
        }
      }
    }
  }

#pragma unroll
  for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float sum = l[t][i];
      sum += __shfl_xor_sync(~0u, sum, 1);
      sum += __shfl_xor_sync(~0u, sum, 2);
      const int packed = warp_row0 + 16 * t + lane / 4 + 8 * i;
      if (packed >= rows) continue;
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int head = kv_head * group + packed % group;
      if (first_partial < 0) {
        const int64_t token = q_begin + packed / group;
        bf16* dst = args.out + (token * args.heads + head) * kHeadDim + (lane % 4) * 2;
#pragma unroll
        for (int n = 0; n < kDimTiles; ++n) {
          *reinterpret_cast<__nv_bfloat162*>(dst + n * 8) =
              __floats2bfloat162_rn(o[t][n][2 * i] * inv, o[t][n][2 * i + 1] * inv);
        }
        continue;
      }
      // Partial of (query row, split): the tile's rows are whole query rows here.
      const int64_t partial =
          first_partial + int64_t{packed / group - row0 / group} * splits + split;
      float* dst = args.partial_out + (partial * args.heads + head) * kHeadDim + (lane % 4) * 2;
#pragma unroll
      for (int n = 0; n < kDimTiles; ++n) {
        *reinterpret_cast<float2*>(dst + n * 8) =
            make_float2(o[t][n][2 * i] * inv, o[t][n][2 * i + 1] * inv);
      }
      if (lane % 4 == 0) {
        args.partial_lse[partial * args.heads + head] =
            sum > 0.0f ? m[t][i] * scale + log2f(sum) : -INFINITY;
      }
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

bool PrefillFastPath(int head_dim) {
  if (head_dim != 64 && head_dim != 128) return false;
  // A tile needs up to 104 KiB of shared memory (head_dim 128), more than a block may have
  // before sm_90 (99 KiB on sm_86 and sm_89): there, prefill rows take the generic kernel.
  static const int optin = [] {
    int device = 0, bytes = 0;
    STRATA_CUDA_CHECK(cudaGetDevice(&device));
    STRATA_CUDA_CHECK(
        cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    return bytes;
  }();
  return (head_dim == 64 ? kSharedBytes<64> : kSharedBytes<128>) <= optin;
}

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
