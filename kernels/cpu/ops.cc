#include "kernels/cpu/ops.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace strata::kernels::cpu {

void Linear(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
            float* y) {
  if (m == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, x, static_cast<blasint>(k), w,
              static_cast<blasint>(k), 0.0f, y, static_cast<blasint>(n));
  if (bias != nullptr) {
    for (int64_t i = 0; i < m; ++i) {
      float* row = y + i * n;
      for (int64_t j = 0; j < n; ++j) row[j] += bias[j];
    }
  }
}

void EmbeddingGather(const float* table, int64_t dim, std::span<const int32_t> ids, float* out) {
  for (size_t i = 0; i < ids.size(); ++i) {
    std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim, dim * sizeof(float));
  }
}

static void RmsNormRow(const float* x, const float* weight, int64_t dim, float eps, float* out) {
  double sum_squares = 0.0;
  for (int64_t j = 0; j < dim; ++j) sum_squares += static_cast<double>(x[j]) * x[j];
  float scale = 1.0f / std::sqrt(static_cast<float>(sum_squares / dim) + eps);
  for (int64_t j = 0; j < dim; ++j) out[j] = x[j] * scale * weight[j];
}

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
             float* out) {
  for (int64_t i = 0; i < rows; ++i) RmsNormRow(x + i * dim, weight, dim, eps, out + i * dim);
}

void AddRmsNorm(float* residual, const float* x, const float* weight, int64_t rows, int64_t dim,
                float eps, float* out) {
  for (int64_t i = 0; i < rows * dim; ++i) residual[i] += x[i];
  RmsNorm(residual, weight, rows, dim, eps, out);
}

void SiluAndMul(const float* gate_up, int64_t rows, int64_t inter, float* out) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* gate = gate_up + i * 2 * inter;
    const float* up = gate + inter;
    float* o = out + i * inter;
    for (int64_t j = 0; j < inter; ++j) o[j] = gate[j] / (1.0f + std::exp(-gate[j])) * up[j];
  }
}

void ApplyRope(float* x, int64_t rows, int64_t heads, int64_t head_dim,
               std::span<const int64_t> positions, std::span<const float> inv_freq) {
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < rows; ++i) {
    const double position = static_cast<double>(positions[i]);
    for (int64_t d = 0; d < half; ++d) {
      // The angle in float32 as the reference computes it (position * inv_freq in fp32).
      const float angle = static_cast<float>(position) * inv_freq[d];
      const float c = std::cos(angle), s = std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + (i * heads + h) * head_dim;
        const float a = v[d], b = v[d + half];
        v[d] = a * c - b * s;
        v[d + half] = b * c + a * s;
      }
    }
  }
}

void SoftmaxInPlace(float* x, int64_t n) {
  float max_value = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float LogSumExp(const float* x, int64_t n) {
  float max_value = *std::max_element(x, x + n);
  if (std::isinf(max_value)) return max_value;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i] - max_value));
  return max_value + static_cast<float>(std::log(sum));
}

}  // namespace strata::kernels::cpu
