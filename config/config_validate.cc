#include "config/config_validate.h"

#include "config/strata_config.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace strata::config {
namespace {

class Checker {
 public:
  // `value` in [lo, hi].
  void InRange(const char* path, int64_t value, int64_t lo, int64_t hi) {
    if (value < lo || value > hi)
      Fail(path, absl::StrCat("must be in [", lo, ", ", hi, "]"), value);
  }
  void AtLeast(const char* path, int64_t value, int64_t lo) {
    if (value < lo) Fail(path, absl::StrCat("must be >= ", lo), value);
  }
  void Positive(const char* path, int64_t value) {
    if (value <= 0) Fail(path, "must be > 0", value);
  }
  void OneOf(const char* path, const std::string& value,
             std::initializer_list<const char*> allowed) {
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
    errors_.push_back(absl::StrCat(path, ": must be one of ", absl::StrJoin(allowed, ", "),
                                   ", got \"", value, "\""));
  }
  void NotEmpty(const char* path, const std::string& value) {
    if (value.empty()) errors_.push_back(absl::StrCat(path, ": must not be empty"));
  }
  void Add(std::string message) { errors_.push_back(std::move(message)); }
  void Fail(const char* path, const std::string& rule, const auto& got) {
    errors_.push_back(absl::StrCat(path, ": ", rule, ", got ", got));
  }

  std::vector<std::string> Take() { return std::move(errors_); }

 private:
  std::vector<std::string> errors_;
};

void CheckServer(const ServerOptions& s, Checker& c) {
  c.NotEmpty("server.host", s.host);
  c.InRange("server.http_port", s.http_port, 0, 65535);
  c.InRange("server.grpc_port", s.grpc_port, 0, 65535);
  if (s.http_port != 0 && s.http_port == s.grpc_port) {
    c.Add(absl::StrCat("server.grpc_port: must differ from server.http_port, both are ",
                       s.grpc_port));
  }
  c.Positive("server.max_request_body_bytes", s.max_request_body_bytes);
  c.AtLeast("server.max_queued_requests", s.max_queued_requests, 1);
  c.AtLeast("server.http_threads", s.http_threads, 1);
  if (!(s.idle_timeout_seconds > 0.0)) {
    c.Add(absl::StrCat("server.idle_timeout_seconds: must be positive, got ",
                       s.idle_timeout_seconds));
  }
  if (!(s.header_timeout_seconds > 0.0)) {
    c.Add(absl::StrCat("server.header_timeout_seconds: must be positive, got ",
                       s.header_timeout_seconds));
  }
  if (!(s.body_timeout_seconds > 0.0)) {
    c.Add(absl::StrCat("server.body_timeout_seconds: must be positive, got ",
                       s.body_timeout_seconds));
  }
  if (!s.tls_cert_file.empty() && s.tls_key_file.empty()) {
    c.Add("server.tls_key_file: required when server.tls_cert_file is set");
  }
  if (s.tls_cert_file.empty() && !s.tls_key_file.empty()) {
    c.Add("server.tls_cert_file: required when server.tls_key_file is set");
  }
  if (!s.tls_client_ca_file.empty() && s.tls_cert_file.empty()) {
    c.Add(
        "server.tls_client_ca_file: mutual TLS needs server.tls_cert_file and "
        "server.tls_key_file too");
  }
  if (!(s.shutdown_timeout_seconds >= 0.0)) {
    c.Add(absl::StrCat("server.shutdown_timeout_seconds: must be at least 0, got ",
                       s.shutdown_timeout_seconds));
  }
  c.OneOf("server.log_level", s.log_level, {"debug", "info", "warning", "error"});
}

void CheckModel(const ModelOptions& m, Checker& c) {
  if (m.path.empty()) {
    c.Add("model.path: required (set it in the config file or with --set model.path=DIR)");
  }
  c.AtLeast("model.max_model_len", m.max_model_len, 0);
}

void CheckWorker(const WorkerOptions& w, Checker& c) {
  c.OneOf("worker.backend", w.backend, {"cpu", "cuda"});
  c.AtLeast("worker.num_threads", w.num_threads, 0);
  c.AtLeast("worker.device", w.device, 0);
  // Written so that NaN fails too.
  if (!(w.gpu_memory_utilization > 0.0 && w.gpu_memory_utilization <= 1.0)) {
    c.Fail("worker.gpu_memory_utilization", "must be in (0, 1]", w.gpu_memory_utilization);
  }
  c.AtLeast("worker.logits_chunk_tokens", w.logits_chunk_tokens, 1);
}

void CheckCache(const CacheOptions& k, Checker& c) {
  const int b = k.block_size;
  if (b < 8 || b > 256 || (b & (b - 1)) != 0) {
    c.Fail("cache.block_size", "must be a power of two in [8, 256]", b);
  }
  c.AtLeast("cache.device_blocks", k.device_blocks, 0);
  if (!(k.host_gib >= 0.0)) c.Fail("cache.host_gib", "must be >= 0", k.host_gib);
  c.OneOf("cache.eviction_policy", k.eviction_policy, {"none", "streaming", "heavy_hitter", "adaptive_precision"});
  c.AtLeast("cache.default_kv_budget_tokens", k.default_kv_budget_tokens, 0);
  c.AtLeast("cache.streaming_sink_tokens", k.streaming_sink_tokens, 0);
  c.AtLeast("cache.heavy_hitter_recent_tokens", k.heavy_hitter_recent_tokens, 0);
  c.AtLeast("cache.adaptive_precision_sink_tokens", k.adaptive_precision_sink_tokens, 0);
  c.AtLeast("cache.adaptive_precision_recent_tokens", k.adaptive_precision_recent_tokens, 0);
}

void CheckScheduler(const SchedulerOptions& s, Checker& c) {
  c.AtLeast("scheduler.max_num_seqs", s.max_num_seqs, 1);
  c.AtLeast("scheduler.max_batch_tokens", s.max_batch_tokens, 1);
  c.OneOf("scheduler.preemption", s.preemption, {"swap", "recompute"});
  c.OneOf("scheduler.prefill_mode", s.prefill_mode, {"whole", "chunked", "layered"});
  c.AtLeast("scheduler.layered_max_groups", s.layered_max_groups, 1);
  c.AtLeast("scheduler.prefill_cost_context", s.prefill_cost_context, 0);
  if (auto table = ParseLayerGroupTable(s.layered_group_table); !table.ok()) {
    c.Fail("scheduler.layered_group_table", std::string(table.status().message()),
           s.layered_group_table);
  }
}

}  // namespace

std::vector<std::string> ValidationErrors(const StrataConfig& config) {
  Checker checker;
  CheckServer(config.server, checker);
  CheckModel(config.model, checker);
  CheckWorker(config.worker, checker);
  if (config.model.random_weights && config.worker.backend != "cuda") {
    checker.Add("model.random_weights: only the cuda backend generates random weights");
  }
  CheckCache(config.cache, checker);
  CheckScheduler(config.scheduler, checker);
  return checker.Take();
}

absl::Status ValidateConfig(const StrataConfig& config) {
  std::vector<std::string> errors = ValidationErrors(config);
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

}  // namespace strata::config
