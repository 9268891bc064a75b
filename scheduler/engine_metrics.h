// What the engine thread measures: token and request counters, queue and KV gauges, and
// latency histograms, with vLLM's meanings (exported as strata:* by the server).
// Written only by the engine thread; read through EngineLoop::Metrics() snapshots.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "base/histogram.h"
#include "cache/kv_cache_manager.h"

namespace strata::scheduler {

struct EngineMetricsSnapshot {
  int64_t num_requests_running = 0;
  int64_t num_requests_waiting = 0;
  double kv_cache_usage = 0.0;  // used (owned or in flight) / total device blocks, in [0, 1]
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;
  double host_kv_cache_usage = 0.0;  // likewise for the host tier (0 when it has no blocks)
  // Blocks per tier ("device", "host") and state ("free", "owned", "cached", "in_flight").
  std::map<std::string, std::map<std::string, int64_t>> kv_blocks_by_state;
  cache::KvCacheStats kv;  // prefix queries/hits, swaps, demotions, drops
  int64_t num_swap_preemptions_total = 0;
  int64_t prompt_tokens_total = 0;      // prompt tokens of requests that started
  int64_t generation_tokens_total = 0;  // tokens generated
  int64_t num_preemptions_total = 0;
  int64_t iterations_total = 0;
  // MoE models: expert weight bytes the worker's forward passes read (Worker::
  // ExpertWeightBytesRead); divided by generation_tokens_total, bytes per generated token.
  int64_t moe_expert_weight_bytes_total = 0;
  std::map<std::string, int64_t> request_success_total;  // by finished_reason
  int64_t request_failure_total = 0;
  Histogram time_to_first_token_seconds;
  Histogram inter_token_latency_seconds;
  Histogram e2e_request_latency_seconds;
  Histogram request_queue_time_seconds;
  Histogram request_prompt_tokens;
  Histogram request_generation_tokens;

  EngineMetricsSnapshot();
};

using EngineMetrics = EngineMetricsSnapshot;

}  // namespace strata::scheduler
