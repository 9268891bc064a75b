#include "scheduler/engine_metrics.h"

namespace strata::scheduler {
namespace {

// vLLM's bucket bounds, so dashboards and alert thresholds carry over.
std::vector<double> TtftBounds() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
}
std::vector<double> ItlBounds() {
  return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
          0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
}
std::vector<double> RequestLatencyBounds() {
  return {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
          30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
}
std::vector<double> TokenCountBounds() {
  return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};
}

}  // namespace

EngineMetricsSnapshot::EngineMetricsSnapshot()
    : time_to_first_token_seconds(TtftBounds()),
      inter_token_latency_seconds(ItlBounds()),
      e2e_request_latency_seconds(RequestLatencyBounds()),
      request_queue_time_seconds(RequestLatencyBounds()),
      request_prompt_tokens(TokenCountBounds()),
      request_generation_tokens(TokenCountBounds()) {}

}  // namespace strata::scheduler
