#include "worker/memory_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace strata::worker {

int64_t MemoryPlan::Bytes(const std::string& name) const {
  for (const Part& p : parts) {
    if (p.name == name) return p.bytes;
  }
  return 0;
}

int64_t MemoryPlan::TotalBytes() const {
  int64_t total = 0;
  for (const Part& p : parts) total += p.bytes;
  return total;
}

std::string MemoryPlan::ToString() const {
  std::string out;
  for (const Part& p : parts) {
    absl::StrAppend(&out, p.name, ": ", p.bytes / (1 << 20), " MiB\n");
  }
  absl::StrAppend(&out, "total: ", TotalBytes() / (1 << 20), " MiB of ", usable_bytes / (1 << 20),
                  " MiB usable; ", num_kv_blocks, " KV blocks of ", kv_block_bytes, " bytes\n");
  return out;
}

int64_t ExpertWeightBytes(const ModelConfig& c, int32_t bytes_per_element) {
  return c.is_moe() ? 3 * c.hidden_size * c.moe_intermediate_size * bytes_per_element : 0;
}

int64_t WeightBytes(const ModelConfig& c, int32_t bytes_per_element) {
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  int64_t per_layer = c.hidden_size * (q + 2 * kv) + q * c.hidden_size +  // attention
                      2 * c.hidden_size;                                  // norms
  if (c.qkv_bias) per_layer += q + 2 * kv;
  if (c.o_bias) per_layer += c.hidden_size;
  if (c.qk_norm) per_layer += 2 * c.head_dim;
  int64_t dense_mlp = 3 * c.hidden_size * c.intermediate_size;
  if (c.mlp_bias) dense_mlp += 2 * c.intermediate_size + c.hidden_size;
  // A sparse layer: the router and every expert instead of the dense MLP.
  const int64_t sparse_mlp =
      c.num_experts * c.hidden_size + c.num_experts * 3 * c.hidden_size * c.moe_intermediate_size;
  const int64_t sparse = c.NumSparseLayers();
  int64_t elements = c.num_hidden_layers * per_layer + (c.num_hidden_layers - sparse) * dense_mlp +
                     sparse * sparse_mlp + c.vocab_size * c.hidden_size + c.hidden_size;
  if (!c.tie_word_embeddings) elements += c.vocab_size * c.hidden_size;
  return elements * bytes_per_element;
}

int64_t KvBytesPerToken(const ModelConfig& c, int32_t bytes_per_element) {
  return 2 * c.num_hidden_layers * c.num_key_value_heads * c.head_dim * bytes_per_element;
}

absl::StatusOr<MemoryPlan> BuildMemoryPlan(const ModelConfig& c, const MemoryPlanInputs& in) {
  MemoryPlan plan;
  plan.usable_bytes = static_cast<int64_t>(in.device_total_bytes * in.utilization);
  const int64_t others = in.device_total_bytes - in.device_free_bytes;
  if (plan.usable_bytes > in.device_free_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("worker.gpu_memory_utilization asks for ", plan.usable_bytes >> 20,
                     " MiB but only ", in.device_free_bytes >> 20, " MiB are free (", others >> 20,
                     " MiB held by other processes); lower worker.gpu_memory_utilization"));
  }
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  // The widest activations of one forward pass, alive together: the residual stream (fp32),
  // the normed input, q/k/v, the attention output and the MLP's gate/up and activation.
  const int64_t per_token =
      4 * c.hidden_size + in.activation_bytes_per_element *
                              (2 * c.hidden_size + q + 2 * kv + q + 3 * c.intermediate_size);
  const int64_t activations = in.max_batch_tokens * per_token + in.extra_workspace_bytes;
  // fp32 logits of one chunk plus the sampler's per-row scratch (a sorted copy).
  const int64_t logits = std::max(in.logits_chunk_rows, in.max_num_seqs) * c.vocab_size * 4 * 2;
  const int64_t carried = in.carried_prefill_tokens * c.hidden_size * 4;
  plan.parts = {{"weights", WeightBytes(c, in.weight_bytes_per_element)},
                {"activations", activations},
                {"logits", logits},
                {"carried_prefill", carried},
                {"speculative", in.speculative_reserve_bytes}};
  plan.kv_block_bytes = KvBytesPerToken(c, in.kv_bytes_per_element) * in.block_size;
  const int64_t left = plan.usable_bytes - plan.TotalBytes();
  const int64_t fit = left > 0 ? left / plan.kv_block_bytes : 0;
  plan.num_kv_blocks = in.requested_blocks > 0 ? in.requested_blocks : fit;
  if (plan.num_kv_blocks < 1 || plan.num_kv_blocks > fit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no room for ", std::max<int64_t>(plan.num_kv_blocks, 1), " KV blocks of ",
                     plan.kv_block_bytes, " bytes: ", std::max<int64_t>(left, 0) >> 20,
                     " MiB left after:\n", plan.ToString()));
  }
  plan.parts.push_back({"kv_cache", plan.num_kv_blocks * plan.kv_block_bytes});
  STRATA_CHECK_LE(plan.TotalBytes(), plan.usable_bytes);
  return plan;
}

}  // namespace strata::worker
