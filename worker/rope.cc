#include "worker/rope.h"

#include <cmath>
#include <numbers>

namespace strata::worker {

std::vector<float> RopeInverseFrequencies(const ModelConfig& config) {
  const int64_t dim = config.head_dim;
  const float base = static_cast<float>(config.rope_theta);
  std::vector<float> inv_freq(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv_freq[i] = 1.0f / std::pow(base, exponent);
  }
  const RopeScaling& scaling = config.rope_scaling;
  if (scaling.type != RopeScalingType::kLlama3) return inv_freq;
  // Long wavelengths are divided by `factor`, short ones kept, the band between blended.
  const float factor = scaling.factor;
  const float low = scaling.low_freq_factor, high = scaling.high_freq_factor;
  const float old_context = static_cast<float>(scaling.original_max_position_embeddings);
  const float low_freq_wavelen = old_context / low;
  const float high_freq_wavelen = old_context / high;
  for (float& f : inv_freq) {
    const float wavelen = 2.0f * std::numbers::pi_v<float> / f;
    if (wavelen > low_freq_wavelen) {
      f = f / factor;
    } else if (wavelen >= high_freq_wavelen) {
      const float smooth = (old_context / wavelen - low) / (high - low);
      f = (1.0f - smooth) * f / factor + smooth * f;
    }
  }
  return inv_freq;
}

}  // namespace strata::worker
