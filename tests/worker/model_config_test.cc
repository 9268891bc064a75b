#include "worker/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>

#include "worker/model_shapes.h"

namespace strata::worker {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Qwen/Qwen3-0.6B's config.json.
constexpr char kQwen3Config[] = R"({
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

// meta-llama/Llama-3.1-8B's config.json.
constexpr char kLlamaConfig[] = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": 128001,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "use_cache": true,
  "vocab_size": 128256
})";

// `text` with the member `key` given `value` (raw JSON), or removed when value is empty (never
// the last member).
std::string With(std::string text, const std::string& key, const std::string& value) {
  size_t start = text.find("\"" + key + "\":");
  size_t end = start;
  int depth = 0;
  for (; end < text.size(); ++end) {  // the end of this member: a ',' or '}' at depth 0
    char c = text[end];
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      if (depth == 0) break;
      --depth;
    }
    if (c == ',' && depth == 0) break;
  }
  if (value.empty()) return text.erase(start, end + 1 - start);
  return text.replace(start, end - start, "\"" + key + "\": " + value);
}

std::string LlamaWith(const std::string& key, const std::string& value) {
  return With(kLlamaConfig, key, value);
}

absl::Status ParseError(const std::string& text) {
  auto config = ParseModelConfig(text, "/models/x/config.json");
  return config.ok() ? absl::OkStatus() : config.status();
}

TEST(ModelConfigTest, ParsesQwen3) {
  auto config = ParseModelConfig(kQwen3Config, "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, Architecture::kQwen3);
  EXPECT_EQ(config->architecture_name, "Qwen3ForCausalLM");
  EXPECT_EQ(config->vocab_size, 151936);
  EXPECT_EQ(config->hidden_size, 1024);
  EXPECT_EQ(config->intermediate_size, 3072);
  EXPECT_EQ(config->num_hidden_layers, 28);
  EXPECT_EQ(config->num_attention_heads, 16);
  EXPECT_EQ(config->num_key_value_heads, 8);
  EXPECT_EQ(config->head_dim, 128);  // not hidden / heads = 64
  EXPECT_DOUBLE_EQ(config->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(config->rope_theta, 1e6);
  EXPECT_EQ(config->rope_scaling.type, RopeScalingType::kNone);
  EXPECT_EQ(config->max_position_embeddings, 40960);
  EXPECT_TRUE(config->tie_word_embeddings);
  EXPECT_FALSE(config->qkv_bias);
  EXPECT_FALSE(config->o_bias);
  EXPECT_FALSE(config->mlp_bias);
  EXPECT_TRUE(config->qk_norm);
  EXPECT_EQ(config->bos_token_id, 151643);
  EXPECT_THAT(config->eos_token_ids, ElementsAre(151645));
  EXPECT_EQ(config->dtype, DType::kBF16);
  // The named shape is the same configuration.
  EXPECT_EQ(*config, NamedModelShape("qwen3-0.6b")->config);
}

TEST(ModelConfigTest, ParsesLlama31) {
  auto config = ParseModelConfig(kLlamaConfig, "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, Architecture::kLlama);
  EXPECT_EQ(config->head_dim, 128);  // hidden / heads
  EXPECT_EQ(config->rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(config->rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(config->rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(config->rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(config->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(config->rope_theta, 500000.0);
  EXPECT_FALSE(config->tie_word_embeddings);
  EXPECT_FALSE(config->qk_norm);
  EXPECT_EQ(*config, NamedModelShape("llama-3.1-8b")->config);
}

TEST(ModelConfigTest, ArchitectureSpecificBiases) {
  auto llama = ParseModelConfig(LlamaWith("attention_bias", "true"), "c");
  ASSERT_TRUE(llama.ok());
  EXPECT_TRUE(llama->qkv_bias);
  EXPECT_TRUE(llama->o_bias);
  EXPECT_TRUE(ParseModelConfig(LlamaWith("mlp_bias", "true"), "c")->mlp_bias);

  std::string qwen2 = LlamaWith("architectures", R"(["Qwen2ForCausalLM"])");
  auto parsed = ParseModelConfig(qwen2, "c");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->architecture, Architecture::kQwen2);
  EXPECT_TRUE(parsed->qkv_bias);
  EXPECT_FALSE(parsed->o_bias);
  EXPECT_FALSE(parsed->qk_norm);

  std::string qwen3 = kQwen3Config;
  qwen3.replace(qwen3.find("\"attention_bias\": false"), 23, "\"attention_bias\": true");
  parsed = ParseModelConfig(qwen3, "c");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->qkv_bias);
  EXPECT_TRUE(parsed->o_bias);
}

TEST(ModelConfigTest, Defaults) {
  auto config = ParseModelConfig(LlamaWith("num_key_value_heads", ""), "c");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_key_value_heads, 32);
  config = ParseModelConfig(LlamaWith("tie_word_embeddings", ""), "c");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->tie_word_embeddings);
  config = ParseModelConfig(LlamaWith("rope_theta", ""), "c");
  EXPECT_DOUBLE_EQ(config->rope_theta, 10000.0);
  config = ParseModelConfig(LlamaWith("bos_token_id", "null"), "c");
  EXPECT_FALSE(config->bos_token_id.has_value());
  config = ParseModelConfig(LlamaWith("eos_token_id", "[128001, 128008, 128009]"), "c");
  EXPECT_THAT(config->eos_token_ids, ElementsAre(128001, 128008, 128009));
  config = ParseModelConfig(LlamaWith("architectures", ""), "c");  // model_type suffices
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->architecture_name, "LlamaForCausalLM");
  config = ParseModelConfig(LlamaWith("max_position_embeddings", "131072.0"), "c");
  EXPECT_EQ(config->max_position_embeddings, 131072);
}

TEST(ModelConfigTest, DTypeSpellings) {
  EXPECT_EQ(ParseModelConfig(LlamaWith("torch_dtype", R"("float16")"), "c")->dtype, DType::kF16);
  EXPECT_EQ(ParseModelConfig(LlamaWith("torch_dtype", R"("float32")"), "c")->dtype, DType::kF32);
  std::string v5 = LlamaWith("torch_dtype", "");
  v5.insert(1, R"("dtype": "float16",)");
  EXPECT_EQ(ParseModelConfig(v5, "c")->dtype, DType::kF16);
  EXPECT_THAT(Message(ParseError(LlamaWith("torch_dtype", R"("int8")"))),
              HasSubstr("torch_dtype: unsupported 'int8'"));
}

TEST(ModelConfigTest, UnsupportedArchitecture) {
  EXPECT_EQ(Message(ParseError(LlamaWith("architectures", R"(["MistralForCausalLM"])"))),
            "/models/x/config.json: architectures[0]: unsupported 'MistralForCausalLM' "
            "(supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
            "Qwen3MoeForCausalLM)");
  EXPECT_THAT(Message(ParseError(LlamaWith("architectures", "[]"))), HasSubstr("architectures"));
  std::string no_arch = LlamaWith("architectures", "");
  no_arch.replace(no_arch.find("\"llama\""), 7, "\"gemma\"");
  EXPECT_THAT(Message(ParseError(no_arch)), HasSubstr("model_type: unsupported 'gemma'"));
}

TEST(ModelConfigTest, RopeScaling) {
  EXPECT_EQ(
      Message(ParseError(LlamaWith("rope_scaling", R"({"rope_type": "yarn", "factor": 4})"))),
      "/models/x/config.json: rope_scaling.rope_type: unsupported 'yarn' (supported: llama3)");
  EXPECT_THAT(Message(ParseError(LlamaWith("rope_scaling", R"({"type": "dynamic", "factor": 2})"))),
              HasSubstr("rope_scaling.type: unsupported 'dynamic'"));
  EXPECT_THAT(Message(ParseError(LlamaWith("rope_scaling", R"({"rope_type": "llama3"})"))),
              HasSubstr("rope_scaling.factor: missing"));
  EXPECT_THAT(Message(ParseError(LlamaWith("rope_scaling", R"({"factor": 2})"))),
              HasSubstr("rope_scaling.rope_type: missing"));
  EXPECT_THAT(Message(ParseError(LlamaWith("rope_scaling", "3"))), HasSubstr("rope_scaling"));
  EXPECT_THAT(Message(ParseError(LlamaWith(
                  "rope_scaling", R"({"rope_type": "llama3", "factor": 8, "low_freq_factor": 4,
                  "high_freq_factor": 1, "original_max_position_embeddings": 8192})"))),
              HasSubstr("rope_scaling.high_freq_factor"));
  auto config = ParseModelConfig(LlamaWith("rope_scaling", R"({"rope_type": "default"})"), "c");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->rope_scaling.type, RopeScalingType::kNone);
}

TEST(ModelConfigTest, RopeParametersOfTransformers5) {
  std::string text = With(LlamaWith("rope_scaling", ""), "rope_theta", "");
  text.insert(1, R"("rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0,
      "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192},)");
  auto config = ParseModelConfig(text, "c");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(*config, NamedModelShape("llama-3.1-8b")->config);

  auto plain = ParseModelConfig(
      LlamaWith("rope_scaling",
                R"(null, "rope_parameters": {"rope_type": "default", "rope_theta": 1e6})"),
      "c");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->rope_scaling.type, RopeScalingType::kNone);
  EXPECT_DOUBLE_EQ(plain->rope_theta, 1e6);
  EXPECT_THAT(Message(ParseError(
                  LlamaWith("rope_scaling", R"(null, "rope_parameters": {"rope_type": "yarn"})"))),
              HasSubstr("rope_parameters.rope_type: unsupported 'yarn'"));
}

TEST(ModelConfigTest, InvalidValuesNameTheKey) {
  const std::pair<std::string, std::string> cases[] = {
      {LlamaWith("hidden_size", ""), "hidden_size: missing"},
      {LlamaWith("hidden_size", "-4096"), "hidden_size: -4096 is not a positive size"},
      {LlamaWith("vocab_size", "0"), "vocab_size: 0 is not a positive size"},
      {LlamaWith("num_hidden_layers", "\"32\""), "num_hidden_layers: expected an integer"},
      {LlamaWith("intermediate_size", "1.5"), "intermediate_size: expected an integer"},
      {LlamaWith("num_key_value_heads", "5"), "num_key_value_heads: 5 does not divide"},
      {LlamaWith("num_attention_heads", "0"), "num_attention_heads: must be positive"},
      {LlamaWith("num_attention_heads", "3"), "hidden_size: 4096 is not divisible"},
      {LlamaWith("rms_norm_eps", "0"), "rms_norm_eps"},
      {LlamaWith("rope_theta", "-1"), "rope_theta"},
      {LlamaWith("tie_word_embeddings", "1"), "tie_word_embeddings: expected true or false"},
      {LlamaWith("eos_token_id", "[1, 999999]"), "eos_token_id: 999999 is outside the vocabulary"},
      {LlamaWith("bos_token_id", "-1"), "bos_token_id: token id -1 out of range"},
      {LlamaWith("hidden_act", "\"gelu\""), "hidden_act: unsupported 'gelu'"},
      {LlamaWith("max_position_embeddings", "18446744073709551615"), "is too large"},
  };
  for (const auto& [text, needle] : cases) {
    EXPECT_THAT(Message(ParseError(text)),
                AllOf(HasSubstr("/models/x/config.json: "), HasSubstr(needle)))
        << needle;
  }
  EXPECT_THAT(Message(ParseError("{\"vocab_size\": ")),
              AllOf(HasSubstr("/models/x/config.json"), HasSubstr("invalid JSON")));
  EXPECT_THAT(Message(ParseError("[1]")), HasSubstr("not a JSON object"));
}

TEST(ModelConfigTest, LoadNamesThePath) {
  auto config = LoadModelConfig("/nonexistent/model");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("/nonexistent/model/config.json"));
}

TEST(ModelConfigTest, JsonRoundTrip) {
  for (std::string_view name : ModelShapeNames()) {
    auto shape = NamedModelShape(name);
    ASSERT_TRUE(shape.ok());
    std::string json = ModelConfigToJson(shape->config);
    auto parsed = ParseModelConfig(json, name);
    ASSERT_TRUE(parsed.ok()) << parsed.status() << json;
    EXPECT_EQ(*parsed, shape->config) << json;
  }
  CustomShapeOptions options;
  options.architecture = Architecture::kLlama;
  options.hidden_size = 96;
  options.intermediate_size = 200;
  options.num_layers = 3;
  options.num_heads = 6;
  options.num_kv_heads = 2;
  options.vocab_size = 1000;
  options.attention_bias = options.mlp_bias = true;
  options.dtype = DType::kF16;
  auto custom = CustomModelShape(options);
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(*ParseModelConfig(ModelConfigToJson(custom->config), "c"), custom->config);
  options.architecture = Architecture::kQwen2;
  options.attention_bias = options.mlp_bias = false;
  custom = CustomModelShape(options);
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(*ParseModelConfig(ModelConfigToJson(custom->config), "c"), custom->config);
}

int64_t ParameterCount(const ModelConfig& config) {
  int64_t total = 0;
  for (const ModelTensor& t : ModelTensors(config)) {
    total += std::accumulate(t.shape.begin(), t.shape.end(), int64_t{1}, std::multiplies<>());
  }
  return total;
}

TEST(ModelShapesTest, NamedShapes) {
  auto tiny = NamedModelShape("tiny");
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->tokenizer_family, "qwen3");
  const ModelConfig& c = tiny->config;
  EXPECT_EQ(c.architecture_name, "Qwen3ForCausalLM");
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(151645, 151643));
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(ValidateModelConfig(c, "tiny").ok());

  auto tiny_llama = NamedModelShape("tiny-llama");
  ASSERT_TRUE(tiny_llama.ok());
  EXPECT_EQ(tiny_llama->tokenizer_family, "llama3");
  EXPECT_EQ(tiny_llama->config.rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_THAT(tiny_llama->config.eos_token_ids, ElementsAre(128001, 128008, 128009));
  EXPECT_EQ(tiny_llama->config.bos_token_id, 128000);

  // Published parameter counts.
  EXPECT_EQ(ParameterCount(NamedModelShape("qwen3-0.6b")->config), 596049920);
  EXPECT_EQ(ParameterCount(NamedModelShape("llama-3.1-8b")->config), 8030261248);

  auto unknown = NamedModelShape("gpt-5");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(Message(unknown.status()), AllOf(HasSubstr("gpt-5"), HasSubstr("tiny-llama")));
}

TEST(ModelShapesTest, TensorLayout) {
  std::vector<ModelTensor> tensors = ModelTensors(NamedModelShape("tiny")->config);
  ASSERT_EQ(tensors.size(), 24u);  // embed + 2 x 11 + norm; tied, so no lm_head
  EXPECT_EQ(tensors[0].name, "model.embed_tokens.weight");
  EXPECT_THAT(tensors[0].shape, ElementsAre(151936, 64));
  EXPECT_EQ(tensors[1].name, "model.layers.0.input_layernorm.weight");
  EXPECT_EQ(tensors[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_THAT(tensors[2].shape, ElementsAre(64, 64));
  EXPECT_EQ(tensors[3].name, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_THAT(tensors[3].shape, ElementsAre(32, 64));
  EXPECT_EQ(tensors[6].name, "model.layers.0.self_attn.q_norm.weight");
  EXPECT_THAT(tensors[6].shape, ElementsAre(16));
  EXPECT_EQ(tensors.back().name, "model.norm.weight");

  std::vector<ModelTensor> llama = ModelTensors(NamedModelShape("tiny-llama")->config);
  EXPECT_EQ(llama.back().name, "lm_head.weight");
  EXPECT_EQ(llama.size(), 1u + 2 * 9 + 2);

  ModelConfig qwen2 = NamedModelShape("tiny")->config;
  qwen2.architecture = Architecture::kQwen2;
  qwen2.qkv_bias = true;
  qwen2.qk_norm = false;
  std::vector<ModelTensor> with_bias = ModelTensors(qwen2);
  EXPECT_EQ(with_bias[3].name, "model.layers.0.self_attn.q_proj.bias");
  EXPECT_THAT(with_bias[3].shape, ElementsAre(64));
  EXPECT_EQ(with_bias.size(), 1u + 2 * 12 + 1);
}

TEST(ModelShapesTest, CustomShapes) {
  CustomShapeOptions options;
  options.architecture = Architecture::kQwen3;
  options.hidden_size = 32;
  options.intermediate_size = 64;
  options.num_layers = 1;
  options.num_heads = 2;
  options.num_kv_heads = 1;
  auto shape = CustomModelShape(options);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->config.vocab_size, 151936);  // the tokenizer's
  EXPECT_EQ(shape->config.head_dim, 16);
  EXPECT_THAT(shape->config.eos_token_ids, ElementsAre(151645, 151643));

  options.vocab_size = 512;  // smaller than the tokenizer: its special ids do not fit
  shape = CustomModelShape(options);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_THAT(shape->config.eos_token_ids, ElementsAre(511));
  EXPECT_FALSE(shape->pad_token_id.has_value());

  options.num_kv_heads = 3;
  EXPECT_THAT(Message(CustomModelShape(options).status()), HasSubstr("num_key_value_heads"));
  options.num_kv_heads = 1;
  options.num_heads = 3;
  EXPECT_THAT(Message(CustomModelShape(options).status()), HasSubstr("head dimension"));
  options.head_dim = 8;
  EXPECT_TRUE(CustomModelShape(options).ok());
  options.mlp_bias = true;
  EXPECT_FALSE(CustomModelShape(options).ok());
}

}  // namespace
}  // namespace strata::worker
