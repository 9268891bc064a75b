// Device memory arenas and the model's weights in them, as bf16.
//
// A DeviceArena is one cudaMalloc made at start-up, carved front to back; nothing is ever
// returned to it. The worker makes one arena per part of its MemoryPlan, so every device
// byte it uses is accounted to a named part.
// UploadWeights converts a checkpoint's tensors (f32, f16 or bf16) to bf16 on the host and
// copies them, layer by layer, through a pinned staging buffer into a weights arena, fusing
// q/k/v and gate/up (per expert in MoE layers) as the CPU model does. Start-up only;
// single-threaded.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cuda/ops.h"
#include "worker/model_config.h"
#include "worker/safetensors.h"

namespace strata::worker {

using kernels::cuda::bf16;

class DeviceArena {
 public:
  DeviceArena() = default;
  ~DeviceArena();
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  DeviceArena(DeviceArena&& other) noexcept { *this = std::move(other); }
  DeviceArena& operator=(DeviceArena&& other) noexcept;

  // Allocates `bytes` (nothing when 0). ResourceExhausted naming `name` on failure.
  static absl::StatusOr<DeviceArena> Create(std::string name, size_t bytes);

  // The next `bytes` of the arena, aligned to `alignment`; aborts when the arena is full
  // (a broken invariant: arenas are sized from the plan that also sizes their users).
  void* Take(size_t bytes, size_t alignment = 256);
  template <typename T>
  T* Take(size_t count, size_t alignment = 256) {
    return static_cast<T*>(Take(count * sizeof(T), alignment));
  }

  const std::string& name() const { return name_; }
  size_t size() const { return size_; }
  size_t used() const { return used_; }
  char* base() const { return base_; }

 private:
  std::string name_;
  char* base_ = nullptr;
  size_t size_ = 0;
  size_t used_ = 0;
};

struct DeviceLayerWeights {
  bf16* input_norm = nullptr;  // [hidden]
  bf16* qkv = nullptr;         // [(heads + 2 kv_heads) * head_dim, hidden]
  bf16* qkv_bias = nullptr;    // or null
  bf16* q_norm = nullptr;      // [head_dim] (Qwen3) or null
  bf16* k_norm = nullptr;
  bf16* o = nullptr;  // [hidden, heads * head_dim]
  bf16* o_bias = nullptr;
  bf16* post_norm = nullptr;
  bf16* gate_up = nullptr;  // [2 * intermediate, hidden]
  bf16* gate_up_bias = nullptr;
  bf16* down = nullptr;  // [hidden, intermediate]
  bf16* down_bias = nullptr;
  // A sparse MoE layer instead of the dense MLP above (all null in a dense layer).
  bf16* router = nullptr;          // [experts, hidden]
  bf16* expert_gate_up = nullptr;  // [experts, 2 * moe_intermediate, hidden]
  bf16* expert_down = nullptr;     // [experts, hidden, moe_intermediate]
};

struct DeviceWeights {
  bf16* embed = nullptr;  // [vocab, hidden]
  std::vector<DeviceLayerWeights> layers;
  bf16* final_norm = nullptr;
  bf16* lm_head = nullptr;  // == embed when tied
  int64_t bytes = 0;        // bf16 bytes uploaded (alignment padding excluded)
};

// Alignment of each weight tensor in its arena, and the most padding a model needs.
constexpr size_t kWeightAlignment = 16;
size_t WeightAlignmentSlack(const ModelConfig& config);

// Uploads every tensor the architecture needs (names and shapes as LoadModelWeights checks
// them) into `arena`, staging through `staging_bytes` of pinned host memory. Enqueued on
// `stream` and synchronized before returning. With `checkpoint` null the weights are
// seeded random bf16 instead (uniform, std 0.02; norm weights 1): for benchmarks of real
// shapes without writing a checkpoint.
absl::StatusOr<DeviceWeights> UploadWeights(const Checkpoint* checkpoint, const ModelConfig& config,
                                            DeviceArena* arena, cudaStream_t stream,
                                            size_t staging_bytes = size_t{64} << 20);

}  // namespace strata::worker
