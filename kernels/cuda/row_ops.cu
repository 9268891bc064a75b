// Embedding gather, RMSNorm (plain and fused with the residual add), SiLU-and-multiply
// and the paged KV write. Memory-bound: 16-byte accesses where rows allow them.
#include <algorithm>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda {
namespace {

__device__ __forceinline__ void Store8(bf16* p, const float (&v)[8]) { StoreBf16x8(p, Pack(v)); }
__device__ __forceinline__ void Store8(float* p, const float (&v)[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void StoreOne(bf16* p, float v) { *p = __float2bfloat16(v); }
__device__ __forceinline__ void StoreOne(float* p, float v) { *p = v; }

template <typename Out, bool kVec>
__global__ void EmbeddingKernel(const bf16* table, int64_t dim, const int32_t* ids, Out* out) {
  GridDependencyEnter();
  const int64_t row = blockIdx.x;
  const bf16* src = table + static_cast<int64_t>(ids[row]) * dim;
  Out* dst = out + row * dim;
  if constexpr (kVec) {
    for (int64_t i = threadIdx.x * 8; i < dim; i += blockDim.x * 8) {
      float v[8];
      Unpack(LoadBf16x8(src + i), v);
      Store8(dst + i, v);
    }
  } else {
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      StoreOne(dst + i, __bfloat162float(src[i]));
    }
  }
}

template <typename Out>
void LaunchEmbedding(const bf16* table, int64_t dim, const int32_t* ids, int64_t rows, Out* out,
                     cudaStream_t stream) {
  if (rows == 0) return;
  const bool vec = dim % 8 == 0 && Aligned16(table) && Aligned16(out);
  const int threads = 128;
  if (vec) {
    internal::Launch(EmbeddingKernel<Out, true>, dim3(rows), dim3(threads), 0, stream, table, dim,
                     ids, out);
  } else {
    internal::Launch(EmbeddingKernel<Out, false>, dim3(rows), dim3(threads), 0, stream, table, dim,
                     ids, out);
  }
  STRATA_CUDA_CHECK_LAUNCH();
}

// One block per row. The sum of squares is float32 per thread and reduced across the
// block; the CPU reference sums in double, a difference far below bf16 rounding.
template <bool kVec>
__global__ void RmsNormKernel(const bf16* x, int64_t x_stride, const bf16* weight, int64_t dim,
                              float eps, bf16* out) {
  GridDependencyEnter();
  __shared__ float scratch[32];
  const bf16* row = x + blockIdx.x * x_stride;
  bf16* dst = out + blockIdx.x * dim;
  float ss = 0.0f;
  if constexpr (kVec) {
    for (int64_t i = threadIdx.x * 8; i < dim; i += blockDim.x * 8) {
      float v[8];
      Unpack(LoadBf16x8(row + i), v);
#pragma unroll
      for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
    }
  } else {
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      const float v = __bfloat162float(row[i]);
      ss += v * v;
    }
  }
  ss = BlockSum(ss, scratch);
  const float scale = 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
  if constexpr (kVec) {
    for (int64_t i = threadIdx.x * 8; i < dim; i += blockDim.x * 8) {
      float v[8], w[8];
      Unpack(LoadBf16x8(row + i), v);
      Unpack(LoadBf16x8(weight + i), w);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = v[j] * scale * w[j];
      Store8(dst + i, v);
    }
  } else {
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      dst[i] = __float2bfloat16(__bfloat162float(row[i]) * scale * __bfloat162float(weight[i]));
    }
  }
}

template <bool kVec>
__global__ void AddRmsNormKernel(float* residual, const bf16* x, const bf16* weight, int64_t dim,
                                 float eps, bf16* out) {
  GridDependencyEnter();
  __shared__ float scratch[32];
  float* res = residual + blockIdx.x * dim;
  const bf16* add = x == nullptr ? nullptr : x + blockIdx.x * dim;
  bf16* dst = out + blockIdx.x * dim;
  float ss = 0.0f;
  if constexpr (kVec) {
    for (int64_t i = threadIdx.x * 8; i < dim; i += blockDim.x * 8) {
      const float4 a = reinterpret_cast<const float4*>(res + i)[0];
      const float4 b = reinterpret_cast<const float4*>(res + i)[1];
      float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
      if (add != nullptr) {
        float d[8];
        Unpack(LoadBf16x8(add + i), d);
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] += d[j];
        Store8(res + i, v);
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
    }
  } else {
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      float v = res[i];
      if (add != nullptr) {
        v += __bfloat162float(add[i]);
        res[i] = v;
      }
      ss += v * v;
    }
  }
  ss = BlockSum(ss, scratch);
  const float scale = 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
  // Each thread re-reads only the residual elements it wrote itself.
  if constexpr (kVec) {
    for (int64_t i = threadIdx.x * 8; i < dim; i += blockDim.x * 8) {
      const float4 a = reinterpret_cast<const float4*>(res + i)[0];
      const float4 b = reinterpret_cast<const float4*>(res + i)[1];
      float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
      float w[8];
      Unpack(LoadBf16x8(weight + i), w);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = v[j] * scale * w[j];
      Store8(dst + i, v);
    }
  } else {
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      dst[i] = __float2bfloat16(res[i] * scale * __bfloat162float(weight[i]));
    }
  }
}

int NormThreads(int64_t dim) {
  const int64_t vectors = (dim + 7) / 8;
  return static_cast<int>(std::clamp<int64_t>((vectors + 31) / 32 * 32, 64, 1024));
}

__device__ __forceinline__ float Silu(float g) { return g / (1.0f + expf(-g)); }

template <bool kVec>
__global__ void SiluAndMulKernel(const bf16* gate_up, int64_t rows, int64_t inter, bf16* out) {
  GridDependencyEnter();
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  if constexpr (kVec) {
    const int64_t per_row = inter / 8;
    for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < rows * per_row;
         idx += step) {
      const int64_t row = idx / per_row, col = (idx % per_row) * 8;
      float g[8], u[8];
      Unpack(LoadBf16x8(gate_up + row * 2 * inter + col), g);
      Unpack(LoadBf16x8(gate_up + row * 2 * inter + inter + col), u);
#pragma unroll
      for (int j = 0; j < 8; ++j) g[j] = Silu(g[j]) * u[j];
      Store8(out + row * inter + col, g);
    }
  } else {
    for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < rows * inter;
         idx += step) {
      const int64_t row = idx / inter, col = idx % inter;
      const float g = __bfloat162float(gate_up[row * 2 * inter + col]);
      const float u = __bfloat162float(gate_up[row * 2 * inter + inter + col]);
      out[idx] = __float2bfloat16(Silu(g) * u);
    }
  }
}

// One block per row; threads walk the row's 16-byte vectors of K, then of V.
__global__ void WritePagedKvKernel(PagedKvCache cache, const bf16* k, int64_t k_stride,
                                   const bf16* v, int64_t v_stride, const int64_t* slots) {
  GridDependencyEnter();
  const int64_t slot = slots[blockIdx.x];
  if (slot < 0) return;
  const int64_t width = int64_t{cache.kv_heads} * cache.head_dim;
  const bf16* k_src = k + blockIdx.x * k_stride;
  const bf16* v_src = v + blockIdx.x * v_stride;
  for (int64_t i = threadIdx.x * 8; i < width; i += blockDim.x * 8) {
    StoreBf16x8(cache.k + slot * width + i, LoadBf16x8(k_src + i));
    StoreBf16x8(cache.v + slot * width + i, LoadBf16x8(v_src + i));
  }
}

}  // namespace

void EmbeddingGather(const bf16* table, int64_t dim, const int32_t* ids, int64_t rows, bf16* out,
                     cudaStream_t stream) {
  LaunchEmbedding(table, dim, ids, rows, out, stream);
}

void EmbeddingGather(const bf16* table, int64_t dim, const int32_t* ids, int64_t rows, float* out,
                     cudaStream_t stream) {
  LaunchEmbedding(table, dim, ids, rows, out, stream);
}

void RmsNorm(const bf16* x, int64_t x_stride, const bf16* weight, int64_t rows, int64_t dim,
             float eps, bf16* out, cudaStream_t stream) {
  if (rows == 0) return;
  const bool vec =
      dim % 8 == 0 && x_stride % 8 == 0 && Aligned16(x) && Aligned16(weight) && Aligned16(out);
  if (vec) {
    internal::Launch(RmsNormKernel<true>, dim3(rows), dim3(NormThreads(dim)), 0, stream, x,
                     x_stride, weight, dim, eps, out);
  } else {
    internal::Launch(RmsNormKernel<false>, dim3(rows), dim3(NormThreads(dim)), 0, stream, x,
                     x_stride, weight, dim, eps, out);
  }
  STRATA_CUDA_CHECK_LAUNCH();
}

void AddRmsNorm(float* residual, const bf16* x, const bf16* weight, int64_t rows, int64_t dim,
                float eps, bf16* out, cudaStream_t stream) {
  if (rows == 0) return;
  const bool vec = dim % 8 == 0 && Aligned16(residual) && (x == nullptr || Aligned16(x)) &&
                   Aligned16(weight) && Aligned16(out);
  if (vec) {
    internal::Launch(AddRmsNormKernel<true>, dim3(rows), dim3(NormThreads(dim)), 0, stream,
                     residual, x, weight, dim, eps, out);
  } else {
    internal::Launch(AddRmsNormKernel<false>, dim3(rows), dim3(NormThreads(dim)), 0, stream,
                     residual, x, weight, dim, eps, out);
  }
  STRATA_CUDA_CHECK_LAUNCH();
}

void SiluAndMul(const bf16* gate_up, int64_t rows, int64_t inter, bf16* out, cudaStream_t stream) {
  if (rows == 0 || inter == 0) return;
  const bool vec = inter % 8 == 0 && Aligned16(gate_up) && Aligned16(out);
  const int64_t work = rows * (vec ? inter / 8 : inter);
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((work + threads - 1) / threads, 65536));
  if (vec) {
    internal::Launch(SiluAndMulKernel<true>, dim3(blocks), dim3(threads), 0, stream, gate_up, rows,
                     inter, out);
  } else {
    internal::Launch(SiluAndMulKernel<false>, dim3(blocks), dim3(threads), 0, stream, gate_up, rows,
                     inter, out);
  }
  STRATA_CUDA_CHECK_LAUNCH();
}

void WritePagedKv(const PagedKvCache& cache, const bf16* k, int64_t k_stride, const bf16* v,
                  int64_t v_stride, const int64_t* slots, int64_t rows, cudaStream_t stream) {
  if (rows == 0) return;
  STRATA_CHECK_EQ(cache.head_dim % 8, 0);
  STRATA_CHECK(k_stride % 8 == 0 && v_stride % 8 == 0 && Aligned16(k) && Aligned16(v));
  internal::Launch(WritePagedKvKernel, dim3(rows), dim3(128), 0, stream, cache, k, k_stride, v,
                   v_stride, slots);
  STRATA_CUDA_CHECK_LAUNCH();
}

}  // namespace strata::kernels::cuda
