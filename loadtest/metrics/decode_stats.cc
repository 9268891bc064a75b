#include "loadtest/metrics/decode_stats.h"

#include <algorithm>
#include <utility>

namespace strata::loadtest {

namespace {

struct Gap {
  double end_s = 0;
  double ms = 0;
  double context = 0;  // tokens in the stream's cache when the gap's chunk was produced
};

double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return PercentileOfSorted(v, 50);
}

// Each gap of a record with the time it ended and, for streams, its context.
template <typename Fn>
void ForEachGap(const RequestRecord& r, Fn&& fn) {
  if (!r.ttft_s) return;
  const double prompt = r.prompt_tokens.value_or(r.prompt_len);
  const bool counted = r.chunk_tokens.size() == r.itl_s.size() + 1;
  double t = r.start_s + *r.ttft_s;  // the first chunk
  double tokens = counted ? r.chunk_tokens[0] : 1;
  for (size_t k = 0; k < r.itl_s.size(); ++k) {
    const double begin = t;
    t += r.itl_s[k];
    fn(begin, Gap{t, r.itl_s[k] * 1e3, prompt + tokens});
    tokens += counted ? r.chunk_tokens[k + 1] : 1;
  }
}

}  // namespace

DecodeStreamStats SummarizeDecodeStreams(const std::vector<RequestRecord>& streams,
                                         const std::vector<RequestRecord>& measured,
                                         int64_t num_streams, double lead_in_s,
                                         double load_end_s) {
  DecodeStreamStats s;
  s.streams = num_streams;
  s.lead_in_s = lead_in_s;
  std::vector<Gap> baseline, load, lead_out;
  for (const RequestRecord& r : streams) {
    if (!r.ok() && r.error_kind != "deadline") {
      if (s.failed++ == 0) s.first_error = r.error_kind + ": " + r.error_message;
    }
    if (r.ttft_s) {
      const double first = r.start_s + *r.ttft_s;
      if (first > 0 && first <= load_end_s) ++s.load_tokens;
    }
    ForEachGap(r, [&](double begin, const Gap& g) {
      if (begin >= -lead_in_s / 2 && g.end_s <= 0) baseline.push_back(g);
      if (g.end_s > 0 && g.end_s <= load_end_s) {
        load.push_back(g);
        ++s.load_tokens;
      }
      if (begin >= load_end_s) lead_out.push_back(g);
    });
  }
  const auto ms_of = [](const std::vector<Gap>& gaps) {
    std::vector<double> ms;
    for (const Gap& g : gaps) ms.push_back(g.ms);
    return ms;
  };
  const auto context_of = [](const std::vector<Gap>& gaps) {
    std::vector<double> c;
    for (const Gap& g : gaps) c.push_back(g.context);
    return MedianOf(std::move(c));
  };
  // The measured requests' gaps, with the context of the stream gap that ended nearest.
  std::vector<Gap> by_time = load;
  std::sort(by_time.begin(), by_time.end(),
            [](const Gap& a, const Gap& b) { return a.end_s < b.end_s; });
  std::vector<Gap> all = load;
  for (const RequestRecord& r : measured) {
    ForEachGap(r, [&](double, Gap g) {
      g.context = 0;
      if (!by_time.empty()) {
        auto it = std::lower_bound(by_time.begin(), by_time.end(), g.end_s,
                                   [](const Gap& a, double t) { return a.end_s < t; });
        if (it == by_time.end() || (it != by_time.begin() &&
                                    g.end_s - std::prev(it)->end_s < it->end_s - g.end_s)) {
          --it;
        }
        g.context = it->context;
      }
      all.push_back(g);
    });
  }
  s.baseline_itl_ms = Summarize(ms_of(baseline));
  s.load_itl_ms = Summarize(ms_of(load));
  s.all_itl_ms = Summarize(ms_of(all));
  s.lead_out_itl_ms = Summarize(ms_of(lead_out));
  s.baseline_context = context_of(baseline);
  s.lead_out_context = context_of(lead_out);
  if (s.baseline_itl_ms.count > 0 && s.baseline_itl_ms.p50 > 0) {
    s.itl_p99_over_baseline = s.all_itl_ms.p99 / s.baseline_itl_ms.p50;
  }
  if (s.baseline_itl_ms.count == 0 || s.lead_out_itl_ms.count == 0 || load.empty()) return s;
  const double dc = s.lead_out_context - s.baseline_context;
  const double slope = dc > 0 ? (s.lead_out_itl_ms.p50 - s.baseline_itl_ms.p50) / dc : 0;
  const double at_baseline =
      dc > 0 ? s.baseline_itl_ms.p50 : (s.baseline_itl_ms.p50 + s.lead_out_itl_ms.p50) / 2;
  const auto decode_only_ms = [&](double context) {
    return at_baseline + slope * (context - s.baseline_context);
  };
  s.decode_only_ms_per_1k_context = slope * 1000;
  s.matched_decode_only_ms = decode_only_ms(context_of(load));
  std::vector<double> ratios;
  for (const Gap& g : all) {
    const double reference = decode_only_ms(g.context);
    if (reference > 0) ratios.push_back(g.ms / reference);
  }
  const Summary r = Summarize(std::move(ratios));
  s.itl_p99_over_matched = r.p99;
  s.itl_p50_over_matched = r.p50;
  return s;
}

}  // namespace strata::loadtest
