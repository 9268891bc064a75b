// A decoder-only transformer's weights in float32 host memory, in the layout the CPU model
// runs: q/k/v fused into one [q + 2 kv, hidden] matrix, gate/up fused into [2 inter, hidden]
// (per expert in sparse MoE layers: [experts, 2 moe_inter, hidden]).
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "worker/model_config.h"
#include "worker/safetensors.h"

namespace strata::worker {

struct LayerWeights {
  std::vector<float> input_norm;      // [hidden]
  std::vector<float> qkv;             // [(heads + 2 kv_heads) * head_dim, hidden]
  std::vector<float> qkv_bias;        // same rows, or empty
  std::vector<float> q_norm, k_norm;  // [head_dim] each (Qwen3), or empty
  std::vector<float> o;               // [hidden, heads * head_dim]
  std::vector<float> o_bias;          // [hidden] or empty
  std::vector<float> post_norm;       // [hidden]
  // Dense MLP (empty in a sparse MoE layer).
  std::vector<float> gate_up;       // [2 * intermediate, hidden]
  std::vector<float> gate_up_bias;  // or empty
  std::vector<float> down;          // [hidden, intermediate]
  std::vector<float> down_bias;     // or empty
  // Sparse MoE layer (empty in a dense one): router and every expert's MLP.
  std::vector<float> router;          // [experts, hidden]
  std::vector<float> expert_gate_up;  // [experts, 2 * moe_intermediate, hidden]
  std::vector<float> expert_down;     // [experts, hidden, moe_intermediate]

  bool sparse() const { return !router.empty(); }
};

struct ModelWeights {
  std::vector<float> embed;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [hidden]
  std::vector<float> lm_head;     // [vocab, hidden]; empty when tied to `embed`

  const std::vector<float>& output_projection() const { return lm_head.empty() ? embed : lm_head; }
};

// Reads every tensor the architecture needs, checking names and shapes; an error names the
// file and tensor. Tensors the model does not use are ignored. Experts are read from
// per-expert tensors (mlp.experts.E.{gate,up,down}_proj.weight, as on the Hub) or from the
// fused mlp.experts.gate_up_proj [E, 2I, H] / mlp.experts.down_proj [E, H, I].
absl::StatusOr<ModelWeights> LoadModelWeights(const Checkpoint& checkpoint,
                                              const ModelConfig& config);

}  // namespace strata::worker
