// The architecture hyper-parameters of a Hugging Face model, read from its config.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/dtype.h"

namespace strata::worker {

enum class Architecture { kLlama, kQwen2, kQwen3, kQwen3Moe };

enum class RopeScalingType { kNone, kLlama3 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
  bool operator==(const RopeScaling&) const = default;
};

struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  std::string architecture_name;  // as spelled in config.json, e.g. "Qwen3ForCausalLM"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // GQA: divides num_attention_heads
  int64_t head_dim = 0;             // config.json's head_dim, else hidden_size / heads
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // q/k/v projections have biases (Qwen2; Llama attention_bias)
  bool o_bias = false;    // o_proj has a bias (Llama attention_bias)
  bool mlp_bias = false;  // Llama mlp_bias
  bool qk_norm = false;   // per-head RMSNorm of q and k before RoPE (Qwen3)
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;  // config.json's eos_token_id, int or list
  DType dtype = DType::kBF16;          // torch_dtype / dtype
  // Mixture of experts (Qwen3-MoE). num_experts == 0: every layer is a dense MLP of
  // intermediate_size. A sparse layer routes each token to num_experts_per_tok of its
  // num_experts experts (each an MLP of moe_intermediate_size) and sums their outputs
  // weighted by the router's softmax probabilities, renormalised over the chosen experts
  // when norm_topk_prob.
  int64_t num_experts = 0;  // config.json's num_experts or num_local_experts
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;  // dense layers among the sparse ones
  bool operator==(const ModelConfig&) const = default;

  bool is_moe() const { return num_experts > 0; }
  // Not in mlp_only_layers, experts exist, and (layer + 1) % decoder_sparse_step == 0.
  bool IsSparseLayer(int64_t layer) const;
  int64_t NumSparseLayers() const;
};

// Parses config.json text. `source` (the file path) names the origin in errors. Unsupported
// architectures, missing or inconsistent sizes and unknown rope_scaling types are errors
// naming the key. Accepts both `rope_scaling` and the newer `rope_parameters` spelling.
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source);
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

// "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM" or "Qwen3MoeForCausalLM".
std::string_view ArchitectureClassName(Architecture architecture);

// The checks ParseModelConfig applies after reading: positive sizes, heads divisible by
// kv heads, token ids inside the vocabulary, sane rope parameters, a consistent MoE
// block (0 < num_experts_per_tok <= num_experts, layers in range). Errors start with
// `source` and name the config.json key.
absl::Status ValidateModelConfig(const ModelConfig& config, std::string_view source);

// config.json as Hugging Face transformers writes it (model_type, architectures, every field
// above, legacy rope_theta/rope_scaling, torch_dtype; sorted keys, 2-space indent).
// ParseModelConfig reads it back to an equal config, except for combinations the format
// cannot express (Llama with qkv_bias != o_bias, Qwen2 without q/k/v bias).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace strata::worker
