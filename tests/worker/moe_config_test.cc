// Qwen3-MoE: config.json parsing and validation, sparse-layer selection, the MoE shapes'
// tensors and weight bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>

#include "worker/memory_plan.h"
#include "worker/model_config.h"
#include "worker/model_shapes.h"

namespace strata::worker {
namespace {

using ::testing::HasSubstr;

// Qwen/Qwen3-30B-A3B's config.json (the Hub spells the expert count num_experts).
constexpr char kQwen3MoeConfig[] = R"({
  "architectures": ["Qwen3MoeForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "decoder_sparse_step": 1,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 6144,
  "max_position_embeddings": 40960,
  "max_window_layers": 48,
  "mlp_only_layers": [],
  "model_type": "qwen3_moe",
  "moe_intermediate_size": 768,
  "norm_topk_prob": true,
  "num_attention_heads": 32,
  "num_experts": 128,
  "num_experts_per_tok": 8,
  "num_hidden_layers": 48,
  "num_key_value_heads": 4,
  "output_router_logits": false,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000.0,
  "router_aux_loss_coef": 0.001,
  "sliding_window": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

std::string With(std::string_view key, std::string_view value) {
  std::string json = kQwen3MoeConfig;
  const std::string quoted = "\"" + std::string(key) + "\": ";
  const size_t at = json.find(quoted);
  if (at == std::string::npos) {
    json.insert(json.find('{') + 1, "\n  " + quoted + std::string(value) + ",");
  } else {
    const size_t begin = at + quoted.size();
    json.replace(begin, json.find_first_of(",\n", begin) - begin, value);
  }
  return json;
}

std::string Error(const std::string& json) {
  auto config = ParseModelConfig(json, "c.json");
  EXPECT_FALSE(config.ok());
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(MoeConfigTest, ParsesQwen3_30B_A3B) {
  auto config = ParseModelConfig(kQwen3MoeConfig, "c.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, Architecture::kQwen3Moe);
  EXPECT_TRUE(config->qk_norm);
  EXPECT_EQ(config->num_experts, 128);
  EXPECT_EQ(config->num_experts_per_tok, 8);
  EXPECT_EQ(config->moe_intermediate_size, 768);
  EXPECT_TRUE(config->norm_topk_prob);
  EXPECT_EQ(config->NumSparseLayers(), 48);
  EXPECT_EQ(*config, NamedModelShape("qwen3-30b-a3b")->config);
}

TEST(MoeConfigTest, AcceptsNumLocalExperts) {
  std::string json = kQwen3MoeConfig;
  json.replace(json.find("\"num_experts\""), 13, "\"num_local_experts\"");
  auto config = ParseModelConfig(json, "c.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_experts, 128);
  EXPECT_THAT(Error(With("num_local_experts", "64")), HasSubstr("differs from num_experts 128"));
}

TEST(MoeConfigTest, SparseLayers) {
  ModelConfig c = NamedModelShape("qwen3-30b-a3b")->config;
  c.num_hidden_layers = 6;
  c.decoder_sparse_step = 2;
  c.mlp_only_layers = {3};
  std::vector<bool> sparse;
  for (int64_t layer = 0; layer < 6; ++layer) sparse.push_back(c.IsSparseLayer(layer));
  EXPECT_EQ(sparse, (std::vector<bool>{false, true, false, false, false, true}));
  EXPECT_EQ(c.NumSparseLayers(), 2);
  c.num_experts = 0;
  EXPECT_FALSE(c.IsSparseLayer(1));
}

TEST(MoeConfigTest, InvalidValuesNameTheKey) {
  EXPECT_THAT(Error(With("num_experts_per_tok", "129")),
              HasSubstr("c.json: num_experts_per_tok: 129 is not in [1, 128]"));
  EXPECT_THAT(Error(With("num_experts_per_tok", "0")), HasSubstr("num_experts_per_tok"));
  EXPECT_THAT(Error(With("num_experts", "0")), HasSubstr("num_experts: 0"));
  EXPECT_THAT(Error(With("moe_intermediate_size", "-1")), HasSubstr("moe_intermediate_size"));
  EXPECT_THAT(Error(With("decoder_sparse_step", "0")), HasSubstr("decoder_sparse_step"));
  EXPECT_THAT(Error(With("mlp_only_layers", "[48]")),
              HasSubstr("mlp_only_layers: layer 48 is outside [0, 48)"));
  EXPECT_THAT(Error(With("mlp_only_layers", "3")), HasSubstr("expected a list"));
  EXPECT_THAT(Error(With("shared_expert_intermediate_size", "512")),
              HasSubstr("shared experts are not supported"));
  std::string missing = kQwen3MoeConfig;
  missing.replace(missing.find("\"num_experts\""), 13, "\"n_experts\"");
  EXPECT_THAT(Error(missing), HasSubstr("num_experts: missing"));
}

TEST(MoeConfigTest, JsonRoundTripAndCustomShape) {
  for (std::string_view name : {"tiny-moe", "qwen3-30b-a3b"}) {
    const ModelConfig config = NamedModelShape(name)->config;
    auto parsed = ParseModelConfig(ModelConfigToJson(config), name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, config);
  }
  CustomShapeOptions o;
  o.architecture = Architecture::kQwen3Moe;
  o.hidden_size = 128;
  o.intermediate_size = 256;
  o.num_layers = 2;
  o.num_heads = 4;
  o.num_kv_heads = 2;
  o.vocab_size = 1000;
  o.num_experts = 16;
  o.num_experts_per_tok = 4;
  o.moe_intermediate_size = 64;
  auto shape = CustomModelShape(o);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->config.NumSparseLayers(), 2);
  EXPECT_EQ(*ParseModelConfig(ModelConfigToJson(shape->config), "c"), shape->config);
  o.num_experts_per_tok = 17;
  EXPECT_FALSE(CustomModelShape(o).ok());
  o.architecture = Architecture::kQwen3;
  o.num_experts_per_tok = 4;
  EXPECT_FALSE(CustomModelShape(o).ok());
}

int64_t ParameterCount(const ModelConfig& config) {
  int64_t total = 0;
  for (const ModelTensor& t : ModelTensors(config)) {
    total += std::accumulate(t.shape.begin(), t.shape.end(), int64_t{1}, std::multiplies<>());
  }
  return total;
}

TEST(MoeConfigTest, TensorsAndWeightBytesCountEveryExpert) {
  const ModelConfig big = NamedModelShape("qwen3-30b-a3b")->config;
  EXPECT_EQ(ParameterCount(big), 30532122624);  // Qwen3-30B-A3B's published count
  EXPECT_EQ(WeightBytes(big, 2), 2 * ParameterCount(big));
  EXPECT_EQ(ExpertWeightBytes(big, 2), 3 * 2048 * 768 * 2);

  ModelConfig mixed = NamedModelShape("tiny-moe")->config;
  mixed.num_hidden_layers = 3;
  mixed.mlp_only_layers = {1};
  EXPECT_EQ(WeightBytes(mixed, 4), 4 * ParameterCount(mixed));
  const std::vector<ModelTensor> tensors = ModelTensors(mixed);
  auto has = [&](const std::string& name) {
    for (const ModelTensor& t : tensors) {
      if (t.name == name) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("model.layers.0.mlp.gate.weight"));
  EXPECT_TRUE(has("model.layers.0.mlp.experts.7.down_proj.weight"));
  EXPECT_TRUE(has("model.layers.1.mlp.gate_proj.weight"));
  EXPECT_FALSE(has("model.layers.1.mlp.gate.weight"));
  EXPECT_FALSE(has("model.layers.0.mlp.gate_proj.weight"));
  EXPECT_EQ(ExpertWeightBytes(NamedModelShape("tiny")->config, 2), 0);
}

}  // namespace
}  // namespace strata::worker
