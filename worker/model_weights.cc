#include "worker/model_weights.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace strata::worker {
namespace {

// Reads tensor `name` of `shape` and appends it to `out` (so fused matrices are built by
// appending their parts in order).
absl::Status Append(const Checkpoint& checkpoint, const std::string& name,
                    std::vector<int64_t> shape, std::vector<float>* out) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  const size_t offset = out->size();
  out->resize(offset + count);
  return checkpoint.ReadFloat(name, shape, out->data() + offset);
}

// A sparse layer's router and experts, gate and up fused per expert.
absl::Status LoadExperts(const Checkpoint& ckpt, const ModelConfig& c, const std::string& p,
                         LayerWeights& w) {
  const int64_t experts = c.num_experts, hidden = c.hidden_size, inter = c.moe_intermediate_size;
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "mlp.gate.weight", {experts, hidden}, &w.router));
  if (ckpt.Has(p + "mlp.experts.gate_up_proj")) {
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "mlp.experts.gate_up_proj",
                                  {experts, 2 * inter, hidden}, &w.expert_gate_up));
    return Append(ckpt, p + "mlp.experts.down_proj", {experts, hidden, inter}, &w.expert_down);
  }
  w.expert_gate_up.reserve(experts * 2 * inter * hidden);
  w.expert_down.reserve(experts * hidden * inter);
  for (int64_t e = 0; e < experts; ++e) {
    const std::string x = absl::StrCat(p, "mlp.experts.", e, ".");
    STRATA_RETURN_IF_ERROR(Append(ckpt, x + "gate_proj.weight", {inter, hidden}, &w.expert_gate_up));
    STRATA_RETURN_IF_ERROR(Append(ckpt, x + "up_proj.weight", {inter, hidden}, &w.expert_gate_up));
    STRATA_RETURN_IF_ERROR(Append(ckpt, x + "down_proj.weight", {hidden, inter}, &w.expert_down));
  }
  return absl::OkStatus();
}

absl::StatusOr<LayerWeights> LoadLayer(const Checkpoint& ckpt, const ModelConfig& c, int layer) {
  const std::string p = absl::StrCat("model.layers.", layer, ".");
  const int64_t q_rows = c.num_attention_heads * c.head_dim;
  const int64_t kv_rows = c.num_key_value_heads * c.head_dim;
  const int64_t hidden = c.hidden_size, inter = c.intermediate_size;
  LayerWeights w;
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "input_layernorm.weight", {hidden}, &w.input_norm));
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.q_proj.weight", {q_rows, hidden}, &w.qkv));
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.k_proj.weight", {kv_rows, hidden}, &w.qkv));
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.v_proj.weight", {kv_rows, hidden}, &w.qkv));
  if (c.qkv_bias) {
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.q_proj.bias", {q_rows}, &w.qkv_bias));
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.k_proj.bias", {kv_rows}, &w.qkv_bias));
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.v_proj.bias", {kv_rows}, &w.qkv_bias));
  }
  if (c.qk_norm) {
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.q_norm.weight", {c.head_dim}, &w.q_norm));
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.k_norm.weight", {c.head_dim}, &w.k_norm));
  }
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.o_proj.weight", {hidden, q_rows}, &w.o));
  if (c.o_bias) {
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "self_attn.o_proj.bias", {hidden}, &w.o_bias));
  }
  STRATA_RETURN_IF_ERROR(
      Append(ckpt, p + "post_attention_layernorm.weight", {hidden}, &w.post_norm));
  if (c.IsSparseLayer(layer)) {
    STRATA_RETURN_IF_ERROR(LoadExperts(ckpt, c, p, w));
    return w;
  }
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "mlp.gate_proj.weight", {inter, hidden}, &w.gate_up));
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "mlp.up_proj.weight", {inter, hidden}, &w.gate_up));
  STRATA_RETURN_IF_ERROR(Append(ckpt, p + "mlp.down_proj.weight", {hidden, inter}, &w.down));
  if (c.mlp_bias) {
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "mlp.gate_proj.bias", {inter}, &w.gate_up_bias));
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "mlp.up_proj.bias", {inter}, &w.gate_up_bias));
    STRATA_RETURN_IF_ERROR(Append(ckpt, p + "mlp.down_proj.bias", {hidden}, &w.down_bias));
  }
  return w;
}

}  // namespace

absl::StatusOr<ModelWeights> LoadModelWeights(const Checkpoint& checkpoint,
                                              const ModelConfig& config) {
  ModelWeights weights;
  const int64_t vocab = config.vocab_size, hidden = config.hidden_size;
  STRATA_RETURN_IF_ERROR(
      Append(checkpoint, "model.embed_tokens.weight", {vocab, hidden}, &weights.embed));
  for (int layer = 0; layer < config.num_hidden_layers; ++layer) {
    STRATA_ASSIGN_OR_RETURN(LayerWeights w, LoadLayer(checkpoint, config, layer));
    weights.layers.push_back(std::move(w));
  }
  STRATA_RETURN_IF_ERROR(Append(checkpoint, "model.norm.weight", {hidden}, &weights.final_norm));
  // Tied checkpoints may still carry an lm_head copy; the embedding is authoritative then.
  if (!config.tie_word_embeddings) {
    STRATA_RETURN_IF_ERROR(Append(checkpoint, "lm_head.weight", {vocab, hidden}, &weights.lm_head));
  }
  return weights;
}

}  // namespace strata::worker
