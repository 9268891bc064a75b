// The server's own counters over a run: /metrics (Prometheus text exposition) is scraped
// when the measured load starts and when it ends, and the deltas are reported, e.g. MoE
// expert-weight bytes read per generated token (Strata's
// strata:moe_expert_weight_bytes_total / strata:generation_tokens_total). Parsing is a pure
// function; the scrape itself is a blocking GET (loadtest/client/http_get.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace strata::loadtest {

inline constexpr char kExpertBytesMetric[] = "strata:moe_expert_weight_bytes_total";
inline constexpr char kGenerationTokensMetric[] = "strata:generation_tokens_total";

// Metric name -> the sum of its samples over all label sets. Comments (# HELP, # TYPE),
// blank lines and lines that do not parse are skipped; an optional timestamp after the value
// is ignored; values may be NaN or +Inf/-Inf.
std::map<std::string, double> ParsePrometheusText(std::string_view text);

struct ServerCounterDeltas {
  bool has_expert_bytes = false;  // the server exports the expert-weight counter
  bool has_generation_tokens = false;
  double expert_weight_bytes = 0;  // after - before
  double generation_tokens = 0;
  // Expert-weight bytes per generated token; none for a dense model (the counter is absent
  // or did not move) or when no token was generated.
  std::optional<double> ExpertBytesPerToken() const;
};

ServerCounterDeltas DiffServerCounters(const std::map<std::string, double>& before,
                                       const std::map<std::string, double>& after);

// {"expert_weight_bytes", "generation_tokens", "expert_weight_bytes_per_token" (null: n/a)};
// counters the server does not export are null.
nlohmann::json ServerCountersJson(const ServerCounterDeltas& d);

}  // namespace strata::loadtest
