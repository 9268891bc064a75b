// In-place int8 quantization of bf16 KV blocks (format: kv_quant.h).
//
// One thread block rewrites one plane (a block's K or V in one layer). First pass: the
// per-head absmax (shared-memory atomicMax on the float bits, all of them >= 0). Second
// pass, in chunks of kThreads x 8 values: every thread reads its 8 bf16 values, the block
// synchronizes, then every thread writes their 8 int8 bytes. The int8 byte of value i lands
// on the bf16 bytes of value i / 2, which belongs to this chunk or an earlier one, so
// nothing is overwritten before it has been read. The scales go last, past the n int8
// bytes.
#include <cmath>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kv_quant.h"
#include "kernels/cuda/launch.h"

namespace strata::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int8_t QuantizeOne(float x, float scale) {
  // The CPU rule: nearbyint(x / scale) (round half to even), clamped to +-127.
  const float r = scale > 0.0f ? rintf(__fdiv_rn(x, scale)) : 0.0f;
  return static_cast<int8_t>(fminf(fmaxf(r, -127.0f), 127.0f));
}

__global__ void __launch_bounds__(kThreads)
    QuantizeKvKernel(PagedKvCache cache, const int32_t* blocks) {
  extern __shared__ unsigned int absmax_bits[];  // [kv_heads]
  GridDependencyEnter();
  const int64_t n = int64_t{cache.block_size} * cache.kv_heads * cache.head_dim;
  const int64_t block = blocks[blockIdx.x];
  bf16* const plane = (blockIdx.y == 0 ? cache.k : cache.v) + block * n;
  const int head_dim = cache.head_dim, kv_heads = cache.kv_heads;
  for (int h = threadIdx.x; h < kv_heads; h += kThreads) absmax_bits[h] = 0u;
  __syncthreads();
  for (int64_t e = int64_t{threadIdx.x} * 8; e < n; e += kThreads * 8) {
    float x[8];
    Unpack(LoadBf16x8(plane + e), x);
    float m = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) m = fmaxf(m, fabsf(x[i]));
    atomicMax(&absmax_bits[(e / head_dim) % kv_heads], __float_as_uint(m));
  }
  __syncthreads();
  int8_t* const values = reinterpret_cast<int8_t*>(plane);
  for (int64_t chunk = 0; chunk < n; chunk += kThreads * 8) {  // uniform trip count
    const int64_t e = chunk + int64_t{threadIdx.x} * 8;
    float x[8];
    if (e < n) Unpack(LoadBf16x8(plane + e), x);
    __syncthreads();  // the chunk is read before any of it is overwritten
    if (e < n) {
      const float scale = __uint_as_float(absmax_bits[(e / head_dim) % kv_heads]) / 127.0f;
      uint32_t packed[2] = {0u, 0u};
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        packed[i / 4] |= uint32_t{static_cast<uint8_t>(QuantizeOne(x[i], scale))} << (8 * (i % 4));
      }
      *reinterpret_cast<uint2*>(values + e) = make_uint2(packed[0], packed[1]);
    }
  }
  __syncthreads();  // every bf16 value has been read: the scales may land past the int8s
  float* const scales = reinterpret_cast<float*>(values + n);
  for (int h = threadIdx.x; h < kv_heads; h += kThreads) {
    scales[h] = __uint_as_float(absmax_bits[h]) / 127.0f;
  }
}

}  // namespace

void QuantizeKvBlocks(const PagedKvCache& cache, const int32_t* blocks, int32_t count,
                      cudaStream_t stream) {
  if (count <= 0) return;
  STRATA_CHECK_EQ(cache.head_dim % 8, 0);
  STRATA_CHECK_LE(KvInt8PlaneBytes(cache.block_size, cache.kv_heads, cache.head_dim),
                  2 * KvPlaneValues(cache.block_size, cache.kv_heads, cache.head_dim));
  internal::Launch(QuantizeKvKernel, dim3(count, 2), dim3(kThreads),
                   static_cast<size_t>(cache.kv_heads) * sizeof(unsigned int), stream, cache,
                   blocks);
  STRATA_CUDA_CHECK_LAUNCH();
}

}  // namespace strata::kernels::cuda
