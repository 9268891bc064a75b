// Rotary embedding (rotate-half), optionally fused with Qwen3's per-head q/k RMSNorm and
// with writing the rotated K and the V rows into the paged cache.
//
// Grid (rows, head groups): a block serves kWarpsPerBlock heads of one row, one warp each;
// the q heads come first, then the kv heads. The block first computes the row's
// cos/sin(position * inv_freq[d]) once into shared memory (every head uses the same
// angles). Lane l holds the pairs (d, d + half) for d = 2l, 2l + 1 (+ 64 j), as bf16x2
// accesses.
#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda {
namespace {

constexpr int kMaxHeadDim = 512;
constexpr int kSteps = kMaxHeadDim / 2 / 64;  // pairs of pairs per lane
constexpr int kWarpsPerBlock = 4;

__global__ void RopeKernel(RopeArgs args) {
  __shared__ float shared_cos[kMaxHeadDim / 2], shared_sin[kMaxHeadDim / 2];
  GridDependencyEnter();
  const int64_t row = blockIdx.x;
  const int lane = threadIdx.x % kWarpSize;
  const int half = args.head_dim / 2;
  const float position = static_cast<float>(args.positions[row]);
  for (int d = threadIdx.x; d < half; d += blockDim.x) {
    sincosf(position * args.inv_freq[d], &shared_sin[d], &shared_cos[d]);
  }
  __syncthreads();
  const int head_slots = (args.q ? args.heads : 0) + (args.k ? args.kv_heads : 0);
  const int slot = blockIdx.y * kWarpsPerBlock + threadIdx.x / kWarpSize;
  if (slot < head_slots) {
    const bool is_q = args.q != nullptr && slot < args.heads;
    const int head = is_q ? slot : slot - (args.q ? args.heads : 0);
    bf16* x = is_q ? args.q + row * args.q_stride + int64_t{head} * args.head_dim
                   : args.k + row * args.k_stride + int64_t{head} * args.head_dim;
    const bf16* norm = is_q ? args.q_norm : args.k_norm;
    float a[kSteps][2], b[kSteps][2];
    float ss = 0.0f;
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      const int d = 2 * lane + 64 * s;
      if (d < half) {
        // half is even, so (d, d + 1) never straddles the two halves.
        const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(x + d));
        const float2 hi =
            __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(x + d + half));
        a[s][0] = lo.x, a[s][1] = lo.y, b[s][0] = hi.x, b[s][1] = hi.y;
        ss += lo.x * lo.x + lo.y * lo.y + hi.x * hi.x + hi.y * hi.y;
      }
    }
    if (norm != nullptr) {
      ss = WarpSum(ss);
      const float scale = 1.0f / sqrtf(ss / static_cast<float>(args.head_dim) + args.norm_eps);
#pragma unroll
      for (int s = 0; s < kSteps; ++s) {
        const int d = 2 * lane + 64 * s;
        if (d < half) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            a[s][e] = a[s][e] * scale * __bfloat162float(norm[d + e]);
            b[s][e] = b[s][e] * scale * __bfloat162float(norm[d + e + half]);
          }
        }
      }
    }
    const bool to_cache = !is_q && args.cache.k != nullptr && args.slots[row] >= 0;
    const int64_t cache_offset =
        to_cache ? (args.slots[row] * args.cache.kv_heads + head) * args.head_dim : 0;
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      const int d = 2 * lane + 64 * s;
      if (d < half) {
        float lo[2], hi[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float sine = shared_sin[d + e], cosine = shared_cos[d + e];
          lo[e] = a[s][e] * cosine - b[s][e] * sine;
          hi[e] = b[s][e] * cosine + a[s][e] * sine;
        }
        const __nv_bfloat162 lo2 = __floats2bfloat162_rn(lo[0], lo[1]);
        const __nv_bfloat162 hi2 = __floats2bfloat162_rn(hi[0], hi[1]);
        *reinterpret_cast<__nv_bfloat162*>(x + d) = lo2;
        *reinterpret_cast<__nv_bfloat162*>(x + d + half) = hi2;
        if (to_cache) {
          bf16* k_dst = args.cache.k + cache_offset;
          *reinterpret_cast<__nv_bfloat162*>(k_dst + d) = lo2;
          *reinterpret_cast<__nv_bfloat162*>(k_dst + d + half) = hi2;
          const bf16* v_src = args.v + row * args.v_stride + int64_t{head} * args.head_dim;
          bf16* v_dst = args.cache.v + cache_offset;
          *reinterpret_cast<__nv_bfloat162*>(v_dst + d) =
              *reinterpret_cast<const __nv_bfloat162*>(v_src + d);
          *reinterpret_cast<__nv_bfloat162*>(v_dst + d + half) =
              *reinterpret_cast<const __nv_bfloat162*>(v_src + d + half);
        }
      }
    }
  }
}

}  // namespace

void ApplyRope(const RopeArgs& args, cudaStream_t stream) {
  if (args.rows == 0 || (args.q == nullptr && args.k == nullptr)) return;
  STRATA_CHECK(args.head_dim % 4 == 0 && args.head_dim <= kMaxHeadDim)
      << "head_dim " << args.head_dim;
  STRATA_CHECK((args.q_norm == nullptr) == (args.k_norm == nullptr));
  STRATA_CHECK(args.positions != nullptr && args.inv_freq != nullptr);
  if (args.q != nullptr) STRATA_CHECK(args.q_stride % 2 == 0);
  if (args.k != nullptr) STRATA_CHECK(args.k_stride % 2 == 0);
  if (args.cache.k != nullptr && args.k != nullptr) {
    STRATA_CHECK(args.v != nullptr && args.slots != nullptr && args.v_stride % 2 == 0);
    STRATA_CHECK(args.cache.kv_heads == args.kv_heads && args.cache.head_dim == args.head_dim);
  }
  const int head_slots =
      (args.q != nullptr ? args.heads : 0) + (args.k != nullptr ? args.kv_heads : 0);
  internal::Launch(RopeKernel,
                   dim3(static_cast<unsigned>(args.rows),
                        static_cast<unsigned>((head_slots + kWarpsPerBlock - 1) / kWarpsPerBlock)),
                   dim3(kWarpsPerBlock * kWarpSize), 0, stream, args);
}

}  // namespace strata::kernels::cuda
