// Reference CPU numeric ops, float32 throughout. Row-major layouts; weights follow the
// Hugging Face [out_features, in_features] convention. No op allocates; callers own every
// buffer. These are the ground truth the CUDA kernels are compared against.
#pragma once

#include <cstdint>
#include <span>

namespace strata::kernels::cpu {

// y[m, n] = x[m, k] * w[n, k]^T (+ bias[n] when bias is non-null).
void Linear(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
            float* y);

// out[i, :] = table[ids[i], :] for a [vocab, dim] table.
void EmbeddingGather(const float* table, int64_t dim, std::span<const int32_t> ids, float* out);

// out[i, :] = x[i, :] / rms(x[i, :]) * weight, over `rows` rows of `dim`. out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out);

// residual += x; out = RmsNorm(residual). The pre-norm transformer's fused step.
void AddRmsNorm(float* residual, const float* x, const float* weight, int64_t rows, int64_t dim,
                float eps, float* out);

// out[i, j] = silu(gate_up[i, j]) * gate_up[i, inter + j] for a [rows, 2*inter] input.
void SiluAndMul(const float* gate_up, int64_t rows, int64_t inter, float* out);

// Rotary embedding in the "rotate half" (GPT-NeoX) layout used by Llama and Qwen: for each
// row i and head h, the pairs (d, d + head_dim/2) of x[i, h, :] are rotated by
// positions[i] * inv_freq[d]. `x` is [rows, heads, head_dim], updated in place.
void ApplyRope(float* x, int64_t rows, int64_t heads, int64_t head_dim,
               std::span<const int64_t> positions, std::span<const float> inv_freq);

// In-place numerically stable softmax of one row.
void SoftmaxInPlace(float* x, int64_t n);

// log(sum(exp(x))) of one row, stable.
float LogSumExp(const float* x, int64_t n);

}  // namespace strata::kernels::cpu
