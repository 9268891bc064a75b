// The skinny (few-row) GEMM: see gemm_skinny.h.
#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/gemm_skinny.h"
#include "kernels/cuda/launch.h"

namespace strata::kernels::cuda::internal {
namespace {

// Weights are read once per call: keep them out of L1, ask L2 for whole 256-byte sectors.
__device__ __forceinline__ uint4 LoadWeights(const bf16* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

__device__ __forceinline__ void StoreOut(bf16* p, float v) { *p = __float2bfloat16(v); }
__device__ __forceinline__ void StoreOut(float* p, float v) { *p = v; }

// y^T = W . x^T as m16n8k16 MMAs: 16 weight rows (output columns) as A, up to 8 x rows
// as the n = 8 columns of B, float32 accumulators. Each of the block's 8 warps takes every 8th
// 64-element k-step of the block's 16 rows; a lane (g = lane / 4, c = lane % 4) loads 16 bytes at
// k0 + 8c and k0 + 32 + 8c of rows g and g + 8 (64 contiguous bytes per row per load) and the same
// two pieces of x row g. The k order inside a step is permuted consistently for A and B (a sum does
// not care): MMA j of the step takes words {2(j % 2), 2(j % 2) + 1} of piece j / 2. The warps'
// partial tiles are summed through shared memory at the end.
constexpr int kMmaWarps = 8;
constexpr int kMmaRows = 16;
constexpr int kMmaStep = 64;

template <typename Out>
__global__ void __launch_bounds__(kMmaWarps* kWarpSize, 2) SkinnyMmaKernel(SkinnyGemmArgs args) {
  constexpr int U = 2;  // k-steps per warp in flight
  __shared__ float partial[kMmaWarps][kWarpSize][4];
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int g = lane / 4, c = lane % 4;
  const int n = args.n, k = args.k;
  const int row0 = blockIdx.x * kMmaRows;
  const bf16* w_lo = args.w + int64_t{min(row0 + g, n - 1)} * k + c * 8;
  const bf16* w_hi = args.w + int64_t{min(row0 + g + 8, n - 1)} * k + c * 8;
  const int steps = (k + kMmaStep - 1) / kMmaStep;

  // [u][piece]: pieces at k0 + 8c and k0 + 32 + 8c; zeros past k.
  uint4 next_lo[U][2], next_hi[U][2];
  auto load_w = [&](int step0) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int k0 = (step0 + u * kMmaWarps) * kMmaStep;
#pragma unroll
      for (int p = 0; p < 2; ++p) {
        const bool valid = k0 + 32 * p + c * 8 < k;
        next_lo[u][p] = valid ? LoadWeights(w_lo + k0 + 32 * p) : make_uint4(0, 0, 0, 0);
        next_hi[u][p] = valid ? LoadWeights(w_hi + k0 + 32 * p) : make_uint4(0, 0, 0, 0);
      }
    }
  };
  load_w(warp);  // weights: nothing on the stream writes them
  GridDependencyEnter();

  const bf16* x_row = args.x + int64_t{min(g, args.m - 1)} * args.ldx + c * 8;
  float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int step = warp; step < steps; step += U * kMmaWarps) {
    uint4 lo[U][2], hi[U][2], xv[U][2];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int k0 = (step + u * kMmaWarps) * kMmaStep;
#pragma unroll
      for (int p = 0; p < 2; ++p) {
        lo[u][p] = next_lo[u][p];
        hi[u][p] = next_hi[u][p];
        const bool valid = k0 + 32 * p + c * 8 < k;
        xv[u][p] =
            valid ? *reinterpret_cast<const uint4*>(x_row + k0 + 32 * p) : make_uint4(0, 0, 0, 0);
      }
    }
    if (step + U * kMmaWarps < steps) load_w(step + U * kMmaWarps);
#pragma unroll
    for (int u = 0; u < U; ++u) {
#pragma unroll
      for (int p = 0; p < 2; ++p) {
        MmaBf16(d, lo[u][p].x, hi[u][p].x, lo[u][p].y, hi[u][p].y, xv[u][p].x, xv[u][p].y);
        MmaBf16(d, lo[u][p].z, hi[u][p].z, lo[u][p].w, hi[u][p].w, xv[u][p].z, xv[u][p].w);
      }
    }
  }

#pragma unroll
  for (int e = 0; e < 4; ++e) partial[warp][lane][e] = d[e];
  __syncthreads();
  if (threadIdx.x < kWarpSize * 4) {
    const int l = threadIdx.x % kWarpSize, e = threadIdx.x / kWarpSize;
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kMmaWarps; ++w) sum += partial[w][l][e];
    // d0, d1: column row0 + g, x rows 2c, 2c + 1; d2, d3: column row0 + g + 8.
    const int col = row0 + l / 4 + (e / 2) * 8, m = 2 * (l % 4) + e % 2;
    if (col < n && m < args.m) {
      const float bias = args.bias != nullptr ? __bfloat162float(args.bias[col]) : 0.0f;
      StoreOut(static_cast<Out*>(args.y) + int64_t{m} * args.ldy + col, sum + bias);
    }
  }
}

}  // namespace

bool SkinnyGemmSupported(const SkinnyGemmArgs& args) {
  return args.m >= 1 && args.m <= kSkinnyMaxRows && args.n > 0 && args.k > 0 && args.k % 8 == 0 &&
         args.ldx % 8 == 0 && Aligned16(args.x) && Aligned16(args.w);
}

void LaunchSkinnyGemm(const SkinnyGemmArgs& args, cudaStream_t stream) {
  STRATA_CHECK(SkinnyGemmSupported(args));
  const dim3 grid((args.n + kMmaRows - 1) / kMmaRows), block(kMmaWarps * kWarpSize);
  if (args.y_float) {
    Launch(SkinnyMmaKernel<float>, grid, block, 0, stream, args);
  } else {
    Launch(SkinnyMmaKernel<bf16>, grid, block, 0, stream, args);
  }
}

}  // namespace strata::kernels::cuda::internal
