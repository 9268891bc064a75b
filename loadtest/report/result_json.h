// The result file: one JSON object with the run's configuration (as the command line gave
// it), its summary figures at the top level (completed, failed, ttft_ms, tpot_ms, itl_ms,
// e2e_ms each with mean/std/min/max/p50/p90/p95/p99/p99.9, throughput, goodput), the time
// series, the warm-up counts and every measured request; with background decode streams
// "decode_streams", with a metrics scrape "server_metrics" (added by the run command).
// Latencies are in milliseconds.
// The HTML report and `compare` read this format; `format_version` changes when a field
// changes meaning.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "loadtest/metrics/decode_stats.h"
#include "loadtest/metrics/run_summary.h"
#include "loadtest/run/runner.h"
#include "nlohmann/json.hpp"

namespace strata::loadtest {

inline constexpr int kResultFormatVersion = 1;

nlohmann::json SummaryJson(const Summary& s);

// The background decode streams' figures (loadtest/metrics/decode_stats.h).
nlohmann::json DecodeStreamsJson(const DecodeStreamStats& s);

nlohmann::json ResultJson(const nlohmann::json& config, const RunOutput& output,
                          const RunSummary& summary);

// Reads and checks a result file (an object with format_version and the summary fields).
absl::StatusOr<nlohmann::json> ReadResultFile(const std::string& path);
absl::Status WriteTextFile(const std::string& path, const std::string& text);

}  // namespace strata::loadtest
