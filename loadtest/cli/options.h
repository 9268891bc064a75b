// The command line of `strata-loadtest` (the run sub-command, the default) and its usage
// text. Parsing only checks each value's form; cross-checks that need files or the
// network happen when the run is set up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loadtest/metrics/slo.h"
#include "loadtest/run/progress.h"
#include "loadtest/workload/arrivals.h"
#include "loadtest/workload/length_dist.h"
#include "nlohmann/json.hpp"

namespace strata::loadtest {

struct RunOptions {
  // Target.
  std::string base_url = "http://127.0.0.1:8000";
  std::string backend = "openai";  // openai | grpc
  std::string grpc_target = "127.0.0.1:50051";
  std::string endpoint = "completions";  // completions | chat
  std::string model;                     // empty: asked from the server
  std::string api_key;                   // empty: $OPENAI_API_KEY, if set
  bool allow_remote = false;
  bool ignore_eos = true;
  std::optional<double> temperature;
  nlohmann::json extra_body = nlohmann::json::object();

  // Workload.
  std::optional<int64_t> num_requests;  // default 100 (synthetic) or the whole trace
  LengthDist input_len = LengthDist::Fixed(128);
  LengthDist output_len = LengthDist::Fixed(128);
  int32_t num_prefixes = 0;
  int32_t prefix_len = 0;
  std::string trace;
  std::string trace_format;  // empty: detected
  std::string trace_model;   // BurstGPT Model filter
  int32_t max_input_len = 0;
  int32_t max_output_len = 0;
  std::string tokenizer;  // model or tokenizer directory
  bool token_id_prompts = false;
  uint64_t seed = 0;
  // Background decode streams (see loadtest/run/decode_streams.h).
  int32_t decode_streams = 0;
  LengthDist decode_input_len = LengthDist::Fixed(128);
  LengthDist decode_output_len = LengthDist::Fixed(2048);
  std::optional<double> lead_in_s;  // default 5 s with decode streams
  double lead_out_s = 0;            // the streams alone after the measured phase

  // Arrivals and limits.
  double request_rate = 0;  // 0: infinite
  std::string arrival;      // empty: chosen from the other flags
  double burstiness = 1;
  double time_scale = 1;
  int32_t max_concurrency = 0;
  int32_t warmup_requests = 0;
  double max_duration_s = 600;
  double request_timeout_s = 300;
  // Server counters scraped at the measured start and end; empty: the base URL's /metrics
  // (OpenAI backend), "none": no scrape.
  std::string metrics_url;

  // Output.
  std::string result_path;
  std::string html_path;
  std::string label;
  std::optional<Slo> slo;
  Progress::Mode progress = Progress::Mode::kAuto;
  bool quiet = false;
};

// argv without the program name (and without "run").
absl::StatusOr<RunOptions> ParseRunOptions(const std::vector<std::string>& args);

// The arrival process the options describe.
absl::StatusOr<ArrivalOptions> ArrivalsOf(const RunOptions& options);

extern const char kUsage[];

}  // namespace strata::loadtest
