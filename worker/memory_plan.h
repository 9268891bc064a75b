// The device memory plan: every byte the worker will use, decided once at start-up. Weights,
// activation workspace (bounded by max batch tokens and the logits chunk), carried
// layered-prefill hidden states, the speculative-decoding reserve, and the KV block pool
// from what is left. Later allocations come out of a named part of this plan; the sum never
// exceeds the usable memory (an invariant checked when the plan is built).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model_config.h"

namespace strata::worker {

struct MemoryPlanInputs {
  int64_t device_total_bytes = 0;  // the device's memory
  int64_t device_free_bytes = 0;   // free before the plan (other processes hold the rest)
  double utilization = 0.9;        // share of device_total_bytes the plan may use
  int64_t max_batch_tokens = 0;    // tokens per forward pass
  int64_t max_num_seqs = 0;
  int64_t logits_chunk_rows = 0;  // logits rows computed at once
  int32_t block_size = 16;
  int64_t requested_blocks = 0;        // 0: as many as fit
  int64_t carried_prefill_tokens = 0;  // hidden states kept between layered-prefill steps
  int64_t speculative_reserve_bytes = 0;
  int32_t weight_bytes_per_element = 2;  // bf16
  int32_t kv_bytes_per_element = 2;      // bf16
  int32_t activation_bytes_per_element = 2;
  int64_t extra_workspace_bytes = 0;  // GEMM / attention workspaces the kernels ask for
};

struct MemoryPlan {
  struct Part {
    std::string name;
    int64_t bytes = 0;
  };
  std::vector<Part> parts;  // weights, activations, logits, carried_prefill, speculative, kv_cache
  int64_t usable_bytes = 0;
  int64_t kv_block_bytes = 0;
  int64_t num_kv_blocks = 0;

  int64_t Bytes(const std::string& name) const;
  int64_t TotalBytes() const;
  std::string ToString() const;  // one line per part, for the start-up log
};

// Bytes of every weight tensor of `config` at `bytes_per_element`.
int64_t WeightBytes(const ModelConfig& config, int32_t bytes_per_element);
// Bytes of one expert's MLP (gate, up and down) of a MoE model at `bytes_per_element`; 0
// for a dense model.
int64_t ExpertWeightBytes(const ModelConfig& config, int32_t bytes_per_element);
// Bytes of K and V of one token across all layers.
int64_t KvBytesPerToken(const ModelConfig& config, int32_t bytes_per_element);

// Builds the plan. ResourceExhausted (with the plan's numbers) when the weights and
// workspaces leave no room for the requested (or a single) KV block, or when the usable
// memory exceeds what is free on the device.
absl::StatusOr<MemoryPlan> BuildMemoryPlan(const ModelConfig& config,
                                           const MemoryPlanInputs& inputs);

}  // namespace strata::worker
