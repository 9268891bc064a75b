// Device-side reads of int8 KV blocks (the in-place format of kv_quant.h), shared by the
// attention kernels. Include from .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda {

// Where one layer's K or V plane of a quantized block keeps its values and scales.
struct Int8Plane {
  const int8_t* values;  // [block_size, kv_heads, head_dim]
  const float* scales;   // [kv_heads]
};

__device__ __forceinline__ Int8Plane Int8PlaneOf(const bf16* layer_base, int64_t page,
                                                 const PagedKvCache& cache) {
  const int64_t n = int64_t{cache.block_size} * cache.kv_heads * cache.head_dim;
  const char* base = reinterpret_cast<const char*>(layer_base + page * n);
  return {reinterpret_cast<const int8_t*>(base), reinterpret_cast<const float*>(base + n)};
}

// The signed byte j (0..3) of a word, as float.
__device__ __forceinline__ float Int8At(uint32_t word, int j) {
  return static_cast<float>(static_cast<int8_t>((word >> (8 * j)) & 0xffu));
}

// out[i] = q[i] * scale for 8 int8 values packed little-endian in two words.
__device__ __forceinline__ void UnpackInt8x8(uint32_t lo, uint32_t hi, float scale,
                                             float (&out)[8]) {
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    out[j] = Int8At(lo, j) * scale;
    out[4 + j] = Int8At(hi, j) * scale;
  }
}

}  // namespace strata::kernels::cuda
