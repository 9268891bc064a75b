// The engine's metrics and memory plan as a Prometheus exposition (/metrics), named
// strata:* after vLLM's vllm:* where the meaning is the same, every sample labelled
// model_name="<served model name>".
#pragma once

#include <string>

#include "scheduler/engine_metrics.h"
#include "worker/worker.h"

namespace strata::server {

// Always emits request_success_total for finished_reason "stop", "length" and "abort" (0
// when absent), then any other reason found in the snapshot.
std::string RenderEngineMetrics(const scheduler::EngineMetricsSnapshot& metrics,
                                const worker::MemoryReport& memory, const std::string& model_name);

}  // namespace strata::server
