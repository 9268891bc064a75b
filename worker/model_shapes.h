// Model shapes by name (for generated test checkpoints, see tools/mkmodel) and the tensor
// layout Hugging Face transformers uses for the supported architectures.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model_config.h"

namespace strata::worker {

struct ModelShape {
  ModelConfig config;
  std::string tokenizer_family;  // "qwen3" or "llama3": the tokenizer files that go with it
  // generation_config.json's eos_token_id; may list more ids than config.json's (Qwen3-0.6B).
  std::vector<int32_t> generation_eos_token_ids;
  std::optional<int32_t> pad_token_id;
};

// The named shapes: "tiny" (Qwen3, real Qwen3 tokenizer), "tiny-llama" (Llama, Llama-3
// tokenizer), "tiny-moe" (Qwen3-MoE, 8 experts, top 2), and the real "qwen3-0.6b",
// "llama-3.1-8b" and "qwen3-30b-a3b" configurations.
std::vector<std::string_view> ModelShapeNames();
// NotFound listing the known names when `name` is not one of them.
absl::StatusOr<ModelShape> NamedModelShape(std::string_view name);

// Vocabulary size of the real models built on each tokenizer family ("qwen3": 151936,
// "llama3": 128256); the tokenizer itself may define fewer ids (Qwen3: 151669).
absl::StatusOr<int64_t> TokenizerVocabSize(std::string_view family);

// Explicit dimensions. Special token ids are the tokenizer family's, minus those that do not
// fit a smaller vocabulary; with none left, eos is vocab_size - 1.
struct CustomShapeOptions {
  Architecture architecture = Architecture::kQwen3;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  std::optional<int64_t> head_dim;                 // default hidden_size / num_heads
  std::optional<int64_t> vocab_size;               // default TokenizerVocabSize(tokenizer family)
  std::optional<std::string> tokenizer_family;     // default: llama3 for Llama, else qwen3
  std::optional<bool> tie_word_embeddings;         // default: true for Qwen, false for Llama
  bool attention_bias = false;                     // Llama: q/k/v/o; Qwen3: q/k/v/o; not Qwen2
  bool mlp_bias = false;                           // Llama only
  bool llama3_rope_scaling = false;                // factor 8, low 1, high 4, original 8192
  std::optional<double> rope_theta;                // default 1e6 for Qwen, 500000 for Llama
  std::optional<int64_t> max_position_embeddings;  // default 4096; 131072 with llama3 scaling
  std::optional<double> rms_norm_eps;              // default 1e-6 for Qwen, 1e-5 for Llama
  DType dtype = DType::kBF16;
  // Qwen3-MoE only: every layer sparse.
  int64_t num_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = true;
};
absl::StatusOr<ModelShape> CustomModelShape(const CustomShapeOptions& options);

enum class TensorRole { kEmbedding, kLinear, kBias, kNorm };

struct ModelTensor {
  std::string name;
  std::vector<int64_t> shape;
  TensorRole role;
};

// Every tensor a checkpoint of `config` holds, with transformers' names and shapes
// (model.embed_tokens.weight, model.layers.{i}...., model.norm.weight, lm_head.weight unless
// tied), layer by layer. Sparse MoE layers hold mlp.gate.weight and per-expert
// mlp.experts.{e}.{gate,up,down}_proj.weight, as the Hub's Qwen3-MoE checkpoints do.
std::vector<ModelTensor> ModelTensors(const ModelConfig& config);

}  // namespace strata::worker
