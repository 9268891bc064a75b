// The figures of a run, computed from its request records: counts, errors by kind, latency
// summaries in milliseconds, throughput, goodput against the SLOs, and time series
// (output tokens per second, completions per second and requests in flight, per time bin).
// Token throughput counts completed requests only, with the server's usage figures.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loadtest/metrics/request_record.h"
#include "loadtest/metrics/slo.h"
#include "loadtest/metrics/stats.h"

namespace strata::loadtest {

// Requests in flight from time t (seconds since the run's start) until the next sample.
struct ConcurrencySample {
  double t = 0;
  int32_t in_flight = 0;
};

struct Timeline {
  double bin_s = 1;
  std::vector<double> output_tok_s;     // per bin
  std::vector<double> completed_req_s;  // per bin
  std::vector<double> in_flight;        // time-weighted mean per bin
};

struct RunSummary {
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t not_sent = 0;                   // still unsent when the run's time limit came
  std::map<std::string, int64_t> errors;  // kind -> count
  int64_t usage_missing = 0;              // completed requests without a usage report
  double duration_s = 0;                  // from the run's start to the last request's end
  int64_t total_input_tokens = 0;
  int64_t total_output_tokens = 0;
  double request_throughput = 0;  // completed / duration
  double input_throughput = 0;    // tokens/s
  double output_throughput = 0;
  double total_throughput = 0;
  Summary ttft_ms, tpot_ms, itl_ms, e2e_ms;
  std::optional<Slo> slo;
  int64_t good = 0;
  double goodput = 0;           // good requests / duration
  double goodput_fraction = 0;  // good / (completed + failed)
  int32_t max_in_flight = 0;
  Timeline timeline;
};

RunSummary SummarizeRun(const std::vector<RequestRecord>& records, int64_t not_sent,
                        const std::vector<ConcurrencySample>& concurrency,
                        const std::optional<Slo>& slo);

// Arrival times of a record's output chunks (seconds since the run's start) and the tokens
// each carried: exact per chunk when the protocol says, else the usage total spread evenly.
void ChunkTimeline(const RequestRecord& record, std::vector<double>* times,
                   std::vector<double>* tokens);

}  // namespace strata::loadtest
