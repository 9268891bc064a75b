// The daemon's configuration: one YAML file with sections server, model, worker, cache and
// scheduler, defaults for every key but model.path, and `--set key.path=value` overrides.
// Unknown keys are errors; every validation error names the key path and the reason, e.g.
// "cache.block_size: must be a power of two in [8, 256], got 12".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::config {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int http_port = 8000;   // 0: any free port (the bound port is logged)
  int grpc_port = 50051;  // 0: any free port
  std::string api_key;    // empty: no authentication
  int64_t max_request_body_bytes = 8 << 20;
  int max_queued_requests = 1024;          // beyond this, 429 / RESOURCE_EXHAUSTED
  int http_threads = 2;                    // I/O threads of the HTTP server
  double idle_timeout_seconds = 60.0;      // an idle keep-alive connection is closed
  double shutdown_timeout_seconds = 30.0;  // SIGTERM: in-flight requests get this long
  std::string log_level = "info";          // debug | info | warning | error
  // Authentication, TLS and per-connection timeouts (kept last so that positional
  // initializers of the fields above stay valid).
  std::string api_key_file;              // more accepted keys, one per line, '#' comments
  std::string tls_cert_file;             // PEM chain; with tls_key_file both listeners use TLS
  std::string tls_key_file;              // PEM private key
  std::string tls_client_ca_file;        // PEM CAs; set: clients must present a certificate
  double header_timeout_seconds = 10.0;  // first byte of a request to the end of its header
  double body_timeout_seconds = 60.0;    // end of the header to the end of the body
};

struct ModelOptions {
  std::string path;            // Hugging Face model directory (required)
  std::string served_name;     // name in the API; empty: the directory's base name
  std::string tokenizer_path;  // empty: `path`
  int64_t max_model_len = 0;   // 0: the model's max_position_embeddings
  // Benchmarks only (cuda backend): seeded random bf16 weights of config.json's shape; no
  // checkpoint is read, so `path` may hold config.json and the tokenizer files alone.
  bool random_weights = false;
};

struct WorkerOptions {
  std::string backend = "cpu";  // "cpu" or "cuda"
  int num_threads = 0;          // CPU backend threads; 0: all cores
  int device = 0;               // CUDA device ordinal
  double gpu_memory_utilization = 0.90;
  int logits_chunk_tokens = 256;  // logits are computed in chunks of at most this many rows
};

struct CacheOptions {
  int block_size = 16;                   // tokens per KV block, power of two in [8, 256]
  int64_t device_blocks = 0;             // 0: sized by the memory plan
  double host_gib = 0.0;                 // the pinned CPU tier
  std::string eviction_policy = "none";  // none | streaming | heavy_hitter | adaptive_precision
  int64_t default_kv_budget_tokens = 0;  // 0: unlimited
  int64_t streaming_sink_tokens = 4;     // attention sinks kept by the streaming policy
  bool prefix_caching = false;
  int64_t heavy_hitter_recent_tokens = 64;  // recent window heavy_hitter never drops
  int64_t adaptive_precision_sink_tokens = 4;     // adaptive_precision: full-precision sinks
  int64_t adaptive_precision_recent_tokens = 64;  // adaptive_precision: full-precision window
};

struct SchedulerOptions {
  int max_num_seqs = 64;
  int max_batch_tokens = 4096;
  std::string preemption = "recompute";  // swap | recompute
  std::string prefill_mode = "chunked";  // whole | chunked | layered
  int layered_max_groups = 16;           // G_max: layer groups of the largest cohorts
  // Layered prefill: cohorts of at most TOKENS prompt tokens run in GROUPS layer groups;
  // larger ones in layered_max_groups.
  std::string layered_group_table = "512:1,1024:2,2048:4,4096:8";
  // A new cohort may start at a smaller table row's size when that row completes more
  // prompt tokens per iteration, no heavier than a full-budget cohort's iterations.
  bool layered_cohort_tiers = false;
  // Chunked and layered prefill charge a prompt token 1 + (tokens it attends over) / this
  // against max_batch_tokens, so chunks late in a long prompt are shorter; 0: 1 per token.
  int64_t prefill_cost_context = 0;
};

// One row of scheduler.layered_group_table.
struct LayerGroupRow {
  int64_t max_tokens = 0;
  int groups = 1;
};
// Parses "TOKENS:GROUPS,..." (TOKENS strictly ascending and > 0, GROUPS >= 1); an empty
// text is an empty table. InvalidArgument saying what is wrong otherwise.
absl::StatusOr<std::vector<LayerGroupRow>> ParseLayerGroupTable(std::string_view text);

struct StrataConfig {
  ServerOptions server;
  ModelOptions model;
  WorkerOptions worker;
  CacheOptions cache;
  SchedulerOptions scheduler;
};

// Parses YAML text (empty text: all defaults), applies the `key.path=value` overrides in
// order, then validates. `source` names the origin (a file path) in error messages.
absl::StatusOr<StrataConfig> ParseConfig(std::string_view yaml_text, std::string_view source,
                                         const std::vector<std::string>& overrides);

// Reads `path` (empty: no file, defaults only) and calls ParseConfig.
absl::StatusOr<StrataConfig> LoadConfig(const std::string& path,
                                        const std::vector<std::string>& overrides);

// The effective configuration as YAML (for logs and `stratad --print-config`).
std::string ToYaml(const StrataConfig& config);

}  // namespace strata::config
