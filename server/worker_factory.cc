#include "server/worker_factory.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "worker/cpu_worker.h"
#ifdef STRATA_HAVE_CUDA
#include "worker/cuda_worker.h"
#endif

namespace strata::server {
namespace {

int64_t AvailableMemoryBytes() {
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? int64_t{pages} * page_size : int64_t{4} << 30;
}

}  // namespace

absl::StatusOr<std::unique_ptr<worker::Worker>> CreateWorker(const config::StrataConfig& config) {
#ifdef STRATA_HAVE_CUDA
  if (config.worker.backend == "cuda") {
    worker::CudaWorkerOptions options;
    options.device = config.worker.device;
    options.gpu_memory_utilization = config.worker.gpu_memory_utilization;
    options.block_size = config.cache.block_size;
    options.num_blocks = config.cache.device_blocks;
    options.max_batch_tokens = config.scheduler.max_batch_tokens;
    options.max_num_seqs = config.scheduler.max_num_seqs;
    options.logits_chunk_rows = config.worker.logits_chunk_tokens;
    options.max_model_len = config.model.max_model_len;
    options.host_cache_bytes = static_cast<int64_t>(config.cache.host_gib * (int64_t{1} << 30));
    options.random_weights = config.model.random_weights;  // validated: cuda only, explicit
    options.layered_prefill = config.scheduler.prefill_mode == "layered";
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<worker::CudaWorker> worker,
                            worker::CudaWorker::Create(config.model.path, options));
    return std::unique_ptr<worker::Worker>(std::move(worker));
  }
#endif
  if (config.worker.backend != "cpu") {
    return absl::UnimplementedError(absl::StrCat("worker.backend: '", config.worker.backend,
                                                 "' is not available in this build"));
  }
  STRATA_ASSIGN_OR_RETURN(worker::ModelConfig model, worker::LoadModelConfig(config.model.path));
  worker::CpuWorkerOptions options;
  options.block_size = config.cache.block_size;
  options.logits_chunk_rows = config.worker.logits_chunk_tokens;
  options.num_threads = config.worker.num_threads;
  options.num_blocks = static_cast<int32_t>(config.cache.device_blocks);
  options.host_cache_bytes = static_cast<int64_t>(config.cache.host_gib * (int64_t{1} << 30));
  if (options.num_blocks == 0) {
    const int64_t max_len =
        config.model.max_model_len > 0 ? config.model.max_model_len : model.max_position_embeddings;
    const int64_t bytes_per_token =
        2 * model.num_hidden_layers * model.num_key_value_heads * model.head_dim * 4;
    const int64_t wanted = bytes_per_token * max_len * config.scheduler.max_num_seqs;
    options.kv_cache_bytes = std::min(wanted, AvailableMemoryBytes() / 4);
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<worker::CpuWorker> worker,
                          worker::CpuWorker::Create(config.model.path, options));
  return std::unique_ptr<worker::Worker>(std::move(worker));
}

scheduler::EngineOptions EngineOptionsFrom(const config::StrataConfig& config) {
  scheduler::EngineOptions options;
  options.max_num_seqs = config.scheduler.max_num_seqs;
  options.max_batch_tokens = config.scheduler.max_batch_tokens;
  options.max_model_len = config.model.max_model_len;
  options.preemption = config.scheduler.preemption == "swap" ? scheduler::PreemptionMode::kSwap
                                                             : scheduler::PreemptionMode::kRecompute;
  options.prefix_caching = config.cache.prefix_caching;
  options.eviction_policy = config.cache.eviction_policy;
  options.default_kv_budget_tokens = config.cache.default_kv_budget_tokens;
  options.streaming_sink_tokens = config.cache.streaming_sink_tokens;
  options.heavy_hitter_recent_tokens = config.cache.heavy_hitter_recent_tokens;
  options.adaptive_sink_tokens = config.cache.adaptive_precision_sink_tokens;
  options.adaptive_recent_tokens = config.cache.adaptive_precision_recent_tokens;
  options.prefill_mode = config.scheduler.prefill_mode == "whole"   ? scheduler::PrefillMode::kWhole
                         : config.scheduler.prefill_mode == "layered" ? scheduler::PrefillMode::kLayered
                                                                      : scheduler::PrefillMode::kChunked;
  options.layered.max_groups = config.scheduler.layered_max_groups;
  options.layered.cohort_tiers = config.scheduler.layered_cohort_tiers;
  options.prefill_cost_context = config.scheduler.prefill_cost_context;
  options.layered.table.clear();
  // Validated with the configuration. (The StatusOr must outlive the loop over its rows.)
  const auto table = config::ParseLayerGroupTable(config.scheduler.layered_group_table);
  for (const config::LayerGroupRow& row : *table) {
    options.layered.table.push_back({row.max_tokens, row.groups});
  }
  return options;
}

}  // namespace strata::server
