// Deterministic pseudo-random weights for generated checkpoints. Each element is a pure
// function of (seed, tensor name, element index): any range can be generated on any thread,
// and the bytes are identical across runs, thread counts and machines (the sampler uses only
// IEEE float arithmetic and sqrt, no other libm calls, and is compiled without contraction).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/dtype.h"
#include "worker/model_shapes.h"

namespace strata::mkmodel {

// The key of one tensor's counter-based stream, from the seed and the name.
uint64_t TensorStreamKey(uint64_t seed, std::string_view tensor_name);

// Standard normal samples for elements [first, first + out.size()) of stream `key`
// (Box-Muller on 24-bit uniforms, so |x| < 5.8).
void StandardNormals(uint64_t key, uint64_t first, std::span<float> out);

// value = mean + stddev * N(0, 1).
struct WeightInit {
  float mean = 0.0f;
  float stddev = 0.02f;
};
// Embeddings, matrices and biases: N(0, 0.02) (transformers' initializer_range); norm
// weights: 1 + N(0, 0.02), near the trained-model scale but not all equal.
WeightInit InitFor(worker::TensorRole role);

// Fills `bytes` (a whole tensor of `dtype`) with stream `key`, on up to `threads` threads.
void FillTensor(uint64_t key, WeightInit init, DType dtype, std::span<std::byte> bytes,
                int threads);

}  // namespace strata::mkmodel
