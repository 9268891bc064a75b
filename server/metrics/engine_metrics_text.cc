#include "server/metrics/engine_metrics_text.h"

#include "server/metrics/prometheus_text.h"

namespace strata::server {

std::string RenderEngineMetrics(const scheduler::EngineMetricsSnapshot& metrics,
                                const worker::MemoryReport& memory, const std::string& model_name) {
  const MetricLabels model = {{"model_name", model_name}};
  auto with_reason = [&](const std::string& reason) {
    MetricLabels labels = model;
    labels.emplace_back("finished_reason", reason);
    return labels;
  };
  PrometheusText out;

  // Scheduler state.
  out.Gauge("strata:num_requests_running", "Number of requests in model execution batches.",
            metrics.num_requests_running, model);
  out.Gauge("strata:num_requests_waiting", "Number of requests waiting to be processed.",
            metrics.num_requests_waiting, model);
  out.Gauge("strata:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
            metrics.kv_cache_usage, model);

  // Counters.
  out.Counter("strata:prompt_tokens_total", "Number of prompt tokens of requests that started.",
              metrics.prompt_tokens_total, model);
  out.Counter("strata:generation_tokens_total", "Number of generation tokens processed.",
              metrics.generation_tokens_total, model);
  out.Counter("strata:num_preemptions_total", "Cumulative number of preemptions by the engine.",
              metrics.num_preemptions_total, model);
  constexpr const char* kSuccessHelp =
      "Count of finished requests, by finished_reason (stop, length or abort).";
  for (const char* reason : {"stop", "length", "abort"}) {
    const auto it = metrics.request_success_total.find(reason);
    out.Counter("strata:request_success_total", kSuccessHelp,
                it == metrics.request_success_total.end() ? 0 : it->second, with_reason(reason));
  }
  for (const auto& [reason, count] : metrics.request_success_total) {
    if (reason == "stop" || reason == "length" || reason == "abort") continue;
    out.Counter("strata:request_success_total", kSuccessHelp, count, with_reason(reason));
  }
  out.Counter("strata:request_failure_total", "Count of requests that failed with an error.",
              metrics.request_failure_total, model);
  out.Counter("strata:iterations_total", "Number of engine iterations (batches) executed.",
              metrics.iterations_total, model);
  out.Counter("strata:num_swap_preemptions_total",
              "Preemptions that swapped the request's KV blocks out to the host tier.",
              metrics.num_swap_preemptions_total, model);
  out.Counter("strata:moe_expert_weight_bytes_total",
              "Expert weight bytes read by forward passes (MoE models): per sparse layer and "
              "pass, the distinct experts activated times the bytes of one expert.",
              metrics.moe_expert_weight_bytes_total, model);

  // KV memory manager.
  const int64_t block_tokens = memory.block_size;
  const int64_t block_bytes =
      memory.num_kv_blocks > 0 ? memory.kv_cache_bytes / memory.num_kv_blocks : 0;
  out.Gauge("strata:host_kv_cache_usage_perc", "Host-tier KV-cache usage. 1 means 100 percent.",
            metrics.host_kv_cache_usage, model);
  for (const auto& [tier, states] : metrics.kv_blocks_by_state) {
    for (const auto& [state, count] : states) {
      MetricLabels labels = model;
      labels.emplace_back("tier", tier);
      labels.emplace_back("state", state);
      out.Gauge("strata:kv_cache_blocks", "KV-cache blocks by tier and owner state.", count,
                labels);
    }
  }
  out.Counter("strata:prefix_cache_queries_total",
              "Prefix cache queries, in terms of number of queried tokens.",
              metrics.kv.prefix_queries * block_tokens, model);
  out.Counter("strata:prefix_cache_hits_total",
              "Prefix cache hits, in terms of number of cached tokens.",
              metrics.kv.prefix_hits * block_tokens, model);
  out.Counter("strata:prefix_cache_host_hits_total",
              "Prefix cache hits served from the host tier (promoted back), in tokens.",
              metrics.kv.prefix_host_hits * block_tokens, model);
  out.Counter("strata:kv_swap_out_bytes_total", "Bytes of KV blocks swapped out to the host tier.",
              metrics.kv.blocks_swapped_out * block_bytes, model);
  out.Counter("strata:kv_swap_in_bytes_total", "Bytes of KV blocks swapped back in.",
              metrics.kv.blocks_swapped_in * block_bytes, model);
  out.Counter("strata:kv_blocks_demoted_total",
              "Cached prefix blocks moved from the device to the host tier.",
              metrics.kv.blocks_demoted, model);
  constexpr const char* kEvictedHelp =
      "KV blocks evicted: by a request's budget policy, or cached prefix blocks reclaimed.";
  MetricLabels budget = model, reclaimed = model;
  budget.emplace_back("reason", "budget");
  reclaimed.emplace_back("reason", "reclaimed");
  out.Counter("strata:kv_blocks_evicted_total", kEvictedHelp, metrics.kv.blocks_dropped, budget);
  out.Counter("strata:kv_blocks_evicted_total", kEvictedHelp, metrics.kv.cached_blocks_reclaimed,
              reclaimed);
  out.Counter("strata:kv_blocks_quantized_total",
              "KV blocks turned to int8 by a request's budget policy (adaptive_precision).",
              metrics.kv.blocks_quantized, model);
  out.Counter("strata:kv_blocks_forked_total",
              "KV block references shared by forking a sequence's cache (the choices of an "
              "n > 1 request share their prompt's blocks).",
              metrics.kv.blocks_forked, model);
  out.Counter("strata:kv_blocks_copied_on_write_total",
              "Shared KV blocks copied (device to device) before a sequence wrote into them.",
              metrics.kv.blocks_copied_on_write, model);

  // Request histograms.
  out.Histogram("strata:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.", metrics.time_to_first_token_seconds,
                model);
  out.Histogram("strata:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.", metrics.inter_token_latency_seconds,
                model);
  out.Histogram("strata:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.", metrics.e2e_request_latency_seconds,
                model);
  out.Histogram("strata:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                metrics.request_queue_time_seconds, model);
  out.Histogram("strata:request_prompt_tokens", "Number of prompt tokens per request.",
                metrics.request_prompt_tokens, model);
  out.Histogram("strata:request_generation_tokens",
                "Number of generation tokens per finished request.",
                metrics.request_generation_tokens, model);

  // Memory plan.
  out.Gauge("strata:memory_weight_bytes", "Device memory held by the model weights, in bytes.",
            memory.weight_bytes, model);
  out.Gauge("strata:memory_kv_cache_bytes", "Device memory held by the KV-cache pool, in bytes.",
            memory.kv_cache_bytes, model);
  out.Gauge("strata:kv_cache_blocks_capacity", "Number of KV-cache blocks in the device pool.",
            metrics.kv_blocks_total, model);
  out.Gauge("strata:kv_cache_blocks_used", "Number of KV-cache blocks in use.",
            metrics.kv_blocks_used, model);
  out.Gauge("strata:kv_cache_block_size_tokens", "Number of tokens per KV-cache block.",
            memory.block_size, model);
  out.Gauge("strata:memory_host_kv_cache_bytes",
            "Pinned host memory held by the host KV-cache tier, in bytes.",
            memory.host_kv_cache_bytes, model);
  out.Gauge("strata:host_kv_cache_blocks_capacity", "Number of KV-cache blocks in the host tier.",
            memory.num_host_kv_blocks, model);
  return out.Finish();
}

}  // namespace strata::server
