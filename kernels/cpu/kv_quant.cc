#include "kernels/cpu/kv_quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"

namespace strata::kernels::cpu {

void QuantizeBlockInPlace(float* block, const KvBlockShape& shape) {
  const int64_t n = shape.values(), dim = shape.head_dim, heads = shape.kv_heads;
  STRATA_CHECK_LE(ScaleOffset(shape) + heads, n) << "block too small to hold int8 in place";
  thread_local std::vector<float> copy;
  copy.assign(block, block + n);  // the int8 values overwrite the floats as they go
  thread_local std::vector<float> scales;
  scales.assign(heads, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    float& s = scales[(i / dim) % heads];
    s = std::max(s, std::fabs(copy[i]));
  }
  for (float& s : scales) s /= 127.0f;
  int8_t* q = reinterpret_cast<int8_t*>(block);
  for (int64_t i = 0; i < n; ++i) {
    const float s = scales[(i / dim) % heads];
    const float r = s > 0.0f ? std::nearbyint(copy[i] / s) : 0.0f;
    q[i] = static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
  }
  std::copy(scales.begin(), scales.end(), block + ScaleOffset(shape));
}

void DequantizeBlock(const float* block, const KvBlockShape& shape, float* out) {
  const int8_t* q = QuantizedValues(block);
  const float* scales = QuantizedScales(block, shape);
  for (int64_t i = 0; i < shape.values(); ++i) {
    out[i] = q[i] * scales[(i / shape.head_dim) % shape.kv_heads];
  }
}

}  // namespace strata::kernels::cpu
