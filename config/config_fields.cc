#include "config/config_fields.h"

#include <algorithm>
#include <array>
#include <limits>
#include <vector>

namespace strata::config {
namespace {

// One table row: the key path and an accessor whose return type picks the FieldRef
// alternative.
#define STRATA_CONFIG_FIELD(section, key)                                          \
  Field {                                                                          \
#section "." #key, [](StrataConfig & c) -> FieldRef { return &c.section.key; } \
  }

constexpr Field kFields[] = {
    STRATA_CONFIG_FIELD(server, host),
    STRATA_CONFIG_FIELD(server, http_port),
    STRATA_CONFIG_FIELD(server, grpc_port),
    STRATA_CONFIG_FIELD(server, api_key),
    STRATA_CONFIG_FIELD(server, api_key_file),
    STRATA_CONFIG_FIELD(server, tls_cert_file),
    STRATA_CONFIG_FIELD(server, tls_key_file),
    STRATA_CONFIG_FIELD(server, tls_client_ca_file),
    STRATA_CONFIG_FIELD(server, max_request_body_bytes),
    STRATA_CONFIG_FIELD(server, max_queued_requests),
    STRATA_CONFIG_FIELD(server, http_threads),
    STRATA_CONFIG_FIELD(server, idle_timeout_seconds),
    STRATA_CONFIG_FIELD(server, header_timeout_seconds),
    STRATA_CONFIG_FIELD(server, body_timeout_seconds),
    STRATA_CONFIG_FIELD(server, shutdown_timeout_seconds),
    STRATA_CONFIG_FIELD(server, log_level),
    STRATA_CONFIG_FIELD(model, path),
    STRATA_CONFIG_FIELD(model, served_name),
    STRATA_CONFIG_FIELD(model, tokenizer_path),
    STRATA_CONFIG_FIELD(model, max_model_len),
    STRATA_CONFIG_FIELD(model, random_weights),
    STRATA_CONFIG_FIELD(worker, backend),
    STRATA_CONFIG_FIELD(worker, num_threads),
    STRATA_CONFIG_FIELD(worker, device),
    STRATA_CONFIG_FIELD(worker, gpu_memory_utilization),
    STRATA_CONFIG_FIELD(worker, logits_chunk_tokens),
    STRATA_CONFIG_FIELD(cache, block_size),
    STRATA_CONFIG_FIELD(cache, device_blocks),
    STRATA_CONFIG_FIELD(cache, host_gib),
    STRATA_CONFIG_FIELD(cache, eviction_policy),
    STRATA_CONFIG_FIELD(cache, default_kv_budget_tokens),
    STRATA_CONFIG_FIELD(cache, streaming_sink_tokens),
    STRATA_CONFIG_FIELD(cache, heavy_hitter_recent_tokens),
    STRATA_CONFIG_FIELD(cache, adaptive_precision_sink_tokens),
    STRATA_CONFIG_FIELD(cache, adaptive_precision_recent_tokens),
    STRATA_CONFIG_FIELD(cache, prefix_caching),
    STRATA_CONFIG_FIELD(scheduler, max_num_seqs),
    STRATA_CONFIG_FIELD(scheduler, max_batch_tokens),
    STRATA_CONFIG_FIELD(scheduler, preemption),
    STRATA_CONFIG_FIELD(scheduler, prefill_mode),
    STRATA_CONFIG_FIELD(scheduler, layered_max_groups),
    STRATA_CONFIG_FIELD(scheduler, layered_group_table),
    STRATA_CONFIG_FIELD(scheduler, layered_cohort_tiers),
    STRATA_CONFIG_FIELD(scheduler, prefill_cost_context),
};

#undef STRATA_CONFIG_FIELD

constexpr std::string_view kSections[] = {"server", "model", "worker", "cache", "scheduler"};

// Edit distance counting an insertion, deletion, substitution or swap of two adjacent
// characters ("cahce") as one edit (optimal string alignment).
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// A typo is plausible when at most a third of the name (and at least one character) differs.
bool Plausible(size_t distance, std::string_view name) {
  return distance <= std::max<size_t>(1, name.size() / 3);
}

}  // namespace

std::span<const Field> Fields() { return kFields; }

std::span<const std::string_view> Sections() { return kSections; }

const Field* FindField(std::string_view path) {
  for (const Field& field : kFields) {
    if (field.path == path) return &field;
  }
  return nullptr;
}

std::optional<std::string> SuggestKey(std::string_view section, std::string_view key) {
  if (key.empty()) {
    std::optional<std::string> best;
    size_t best_distance = std::numeric_limits<size_t>::max();
    for (std::string_view known : kSections) {
      size_t d = EditDistance(section, known);
      if (d < best_distance) best_distance = d, best = std::string(known);
    }
    if (best && Plausible(best_distance, section)) return best;
    return std::nullopt;
  }
  // Rank by the distance between key names; a key of the same section wins a tie, so a key
  // put under the wrong section ("scheduler.block_size") still finds its home.
  const Field* best = nullptr;
  size_t best_rank = std::numeric_limits<size_t>::max();
  for (const Field& field : kFields) {
    size_t rank = 2 * EditDistance(key, field.key()) + (field.section() == section ? 0 : 1);
    if (rank < best_rank) best_rank = rank, best = &field;
  }
  if (best && Plausible(best_rank / 2, key)) return std::string(best->path);
  return std::nullopt;
}

std::string_view TypeName(const FieldRef& ref) {
  struct Visitor {
    std::string_view operator()(std::string*) const { return "a string"; }
    std::string_view operator()(int*) const { return "an integer"; }
    std::string_view operator()(int64_t*) const { return "an integer"; }
    std::string_view operator()(double*) const { return "a number"; }
    std::string_view operator()(bool*) const { return "a boolean (true or false)"; }
  };
  return std::visit(Visitor{}, ref);
}

}  // namespace strata::config
