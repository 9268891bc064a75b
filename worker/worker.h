// The worker interface the scheduler drives: one per device, executing one batch per call.
// A worker owns the model, the KV cache storage and the sampling; it never decides policy
// (which sequences run, which blocks they own): the batch says so.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/forward_batch.h"
#include "worker/model_config.h"
#include "worker/sampling.h"

namespace strata::worker {

struct SequenceWork {
  SequenceSlice slice;
  // When set, the next token is sampled from the last new token's logits (slice.logits
  // must then be kLast).
  bool sample = false;
  const SamplingParams* params = nullptr;
  std::span<const int32_t> prompt_tokens;  // for penalties
  std::span<const int32_t> output_tokens;  // for penalties
  uint64_t sample_step = 0;                // index of this draw among the request's draws
};

struct MemoryReport {
  int64_t weight_bytes = 0;
  int64_t kv_cache_bytes = 0;
  int32_t num_kv_blocks = 0;
  int32_t block_size = 0;
};

class Worker {
 public:
  virtual ~Worker() = default;
  virtual const ModelConfig& model_config() const = 0;
  virtual MemoryReport memory() const = 0;
  // Runs one forward pass over the batch and returns one SampledToken per sequence with
  // `sample` set, in batch order.
  virtual absl::StatusOr<std::vector<SampledToken>> Execute(
      std::span<const SequenceWork> batch) = 0;
};

}  // namespace strata::worker
