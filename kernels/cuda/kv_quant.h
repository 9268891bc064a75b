// Int8 KV blocks of the bf16 paged cache, stored in place (adaptive_precision eviction;
// the GPU counterpart of kernels/cpu/kv_quant.h).
//
// A quantized block keeps its block id and its slot. In each layer, its K plane (and its V
// plane), n = block_size * kv_heads * head_dim bf16 values = 2n bytes, is overwritten with
//   bytes [0, n)                     int8 values q, same [token, kv_head, dim] order;
//   bytes [n, n + 4 * kv_heads)      one float32 scale per kv head (n is a multiple of 8);
//   bytes [n + 4 * kv_heads, 2n)     unused,
// and x ~= q * scale[kv_head] with scale = max |x| over the plane's (token, dim) of that
// head / 127, q = round-to-nearest-even(x / scale) clamped to [-127, 127] (the CPU rule, so
// both backends give the same int8 values for the same bf16 input). An int8 block thus
// uses n + 4 * kv_heads of its 2n bytes per plane. No bf16 copy survives: a reader must
// know the block's precision, which the attention plan carries per page
// (cpu::AttentionSequence::block_precision, see attention.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda {

#if defined(__CUDACC__)
#define STRATA_KV_QUANT_HD __host__ __device__
#else
#define STRATA_KV_QUANT_HD
#endif

// Values in one plane (one layer's K or V of one block).
STRATA_KV_QUANT_HD inline int64_t KvPlaneValues(int64_t block_size, int64_t kv_heads,
                                                int64_t head_dim) {
  return block_size * kv_heads * head_dim;
}
// Byte offset of the per-head scales inside a quantized plane.
STRATA_KV_QUANT_HD inline int64_t KvInt8ScaleOffset(int64_t block_size, int64_t kv_heads,
                                                    int64_t head_dim) {
  return KvPlaneValues(block_size, kv_heads, head_dim);
}
// Bytes a quantized plane really uses (values and scales).
STRATA_KV_QUANT_HD inline int64_t KvInt8PlaneBytes(int64_t block_size, int64_t kv_heads,
                                                   int64_t head_dim) {
  return KvPlaneValues(block_size, kv_heads, head_dim) + 4 * kv_heads;
}

#undef STRATA_KV_QUANT_HD

// Quantizes `count` blocks of one layer's cache in place, K and V: `blocks` is a device
// array of block ids (distinct, in [0, cache.num_blocks)), each holding bf16 values
// written at full precision. One thread block per (block, K or V); launches nothing for
// count == 0. Stream-ordered like every op (ops.h): no allocation, no synchronization.
void QuantizeKvBlocks(const PagedKvCache& cache, const int32_t* blocks, int32_t count,
                      cudaStream_t stream);

}  // namespace strata::kernels::cuda
