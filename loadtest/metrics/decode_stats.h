// Inter-token latency of the background decode streams (loadtest/run/decode_streams.h):
// decode-only during the lead-in (and the lead-out, after the measured phase), and under
// load while the measured requests arrive among them. Times are seconds relative to the
// start of the measured arrivals (the lead-in is before 0). A gap is the time between two
// consecutive output chunks of one stream.
//
// A decode-only iteration slows as the streams' contexts grow (every step reads each
// stream's whole KV cache), and the streams grow through the run. The lead-in alone gives
// the decode-only gap at the shortest contexts of the run; with a lead-out, the gap is a
// line in the context between the lead-in's and the lead-out's medians, and each gap under
// load is compared with that line at the context the streams had when it ended.
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

  // Gaps that start at or after load_end_s: the streams alone again (count 0: no lead-out).
  Summary lead_out_itl_ms;
  // A stream's context (prompt plus tokens so far) when a gap ends, median over the
  // baseline's gaps and over the lead-out's.
  double baseline_context = 0;
  double lead_out_context = 0;
  // The decode-only line through (baseline_context, baseline p50) and (lead_out_context,
  // lead-out p50): its slope, and its value at the median context of the load's gaps.
  double decode_only_ms_per_1k_context = 0;
  double matched_decode_only_ms = 0;
  // Every gap under load (all_itl_ms's) over the line at the streams' context when it
  // ended (a measured request's gap takes the context of the stream gap nearest in time):
  // the p99 of those ratios, and their p50 (0 without both a baseline and a lead-out).
  double itl_p99_over_matched = 0;
  double itl_p50_over_matched = 0;
};

// `streams`' prompt lengths come from usage where known, else from their specs.
DecodeStreamStats SummarizeDecodeStreams(const std::vector<RequestRecord>& streams,
                                         const std::vector<RequestRecord>& measured,
                                         int64_t num_streams, double lead_in_s,
                                         double load_end_s);

}  // namespace strata::loadtest
