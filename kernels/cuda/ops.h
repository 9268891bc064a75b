// CUDA element-wise and per-row ops of the transformer layer, bf16 in and out with float32
// arithmetic, matching kernels/cpu/ops.h and paged_attention.h.
//
// Every op takes raw device pointers and a stream, enqueues its kernels and returns: no op
// allocates, synchronizes or reads back. Index arrays (ids, positions, slots) live on the
// device and must be in range (the worker validates on the host). Row strides are in
// elements. Vectorized paths need 16-byte aligned rows; other shapes take scalar paths.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace strata::kernels::cuda {

using bf16 = __nv_bfloat16;

// One layer's paged KV cache: K and V each [num_blocks, block_size, kv_heads, head_dim]
// bf16 (the CPU layout, in bf16). Token t of a sequence lives in slot
// block_table[t / block_size] * block_size + t % block_size. head_dim % 8 == 0.
struct PagedKvCache {
  bf16* k = nullptr;
  bf16* v = nullptr;
  int64_t num_blocks = 0;
  int32_t block_size = 0;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;
};

// out[i, :] = table[ids[i], :] for a [vocab, dim] bf16 table.
void EmbeddingGather(const bf16* table, int64_t dim, const int32_t* ids, int64_t rows, bf16* out,
                     cudaStream_t stream);
// The same into a float32 residual stream (the first layer's input of AddRmsNorm).
void EmbeddingGather(const bf16* table, int64_t dim, const int32_t* ids, int64_t rows, float* out,
                     cudaStream_t stream);

// out[i, :] = x[i, :] / rms(x[i, :]) * weight. x rows are x_stride apart; out is
// [rows, dim] and may alias x when x_stride == dim.
void RmsNorm(const bf16* x, int64_t x_stride, const bf16* weight, int64_t rows, int64_t dim,
             float eps, bf16* out, cudaStream_t stream);

// residual += x; out = RmsNorm(residual). The residual stream stays float32 (as in the CPU
// reference): only the normalized output is rounded to bf16. x may be null (nothing is
// added, e.g. before the first layer). residual and x are [rows, dim], out [rows, dim].
void AddRmsNorm(float* residual, const bf16* x, const bf16* weight, int64_t rows, int64_t dim,
                float eps, bf16* out, cudaStream_t stream);

// out[i, j] = silu(gate_up[i, j]) * gate_up[i, inter + j] for a [rows, 2 * inter] input.
void SiluAndMul(const bf16* gate_up, int64_t rows, int64_t inter, bf16* out, cudaStream_t stream);

// Copies rows of new keys and values ([rows, kv_heads, head_dim], rows k_stride / v_stride
// apart, 16-byte aligned) into their cache slots. A negative slot skips the row (padding).
void WritePagedKv(const PagedKvCache& cache, const bf16* k, int64_t k_stride, const bf16* v,
                  int64_t v_stride, const int64_t* slots, int64_t rows, cudaStream_t stream);

// Rotary embedding in the rotate-half layout, in place on q ([rows, heads, head_dim]) and k
// ([rows, kv_heads, head_dim]), with per-row positions: the pair (d, d + head_dim / 2) is
// rotated by angle = float(position) * inv_freq[d] in float32, as the CPU op does.
// Optionally fused with:
//  - the per-head RMSNorm of q and k before the rotation (Qwen3's q_norm / k_norm; the
//    normalized values stay float32 until the rotated result is rounded);
//  - writing the rotated k and the v rows into the paged cache (WritePagedKv's semantics).
struct RopeArgs {
  bf16* q = nullptr;  // may be null: q is left alone
  int64_t q_stride = 0;
  bf16* k = nullptr;  // may be null: k is left alone (and no cache write happens)
  int64_t k_stride = 0;
  int64_t rows = 0;
  int32_t heads = 0;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;                // even, at most 512
  const int32_t* positions = nullptr;  // [rows]
  const float* inv_freq = nullptr;     // [head_dim / 2], e.g. worker::RopeInverseFrequencies
  const bf16* q_norm = nullptr;        // [head_dim] or null; set both or neither
  const bf16* k_norm = nullptr;
  float norm_eps = 1e-6f;
  PagedKvCache cache;  // cache.k == nullptr: no cache write
  const bf16* v = nullptr;
  int64_t v_stride = 0;
  const int64_t* slots = nullptr;  // [rows]
};
void ApplyRope(const RopeArgs& args, cudaStream_t stream);

}  // namespace strata::kernels::cuda
