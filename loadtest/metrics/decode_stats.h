// Inter-token latency of the background decode streams (loadtest/run/decode_streams.h):
// decode-only during the lead-in, and under load while the measured requests arrive.
// Times are seconds relative to the start of the measured arrivals (the lead-in is before
// 0). A gap is the time between two consecutive output chunks of one stream.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadtest/metrics/request_record.h"
#include "loadtest/metrics/stats.h"

namespace strata::loadtest {

struct DecodeStreamStats {
  int64_t streams = 0;
  double lead_in_s = 0;
  // Gaps that start in the second half of the lead-in and end before 0: decode-only
  // iterations (the first half lets the streams' own prefills and graph warm-up pass).
  Summary baseline_itl_ms;
  // The decode streams' gaps that end in (0, load_end_s].
  Summary load_itl_ms;
  // load_itl_ms together with every gap of the measured requests: all inter-token gaps
  // the clients saw under load.
  Summary all_itl_ms;
  // Sends that failed (not counting the cancellations at the end), e.g. refused by the
  // server: a failed stream is not re-sent.
  int64_t failed = 0;
  std::string first_error;
  int64_t load_tokens = 0;  // decode-stream chunks that arrived in (0, load_end_s]
  // all_itl_ms.p99 / baseline_itl_ms.p50 (0 without a baseline).
  double itl_p99_over_baseline = 0;
};

DecodeStreamStats SummarizeDecodeStreams(const std::vector<RequestRecord>& streams,
                                         const std::vector<RequestRecord>& measured,
                                         int64_t num_streams, double lead_in_s,
                                         double load_end_s);

}  // namespace strata::loadtest
