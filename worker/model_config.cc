#include "worker/model_config.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/read_file.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace strata::worker {
namespace {

using Json = nlohmann::json;

// This Abseil build has its own absl::string_view, distinct from std::string_view.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr size_t kMaxConfigBytes = 16 << 20;
constexpr int64_t kMaxSize = std::numeric_limits<int32_t>::max();

struct ArchitectureInfo {
  Architecture architecture;
  std::string_view class_name;
  std::string_view model_type;
};
constexpr ArchitectureInfo kArchitectures[] = {
    {Architecture::kLlama, "LlamaForCausalLM", "llama"},
    {Architecture::kQwen2, "Qwen2ForCausalLM", "qwen2"},
    {Architecture::kQwen3, "Qwen3ForCausalLM", "qwen3"},
    {Architecture::kQwen3Moe, "Qwen3MoeForCausalLM", "qwen3_moe"},
};

const ArchitectureInfo& InfoFor(Architecture architecture) {
  for (const ArchitectureInfo& info : kArchitectures) {
    if (info.architecture == architecture) return info;
  }
  return kArchitectures[0];
}

std::string SupportedArchitectures() {
  std::vector<std::string> names;
  for (const ArchitectureInfo& info : kArchitectures) names.emplace_back(info.class_name);
  return absl::StrJoin(names, ", ");
}

// Typed access to the keys of one JSON object; errors read "<source>: <prefix><key>: ...".
// A key whose value is null counts as absent, as in transformers.
class Fields {
 public:
  Fields(const Json& object, std::string_view source, std::string prefix = "")
      : object_(object), source_(source), prefix_(std::move(prefix)) {}

  absl::Status Error(std::string_view key, std::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(source_), ": ", prefix_, Sv(key), ": ", Sv(message)));
  }

  const Json* Find(std::string_view key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::StatusOr<int64_t> ToInt(std::string_view key, const Json& value) const {
    if (value.is_number_integer()) {
      if (value.is_number_unsigned() &&
          value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Error(key, absl::StrCat("integer ", value.dump(), " is too large"));
      }
      return value.get<int64_t>();
    }
    if (value.is_number_float()) {  // 8192.0 is accepted as 8192, as Python would
      double d = value.get<double>();
      if (std::trunc(d) == d && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
    }
    return Error(key, absl::StrCat("expected an integer, got ", value.dump()));
  }

  absl::StatusOr<std::optional<int64_t>> OptionalInt(std::string_view key) const {
    const Json* value = Find(key);
    if (value == nullptr) return std::nullopt;
    STRATA_ASSIGN_OR_RETURN(int64_t v, ToInt(key, *value));
    return v;
  }

  absl::StatusOr<int64_t> Int(std::string_view key) const {
    STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> v, OptionalInt(key));
    if (!v) return Error(key, "missing");
    return *v;
  }

  absl::StatusOr<std::optional<double>> OptionalDouble(std::string_view key) const {
    const Json* value = Find(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number())
      return Error(key, absl::StrCat("expected a number, got ", value->dump()));
    return value->get<double>();
  }

  absl::StatusOr<double> Double(std::string_view key) const {
    STRATA_ASSIGN_OR_RETURN(std::optional<double> v, OptionalDouble(key));
    if (!v) return Error(key, "missing");
    return *v;
  }

  absl::StatusOr<bool> Bool(std::string_view key, bool default_value) const {
    const Json* value = Find(key);
    if (value == nullptr) return default_value;
    if (!value->is_boolean())
      return Error(key, absl::StrCat("expected true or false, got ", value->dump()));
    return value->get<bool>();
  }

  absl::StatusOr<std::optional<std::string>> OptionalString(std::string_view key) const {
    const Json* value = Find(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string())
      return Error(key, absl::StrCat("expected a string, got ", value->dump()));
    return value->get<std::string>();
  }

 private:
  const Json& object_;
  std::string_view source_;
  std::string prefix_;
};

absl::Status ParseArchitecture(const Fields& fields, ModelConfig& config) {
  std::string name;
  if (const Json* list = fields.Find("architectures")) {
    if (!list->is_array() || list->empty() || !(*list)[0].is_string()) {
      return fields.Error("architectures", "expected a non-empty list of class names");
    }
    name = (*list)[0].get<std::string>();
    for (const ArchitectureInfo& info : kArchitectures) {
      if (info.class_name == name) {
        config.architecture = info.architecture;
        config.architecture_name = name;
        return absl::OkStatus();
      }
    }
    return fields.Error(
        "architectures[0]",
        absl::StrCat("unsupported '", name, "' (supported: ", SupportedArchitectures(), ")"));
  }
  // No architectures list: fall back to model_type, as transformers' AutoModel does.
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> model_type,
                          fields.OptionalString("model_type"));
  if (!model_type) return fields.Error("architectures", "missing (and no model_type)");
  for (const ArchitectureInfo& info : kArchitectures) {
    if (info.model_type == *model_type) {
      config.architecture = info.architecture;
      config.architecture_name = std::string(info.class_name);
      return absl::OkStatus();
    }
  }
  return fields.Error("model_type", absl::StrCat("unsupported '", *model_type,
                                                 "' (supported: llama, qwen2, qwen3, qwen3_moe)"));
}

// rope_scaling (legacy) or rope_parameters (transformers 5); `fields` is that object.
absl::Status ParseRopeScaling(const Fields& fields, bool type_required, RopeScaling& scaling) {
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> type, fields.OptionalString("rope_type"));
  std::string_view type_key = "rope_type";
  if (!type) {
    STRATA_ASSIGN_OR_RETURN(type, fields.OptionalString("type"));
    if (type) type_key = "type";
  }
  if (!type) {
    if (type_required) return fields.Error("rope_type", "missing");
    type = "default";
  }
  if (*type == "default") {
    scaling = RopeScaling{};
    return absl::OkStatus();
  }
  if (*type != "llama3") {
    return fields.Error(type_key, absl::StrCat("unsupported '", *type, "' (supported: llama3)"));
  }
  scaling.type = RopeScalingType::kLlama3;
  STRATA_ASSIGN_OR_RETURN(scaling.factor, fields.Double("factor"));
  STRATA_ASSIGN_OR_RETURN(scaling.low_freq_factor, fields.Double("low_freq_factor"));
  STRATA_ASSIGN_OR_RETURN(scaling.high_freq_factor, fields.Double("high_freq_factor"));
  STRATA_ASSIGN_OR_RETURN(scaling.original_max_position_embeddings,
                          fields.Int("original_max_position_embeddings"));
  if (!(scaling.factor > 0 && std::isfinite(scaling.factor))) {
    return fields.Error("factor", "must be a positive number");
  }
  if (!(scaling.low_freq_factor > 0 && scaling.high_freq_factor > scaling.low_freq_factor &&
        std::isfinite(scaling.high_freq_factor))) {
    return fields.Error("high_freq_factor", "must be finite and greater than low_freq_factor > 0");
  }
  if (scaling.original_max_position_embeddings <= 0 ||
      scaling.original_max_position_embeddings > kMaxSize) {
    return fields.Error("original_max_position_embeddings", "must be positive");
  }
  return absl::OkStatus();
}

absl::Status ParseRope(const Fields& fields, std::string_view source, ModelConfig& config) {
  STRATA_ASSIGN_OR_RETURN(std::optional<double> theta, fields.OptionalDouble("rope_theta"));
  if (const Json* parameters = fields.Find("rope_parameters")) {
    if (!parameters->is_object()) return fields.Error("rope_parameters", "expected an object");
    Fields nested(*parameters, source, "rope_parameters.");
    STRATA_ASSIGN_OR_RETURN(std::optional<double> nested_theta,
                            nested.OptionalDouble("rope_theta"));
    if (nested_theta) theta = nested_theta;
    STRATA_RETURN_IF_ERROR(ParseRopeScaling(nested, /*type_required=*/false, config.rope_scaling));
  } else if (const Json* scaling = fields.Find("rope_scaling")) {
    if (!scaling->is_object()) return fields.Error("rope_scaling", "expected an object or null");
    Fields nested(*scaling, source, "rope_scaling.");
    STRATA_RETURN_IF_ERROR(ParseRopeScaling(nested, /*type_required=*/true, config.rope_scaling));
  }
  config.rope_theta = theta.value_or(10000.0);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int32_t>> TokenId(const Fields& fields, std::string_view key,
                                               const Json& value) {
  STRATA_ASSIGN_OR_RETURN(int64_t id, fields.ToInt(key, value));
  if (id < 0 || id > std::numeric_limits<int32_t>::max()) {
    return fields.Error(key, absl::StrCat("token id ", id, " out of range"));
  }
  return static_cast<int32_t>(id);
}

absl::Status ParseTokenIds(const Fields& fields, ModelConfig& config) {
  if (const Json* bos = fields.Find("bos_token_id")) {
    STRATA_ASSIGN_OR_RETURN(config.bos_token_id, TokenId(fields, "bos_token_id", *bos));
  }
  if (const Json* eos = fields.Find("eos_token_id")) {
    if (eos->is_array()) {
      for (const Json& id : *eos) {
        STRATA_ASSIGN_OR_RETURN(std::optional<int32_t> parsed, TokenId(fields, "eos_token_id", id));
        config.eos_token_ids.push_back(*parsed);
      }
    } else {
      STRATA_ASSIGN_OR_RETURN(std::optional<int32_t> parsed, TokenId(fields, "eos_token_id", *eos));
      config.eos_token_ids.push_back(*parsed);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseDType(const Fields& fields, ModelConfig& config) {
  std::string_view key = "dtype";  // transformers 5; older versions write torch_dtype
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> name, fields.OptionalString(key));
  if (!name) {
    key = "torch_dtype";
    STRATA_ASSIGN_OR_RETURN(name, fields.OptionalString(key));
  }
  if (!name) return absl::OkStatus();  // keeps the default, bfloat16
  if (*name == "bfloat16") {
    config.dtype = DType::kBF16;
  } else if (*name == "float16") {
    config.dtype = DType::kF16;
  } else if (*name == "float32") {
    config.dtype = DType::kF32;
  } else {
    return fields.Error(
        key, absl::StrCat("unsupported '", *name, "' (supported: bfloat16, float16, float32)"));
  }
  return absl::OkStatus();
}

// The Qwen3-MoE block. The Hub's Qwen3-30B-A3B names the expert count num_experts;
// transformers 5 writes num_local_experts.
absl::Status ParseMoe(const Fields& fields, ModelConfig& config) {
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> experts, fields.OptionalInt("num_experts"));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> local, fields.OptionalInt("num_local_experts"));
  if (experts && local && *experts != *local) {
    return fields.Error("num_local_experts",
                        absl::StrCat(*local, " differs from num_experts ", *experts));
  }
  if (!experts && !local) return fields.Error("num_experts", "missing (or num_local_experts)");
  config.num_experts = experts ? *experts : *local;
  STRATA_ASSIGN_OR_RETURN(config.num_experts_per_tok, fields.Int("num_experts_per_tok"));
  STRATA_ASSIGN_OR_RETURN(config.moe_intermediate_size, fields.Int("moe_intermediate_size"));
  STRATA_ASSIGN_OR_RETURN(config.norm_topk_prob, fields.Bool("norm_topk_prob", false));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> step, fields.OptionalInt("decoder_sparse_step"));
  config.decoder_sparse_step = step.value_or(1);
  if (const Json* layers = fields.Find("mlp_only_layers")) {
    if (!layers->is_array()) return fields.Error("mlp_only_layers", "expected a list of layers");
    for (const Json& layer : *layers) {
      STRATA_ASSIGN_OR_RETURN(int64_t index, fields.ToInt("mlp_only_layers", layer));
      config.mlp_only_layers.push_back(index);
    }
  }
  if (const Json* shared = fields.Find("shared_expert_intermediate_size")) {
    if (!shared->is_number() || shared->get<double>() != 0) {
      return fields.Error("shared_expert_intermediate_size", "shared experts are not supported");
    }
  }
  return absl::OkStatus();
}

template <typename ErrorFn>
absl::Status ValidateMoe(const ModelConfig& c, const ErrorFn& error) {
  if (c.architecture != Architecture::kQwen3Moe) {
    if (c.num_experts != 0) return error("num_experts", "only Qwen3MoeForCausalLM has experts");
    return absl::OkStatus();
  }
  if (c.num_experts <= 0 || c.num_experts > 4096) {
    return error("num_experts", absl::StrCat(c.num_experts, " is not in [1, 4096]"));
  }
  if (c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.num_experts) {
    return error("num_experts_per_tok", absl::StrCat(c.num_experts_per_tok, " is not in [1, ",
                                                     c.num_experts, "] (num_experts)"));
  }
  if (c.moe_intermediate_size <= 0 || c.moe_intermediate_size > kMaxSize) {
    return error("moe_intermediate_size",
                 absl::StrCat(c.moe_intermediate_size, " is not a positive size"));
  }
  if (c.decoder_sparse_step <= 0) {
    return error("decoder_sparse_step", absl::StrCat(c.decoder_sparse_step, " is not positive"));
  }
  for (int64_t layer : c.mlp_only_layers) {
    if (layer < 0 || layer >= c.num_hidden_layers) {
      return error("mlp_only_layers", absl::StrCat("layer ", layer, " is outside [0, ",
                                                   c.num_hidden_layers, ")"));
    }
  }
  return absl::OkStatus();
}

std::string_view TorchDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "float32";
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
  }
  return "bfloat16";
}

}  // namespace

bool ModelConfig::IsSparseLayer(int64_t layer) const {
  if (num_experts <= 0 || decoder_sparse_step <= 0) return false;
  for (int64_t dense : mlp_only_layers) {
    if (dense == layer) return false;
  }
  return (layer + 1) % decoder_sparse_step == 0;
}

int64_t ModelConfig::NumSparseLayers() const {
  int64_t count = 0;
  for (int64_t layer = 0; layer < num_hidden_layers; ++layer) count += IsSparseLayer(layer);
  return count;
}

std::string_view ArchitectureClassName(Architecture architecture) {
  return InfoFor(architecture).class_name;
}

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source) {
  Json root;
  try {
    root = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(source), ": invalid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(source), ": not a JSON object"));
  }
  Fields fields(root, source);
  ModelConfig config;
  STRATA_RETURN_IF_ERROR(ParseArchitecture(fields, config));
  STRATA_ASSIGN_OR_RETURN(config.vocab_size, fields.Int("vocab_size"));
  STRATA_ASSIGN_OR_RETURN(config.hidden_size, fields.Int("hidden_size"));
  STRATA_ASSIGN_OR_RETURN(config.intermediate_size, fields.Int("intermediate_size"));
  STRATA_ASSIGN_OR_RETURN(config.num_hidden_layers, fields.Int("num_hidden_layers"));
  STRATA_ASSIGN_OR_RETURN(config.num_attention_heads, fields.Int("num_attention_heads"));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> kv_heads,
                          fields.OptionalInt("num_key_value_heads"));
  config.num_key_value_heads = kv_heads.value_or(config.num_attention_heads);
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> head_dim, fields.OptionalInt("head_dim"));
  if (head_dim) {
    config.head_dim = *head_dim;
  } else {
    if (config.num_attention_heads <= 0) {
      return fields.Error("num_attention_heads", "must be positive");
    }
    if (config.hidden_size % config.num_attention_heads != 0) {
      return fields.Error(
          "hidden_size",
          absl::StrCat(config.hidden_size, " is not divisible by num_attention_heads ",
                       config.num_attention_heads, " (and head_dim is not given)"));
    }
    config.head_dim = config.hidden_size / config.num_attention_heads;
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<double> eps, fields.OptionalDouble("rms_norm_eps"));
  config.rms_norm_eps = eps.value_or(1e-6);
  STRATA_ASSIGN_OR_RETURN(config.max_position_embeddings, fields.Int("max_position_embeddings"));
  STRATA_ASSIGN_OR_RETURN(config.tie_word_embeddings, fields.Bool("tie_word_embeddings", false));
  STRATA_RETURN_IF_ERROR(ParseRope(fields, source, config));

  STRATA_ASSIGN_OR_RETURN(bool attention_bias, fields.Bool("attention_bias", false));
  STRATA_ASSIGN_OR_RETURN(bool mlp_bias, fields.Bool("mlp_bias", false));
  switch (config.architecture) {
    case Architecture::kLlama:
      config.qkv_bias = config.o_bias = attention_bias;
      config.mlp_bias = mlp_bias;
      break;
    case Architecture::kQwen2:  // q/k/v always carry biases, o_proj never
      config.qkv_bias = true;
      break;
    case Architecture::kQwen3:
      config.qkv_bias = config.o_bias = attention_bias;
      config.qk_norm = true;
      break;
    case Architecture::kQwen3Moe:
      config.qkv_bias = config.o_bias = attention_bias;
      config.qk_norm = true;
      STRATA_RETURN_IF_ERROR(ParseMoe(fields, config));
      break;
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> act, fields.OptionalString("hidden_act"));
  if (act && *act != "silu") {
    return fields.Error("hidden_act", absl::StrCat("unsupported '", *act, "' (supported: silu)"));
  }
  STRATA_RETURN_IF_ERROR(ParseTokenIds(fields, config));
  STRATA_RETURN_IF_ERROR(ParseDType(fields, config));
  STRATA_RETURN_IF_ERROR(ValidateModelConfig(config, source));
  return config;
}

absl::Status ValidateModelConfig(const ModelConfig& c, std::string_view source) {
  auto error = [&](std::string_view key, std::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(source), ": ", Sv(key), ": ", Sv(message)));
  };
  const std::pair<std::string_view, int64_t> sizes[] = {
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_position_embeddings},
  };
  for (const auto& [key, value] : sizes) {
    if (value <= 0 || value > kMaxSize) {
      return error(key, absl::StrCat(value, " is not a positive size (at most ", kMaxSize, ")"));
    }
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return error("num_key_value_heads",
                 absl::StrCat(c.num_key_value_heads, " does not divide num_attention_heads ",
                              c.num_attention_heads));
  }
  if (c.num_attention_heads * c.head_dim > kMaxSize) {
    return error("head_dim", "num_attention_heads * head_dim is too large");
  }
  if (!(c.rms_norm_eps > 0 && c.rms_norm_eps < 1)) {
    return error("rms_norm_eps", absl::StrCat(c.rms_norm_eps, " is not in (0, 1)"));
  }
  if (!(c.rope_theta > 0 && std::isfinite(c.rope_theta))) {
    return error("rope_theta", absl::StrCat(c.rope_theta, " is not a positive number"));
  }
  if (c.bos_token_id && *c.bos_token_id >= c.vocab_size) {
    return error("bos_token_id",
                 absl::StrCat(*c.bos_token_id, " is outside the vocabulary (", c.vocab_size, ")"));
  }
  for (int32_t id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) {
      return error("eos_token_id",
                   absl::StrCat(id, " is outside the vocabulary (", c.vocab_size, ")"));
    }
  }
  return ValidateMoe(c, error);
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  std::string path = absl::StrCat(model_dir, "/config.json");
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, kMaxConfigBytes));
  return ParseModelConfig(text, path);
}

std::string ModelConfigToJson(const ModelConfig& c) {
  const ArchitectureInfo& info = InfoFor(c.architecture);
  Json j = Json::object();  // std::map-backed: keys come out sorted, as transformers writes them
  j["architectures"] = {info.class_name};
  j["model_type"] = info.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling.type == RopeScalingType::kLlama3) {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", c.rope_scaling.factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id ? Json(*c.bos_token_id) : Json(nullptr);
  if (c.eos_token_ids.empty()) {
    j["eos_token_id"] = nullptr;
  } else if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else {
    j["eos_token_id"] = c.eos_token_ids;
  }
  j["torch_dtype"] = TorchDTypeName(c.dtype);
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  switch (c.architecture) {
    case Architecture::kLlama:
      j["attention_bias"] = c.qkv_bias;
      j["mlp_bias"] = c.mlp_bias;
      j["pretraining_tp"] = 1;
      break;
    case Architecture::kQwen3Moe:
      j["num_experts"] = c.num_experts;
      j["num_experts_per_tok"] = c.num_experts_per_tok;
      j["moe_intermediate_size"] = c.moe_intermediate_size;
      j["norm_topk_prob"] = c.norm_topk_prob;
      j["decoder_sparse_step"] = c.decoder_sparse_step;
      j["mlp_only_layers"] = c.mlp_only_layers;
      j["output_router_logits"] = false;
      j["router_aux_loss_coef"] = 0.001;
      [[fallthrough]];
    case Architecture::kQwen3:
      j["attention_bias"] = c.qkv_bias;
      [[fallthrough]];
    case Architecture::kQwen2:
      j["use_sliding_window"] = false;
      j["sliding_window"] = nullptr;
      j["max_window_layers"] = c.num_hidden_layers;
      break;
  }
  return j.dump(2) + "\n";
}

}  // namespace strata::worker
