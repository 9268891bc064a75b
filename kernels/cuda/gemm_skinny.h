// The bandwidth-bound path of Gemm for a few rows (decode at small batch): y = x . W^T with
// bf16 x and W, float32 accumulation, bf16 or float32 output, optional bf16 bias.
//
// The weights stream through m16n8k16 tensor-core MMAs with the (at most 8) x rows as the
// n = 8 side: a block of 8 warps owns 16 output columns and splits k among its warps,
// every lane keeping 4 16-byte weight loads per k-step and 2 k-steps in flight; partial
// tiles meet in shared memory. The MMAs keep the instruction count per weight byte low
// for every row count up to 8 (a CUDA-core version with per-lane FMAs, measured first,
// fell to 42-53% of the copy bandwidth at 8 rows on the o_proj and down shapes). The first
// weight pieces are read before the grid-dependency wait (PDL, launch.h), overlapping the
// previous kernel's tail. Include from host code or .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda::internal {

constexpr int kSkinnyMaxRows = 8;

struct SkinnyGemmArgs {
  const bf16* x;  // [m, k], rows ldx apart
  int64_t ldx;
  const bf16* w;     // [n, k]
  const bf16* bias;  // [n] or null
  void* y;           // [m, n], rows ldy apart, bf16 or float
  int64_t ldy;
  bool y_float;
  int32_t m, n, k;
};

// Whether the skinny kernel serves this shape: 1 <= m <= kSkinnyMaxRows, k % 8 == 0, x rows
// and W 16-byte aligned.
bool SkinnyGemmSupported(const SkinnyGemmArgs& args);

void LaunchSkinnyGemm(const SkinnyGemmArgs& args, cudaStream_t stream);

}  // namespace strata::kernels::cuda::internal
