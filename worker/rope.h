// Rotary-embedding inverse frequencies, including Llama-3's frequency-dependent scaling,
// computed in float32 exactly as the Hugging Face reference does.
#pragma once

#include <vector>

#include "worker/model_config.h"

namespace strata::worker {

// head_dim / 2 inverse frequencies for `config`.
std::vector<float> RopeInverseFrequencies(const ModelConfig& config);

}  // namespace strata::worker
