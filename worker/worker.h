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
  int64_t host_kv_cache_bytes = 0;  // the host tier (pinned CPU memory on a GPU)
  int32_t num_host_kv_blocks = 0;
  // Bytes of one device block held as int8 (all layers, K and V, with its scales); 0 when
  // the worker cannot quantize blocks (SequenceSlice::quantize_blocks), which refuses
  // adaptive_precision requests.
  int64_t quantized_kv_block_bytes = 0;
};

enum class KvCopyDirection : uint8_t {
  kDeviceToHost,    // swap-out, demotion of a cached prefix block
  kHostToDevice,    // swap-in, promotion of a cached prefix block
  kDeviceToDevice,  // copy-on-write of a shared block
};

// One KV block (every layer, K and V) copied: `src` and `dst` index the tiers the
// direction names.
struct KvBlockCopy {
  KvCopyDirection direction = KvCopyDirection::kDeviceToHost;
  int32_t src = 0;
  int32_t dst = 0;
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
  // Starts block copies (between tiers or within the device cache). `before_compute`
  // copies land, in order (a copy may read what an earlier one wrote), before the next
  // Execute reads or writes the cache; `overlapped` ones may run alongside it (they touch
  // no block it uses). Every copy has landed when the next Execute or WaitForCopies
  // returns. InvalidArgument for a block id outside its tier.
  virtual absl::Status StartCopies(std::span<const KvBlockCopy> before_compute,
                                   std::span<const KvBlockCopy> overlapped) = 0;
  virtual absl::Status WaitForCopies() = 0;
  // MoE models: the expert weight bytes every Execute so far has read (per sparse layer
  // and forward pass, the distinct experts the batch activated times one expert's bytes in
  // the backend's weight format); 0 for dense models. Call between Executes.
  virtual int64_t ExpertWeightBytesRead() { return 0; }
  // Forgets the hidden states carried for a sequence between layered-prefill slices (it
  // was aborted mid-way). No effect when none are carried.
  virtual void DiscardCarried(int64_t sequence_id) = 0;
};

}  // namespace strata::worker
