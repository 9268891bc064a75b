#include "worker/model_shapes.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace strata::worker {
namespace {

constexpr int64_t kQwen3Vocab = 151936;
constexpr int64_t kLlama3Vocab = 128256;

// Special tokens of each tokenizer family, as in the real models' tokenizer and
// generation configs: Qwen3 <|im_end|> 151645, <|endoftext|> 151643; Llama-3
// <|begin_of_text|> 128000, <|end_of_text|> 128001, <|eom_id|> 128008, <|eot_id|> 128009.
const std::vector<int32_t> kQwen3Eos = {151645, 151643};
constexpr int32_t kQwen3Pad = 151643;
const std::vector<int32_t> kLlama3Eos = {128001, 128008, 128009};
constexpr int32_t kLlama3Bos = 128000;

RopeScaling Llama3RopeScaling() {
  RopeScaling scaling;
  scaling.type = RopeScalingType::kLlama3;
  scaling.factor = 8.0;
  scaling.low_freq_factor = 1.0;
  scaling.high_freq_factor = 4.0;
  scaling.original_max_position_embeddings = 8192;
  return scaling;
}

ModelConfig Base(Architecture architecture) {
  ModelConfig c;
  c.architecture = architecture;
  c.architecture_name = std::string(ArchitectureClassName(architecture));
  c.qkv_bias = architecture == Architecture::kQwen2;
  c.qk_norm = architecture == Architecture::kQwen3 || architecture == Architecture::kQwen3Moe;
  c.dtype = DType::kBF16;
  return c;
}

ModelShape Tiny() {
  ModelShape s{Base(Architecture::kQwen3), "qwen3", kQwen3Eos, kQwen3Pad};
  ModelConfig& c = s.config;
  c.vocab_size = kQwen3Vocab;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  c.max_position_embeddings = 4096;
  c.tie_word_embeddings = true;
  c.eos_token_ids = kQwen3Eos;
  return s;
}

ModelShape TinyLlama() {
  ModelShape s{Base(Architecture::kLlama), "llama3", kLlama3Eos, std::nullopt};
  ModelConfig& c = s.config;
  c.vocab_size = kLlama3Vocab;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.rope_scaling = Llama3RopeScaling();
  c.max_position_embeddings = 131072;
  c.tie_word_embeddings = false;
  c.bos_token_id = kLlama3Bos;
  c.eos_token_ids = kLlama3Eos;
  return s;
}

// Qwen/Qwen3-0.6B config.json and generation_config.json.
ModelShape Qwen3_0_6B() {
  ModelShape s{Base(Architecture::kQwen3), "qwen3", kQwen3Eos, kQwen3Pad};
  ModelConfig& c = s.config;
  c.vocab_size = kQwen3Vocab;
  c.hidden_size = 1024;
  c.intermediate_size = 3072;
  c.num_hidden_layers = 28;
  c.num_attention_heads = 16;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  c.max_position_embeddings = 40960;
  c.tie_word_embeddings = true;
  c.bos_token_id = 151643;
  c.eos_token_ids = {151645};
  return s;
}

// meta-llama/Meta-Llama-3.1-8B config.json and generation_config.json.
ModelShape Llama31_8B() {
  ModelShape s{Base(Architecture::kLlama), "llama3", {128001}, std::nullopt};
  ModelConfig& c = s.config;
  c.vocab_size = kLlama3Vocab;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_hidden_layers = 32;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.rope_scaling = Llama3RopeScaling();
  c.max_position_embeddings = 131072;
  c.tie_word_embeddings = false;
  c.bos_token_id = kLlama3Bos;
  c.eos_token_ids = {128001};
  return s;
}

// A small Qwen3-MoE for CPU tests and demos: 2 sparse layers of 8 experts, top 2.
ModelShape TinyMoe() {
  ModelShape s = Tiny();
  ModelConfig& c = s.config;
  c.architecture = Architecture::kQwen3Moe;
  c.architecture_name = std::string(ArchitectureClassName(c.architecture));
  c.num_experts = 8;
  c.num_experts_per_tok = 2;
  c.moe_intermediate_size = 32;
  c.norm_topk_prob = true;
  return s;
}

// Qwen/Qwen3-30B-A3B config.json and generation_config.json: every layer sparse, 128
// experts, 8 per token (3.3B of its 30.5B parameters active).
ModelShape Qwen3_30B_A3B() {
  ModelShape s{Base(Architecture::kQwen3Moe), "qwen3", kQwen3Eos, kQwen3Pad};
  ModelConfig& c = s.config;
  c.vocab_size = kQwen3Vocab;
  c.hidden_size = 2048;
  c.intermediate_size = 6144;  // unused: no dense layer
  c.num_hidden_layers = 48;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 4;
  c.head_dim = 128;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1e6;
  c.max_position_embeddings = 40960;
  c.tie_word_embeddings = false;
  c.bos_token_id = 151643;
  c.eos_token_ids = {151645};
  c.num_experts = 128;
  c.num_experts_per_tok = 8;
  c.moe_intermediate_size = 768;
  c.norm_topk_prob = true;
  c.decoder_sparse_step = 1;
  return s;
}

struct Named {
  std::string_view name;
  ModelShape (*make)();
};
constexpr Named kNamedShapes[] = {
    {"tiny", Tiny},
    {"tiny-llama", TinyLlama},
    {"tiny-moe", TinyMoe},
    {"qwen3-0.6b", Qwen3_0_6B},
    {"llama-3.1-8b", Llama31_8B},
    {"qwen3-30b-a3b", Qwen3_30B_A3B},
};

}  // namespace

std::vector<std::string_view> ModelShapeNames() {
  std::vector<std::string_view> names;
  for (const Named& named : kNamedShapes) names.push_back(named.name);
  return names;
}

absl::StatusOr<ModelShape> NamedModelShape(std::string_view name) {
  for (const Named& named : kNamedShapes) {
    if (named.name == name) return named.make();
  }
  std::vector<std::string> known;
  for (const Named& named : kNamedShapes) known.emplace_back(named.name);
  return absl::NotFoundError(absl::StrCat("unknown model shape '", std::string(name),
                                          "' (known: ", absl::StrJoin(known, ", "), ", custom)"));
}

absl::StatusOr<int64_t> TokenizerVocabSize(std::string_view family) {
  if (family == "qwen3") return kQwen3Vocab;
  if (family == "llama3") return kLlama3Vocab;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown tokenizer family '", std::string(family), "' (known: qwen3, llama3)"));
}

absl::StatusOr<ModelShape> CustomModelShape(const CustomShapeOptions& o) {
  const bool llama = o.architecture == Architecture::kLlama;
  ModelShape s;
  s.tokenizer_family = o.tokenizer_family.value_or(llama ? "llama3" : "qwen3");
  STRATA_ASSIGN_OR_RETURN(int64_t tokenizer_vocab, TokenizerVocabSize(s.tokenizer_family));
  ModelConfig& c = s.config;
  c = Base(o.architecture);
  c.vocab_size = o.vocab_size.value_or(tokenizer_vocab);
  c.hidden_size = o.hidden_size;
  c.intermediate_size = o.intermediate_size;
  c.num_hidden_layers = o.num_layers;
  c.num_attention_heads = o.num_heads;
  c.num_key_value_heads = o.num_kv_heads;
  if (o.head_dim) {
    c.head_dim = *o.head_dim;
  } else if (o.num_heads > 0 && o.hidden_size % o.num_heads == 0) {
    c.head_dim = o.hidden_size / o.num_heads;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("custom shape: hidden size ", o.hidden_size,
                                                   " is not divisible by ", o.num_heads,
                                                   " heads; give the head dimension"));
  }
  c.rms_norm_eps = o.rms_norm_eps.value_or(llama ? 1e-5 : 1e-6);
  c.rope_theta = o.rope_theta.value_or(llama ? 500000.0 : 1e6);
  if (o.llama3_rope_scaling) c.rope_scaling = Llama3RopeScaling();
  // Llama-3 scaling stretches its original 8192 positions by 8, as in Llama 3.1.
  c.max_position_embeddings =
      o.max_position_embeddings.value_or(o.llama3_rope_scaling ? 131072 : 4096);
  c.tie_word_embeddings = o.tie_word_embeddings.value_or(!llama);
  if (o.architecture != Architecture::kQwen2) c.qkv_bias = c.o_bias = o.attention_bias;
  if (o.attention_bias && o.architecture == Architecture::kQwen2) {
    return absl::InvalidArgumentError("custom shape: Qwen2 always has q/k/v biases and no o bias");
  }
  if (o.mlp_bias && !llama) {
    return absl::InvalidArgumentError("custom shape: only Llama has an mlp bias option");
  }
  c.mlp_bias = o.mlp_bias;
  c.dtype = o.dtype;
  if (o.architecture == Architecture::kQwen3Moe) {
    c.num_experts = o.num_experts;
    c.num_experts_per_tok = o.num_experts_per_tok;
    c.moe_intermediate_size = o.moe_intermediate_size;
    c.norm_topk_prob = o.norm_topk_prob;
  } else if (o.num_experts > 0) {
    return absl::InvalidArgumentError("custom shape: experts need the qwen3-moe architecture");
  }

  // Keep the family's special tokens that fit the vocabulary.
  const bool qwen_tokens = s.tokenizer_family == "qwen3";
  for (int32_t id : qwen_tokens ? kQwen3Eos : kLlama3Eos) {
    if (id < c.vocab_size) c.eos_token_ids.push_back(id);
  }
  if (c.eos_token_ids.empty() && c.vocab_size > 0) {
    c.eos_token_ids.push_back(static_cast<int32_t>(c.vocab_size - 1));
  }
  if (!qwen_tokens && kLlama3Bos < c.vocab_size) c.bos_token_id = kLlama3Bos;
  if (qwen_tokens && kQwen3Pad < c.vocab_size) s.pad_token_id = kQwen3Pad;
  s.generation_eos_token_ids = c.eos_token_ids;
  STRATA_RETURN_IF_ERROR(ValidateModelConfig(c, "custom shape"));
  return s;
}

std::vector<ModelTensor> ModelTensors(const ModelConfig& c) {
  const int64_t hidden = c.hidden_size;
  const int64_t q_dim = c.num_attention_heads * c.head_dim;
  const int64_t kv_dim = c.num_key_value_heads * c.head_dim;
  const int64_t inter = c.intermediate_size;
  std::vector<ModelTensor> tensors;
  auto add = [&](std::string name, std::vector<int64_t> shape, TensorRole role) {
    tensors.push_back({std::move(name), std::move(shape), role});
  };
  auto linear = [&](const std::string& prefix, int64_t out, int64_t in, bool bias) {
    add(prefix + ".weight", {out, in}, TensorRole::kLinear);
    if (bias) add(prefix + ".bias", {out}, TensorRole::kBias);
  };
  add("model.embed_tokens.weight", {c.vocab_size, hidden}, TensorRole::kEmbedding);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string layer = absl::StrCat("model.layers.", i);
    add(layer + ".input_layernorm.weight", {hidden}, TensorRole::kNorm);
    linear(layer + ".self_attn.q_proj", q_dim, hidden, c.qkv_bias);
    linear(layer + ".self_attn.k_proj", kv_dim, hidden, c.qkv_bias);
    linear(layer + ".self_attn.v_proj", kv_dim, hidden, c.qkv_bias);
    linear(layer + ".self_attn.o_proj", hidden, q_dim, c.o_bias);
    if (c.qk_norm) {
      add(layer + ".self_attn.q_norm.weight", {c.head_dim}, TensorRole::kNorm);
      add(layer + ".self_attn.k_norm.weight", {c.head_dim}, TensorRole::kNorm);
    }
    add(layer + ".post_attention_layernorm.weight", {hidden}, TensorRole::kNorm);
    if (c.IsSparseLayer(i)) {  // the router, then each expert as on the Hub
      linear(layer + ".mlp.gate", c.num_experts, hidden, false);
      const int64_t expert_inter = c.moe_intermediate_size;
      for (int64_t e = 0; e < c.num_experts; ++e) {
        const std::string expert = absl::StrCat(layer, ".mlp.experts.", e);
        linear(expert + ".gate_proj", expert_inter, hidden, false);
        linear(expert + ".up_proj", expert_inter, hidden, false);
        linear(expert + ".down_proj", hidden, expert_inter, false);
      }
      continue;
    }
    linear(layer + ".mlp.gate_proj", inter, hidden, c.mlp_bias);
    linear(layer + ".mlp.up_proj", inter, hidden, c.mlp_bias);
    linear(layer + ".mlp.down_proj", hidden, inter, c.mlp_bias);
  }
  add("model.norm.weight", {hidden}, TensorRole::kNorm);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, hidden}, TensorRole::kLinear);
  return tensors;
}

}  // namespace strata::worker
