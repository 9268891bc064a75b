#include "loadtest/metrics/decode_stats.h"

namespace strata::loadtest {

DecodeStreamStats SummarizeDecodeStreams(const std::vector<RequestRecord>& streams,
                                         const std::vector<RequestRecord>& measured,
                                         int64_t num_streams, double lead_in_s,
                                         double load_end_s) {
  DecodeStreamStats s;
  s.streams = num_streams;
  s.lead_in_s = lead_in_s;
  std::vector<double> baseline, load;
  for (const RequestRecord& r : streams) {
    if (!r.ok() && r.error_kind != "deadline") {
      if (s.failed++ == 0) s.first_error = r.error_kind + ": " + r.error_message;
    }
    if (!r.ttft_s) continue;
    double t = r.start_s + *r.ttft_s;  // the first chunk
    if (t > 0 && t <= load_end_s) ++s.load_tokens;
    for (double gap : r.itl_s) {
      const double begin = t;
      t += gap;
      if (begin >= -lead_in_s / 2 && t <= 0) baseline.push_back(gap * 1e3);
      if (t > 0 && t <= load_end_s) {
        load.push_back(gap * 1e3);
        ++s.load_tokens;
      }
    }
  }
  std::vector<double> all = load;
  for (const RequestRecord& r : measured) {
    for (double gap : r.itl_s) all.push_back(gap * 1e3);
  }
  s.baseline_itl_ms = Summarize(std::move(baseline));
  s.load_itl_ms = Summarize(std::move(load));
  s.all_itl_ms = Summarize(std::move(all));
  if (s.baseline_itl_ms.count > 0 && s.baseline_itl_ms.p50 > 0) {
    s.itl_p99_over_baseline = s.all_itl_ms.p99 / s.baseline_itl_ms.p50;
  }
  return s;
}

}  // namespace strata::loadtest
