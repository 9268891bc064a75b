#include "loadtest/metrics/run_summary.h"

#include <algorithm>
#include <cmath>

namespace strata::loadtest {
namespace {

Summary InMs(std::vector<double> seconds) {
  for (double& v : seconds) v *= 1e3;
  return Summarize(std::move(seconds));
}

// A bin width of 1, 2 or 5 times a power of ten giving at most ~50 bins (finer bins show
// the engine's step rhythm rather than throughput).
double BinWidth(double duration) {
  const double raw = std::max(duration / 50.0, 0.01);
  const double decade = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * decade >= raw) return m * decade;
  }
  return 10 * decade;
}

}  // namespace

void ChunkTimeline(const RequestRecord& r, std::vector<double>* times,
                   std::vector<double>* tokens) {
  times->clear();
  tokens->clear();
  if (!r.ttft_s) return;
  double t = r.start_s + *r.ttft_s;
  times->push_back(t);
  for (double gap : r.itl_s) {
    t += gap;
    times->push_back(t);
  }
  if (r.chunk_tokens.size() == times->size()) {
    tokens->assign(r.chunk_tokens.begin(), r.chunk_tokens.end());
  } else {
    tokens->assign(times->size(),
                   static_cast<double>(r.output_tokens()) / static_cast<double>(times->size()));
  }
}

RunSummary SummarizeRun(const std::vector<RequestRecord>& records, int64_t not_sent,
                        const std::vector<ConcurrencySample>& concurrency,
                        const std::optional<Slo>& slo) {
  RunSummary s;
  s.not_sent = not_sent;
  s.slo = slo;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const RequestRecord& r : records) {
    s.duration_s = std::max(s.duration_s, r.end_s);
    if (!r.ok()) {
      ++s.failed;
      ++s.errors[r.error_kind];
      continue;
    }
    ++s.completed;
    if (!r.completion_tokens) ++s.usage_missing;
    s.total_input_tokens += r.prompt_tokens ? *r.prompt_tokens : r.prompt_len;
    s.total_output_tokens += r.output_tokens();
    if (r.ttft_s) ttft.push_back(*r.ttft_s);
    if (const auto t = r.tpot_s()) tpot.push_back(*t);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    e2e.push_back(r.e2e_s());
    if (slo && MeetsSlo(r, *slo)) ++s.good;
  }
  s.ttft_ms = InMs(std::move(ttft));
  s.tpot_ms = InMs(std::move(tpot));
  s.itl_ms = InMs(std::move(itl));
  s.e2e_ms = InMs(std::move(e2e));
  if (s.duration_s > 0) {
    s.request_throughput = s.completed / s.duration_s;
    s.input_throughput = s.total_input_tokens / s.duration_s;
    s.output_throughput = s.total_output_tokens / s.duration_s;
    s.total_throughput = (s.total_input_tokens + s.total_output_tokens) / s.duration_s;
    if (slo) s.goodput = s.good / s.duration_s;
  }
  if (slo && s.completed + s.failed > 0) {
    s.goodput_fraction = static_cast<double>(s.good) / static_cast<double>(s.completed + s.failed);
  }

  // Time series.
  Timeline& tl = s.timeline;
  tl.bin_s = BinWidth(s.duration_s);
  const size_t bins = std::max<size_t>(1, static_cast<size_t>(std::ceil(s.duration_s / tl.bin_s)));
  tl.output_tok_s.assign(bins, 0);
  tl.completed_req_s.assign(bins, 0);
  tl.in_flight.assign(bins, 0);
  auto bin_of = [&](double t) {
    return std::min(bins - 1, static_cast<size_t>(std::max(0.0, t) / tl.bin_s));
  };
  std::vector<double> times, tokens;
  for (const RequestRecord& r : records) {
    if (!r.ok()) continue;
    ChunkTimeline(r, &times, &tokens);
    for (size_t i = 0; i < times.size(); ++i) tl.output_tok_s[bin_of(times[i])] += tokens[i];
    tl.completed_req_s[bin_of(r.end_s)] += 1;
  }
  for (size_t b = 0; b < bins; ++b) {
    tl.output_tok_s[b] /= tl.bin_s;
    tl.completed_req_s[b] /= tl.bin_s;
  }
  // Time-weighted mean in flight per bin, from the step function of samples.
  for (size_t i = 0; i < concurrency.size(); ++i) {
    s.max_in_flight = std::max(s.max_in_flight, concurrency[i].in_flight);
    const double from = concurrency[i].t;
    const double to = i + 1 < concurrency.size() ? concurrency[i + 1].t : s.duration_s;
    if (to <= from || concurrency[i].in_flight == 0) continue;
    for (size_t b = bin_of(from); b < bins; ++b) {
      const double lo = std::max(from, b * tl.bin_s);
      const double hi = std::min(to, (b + 1) * tl.bin_s);
      if (hi <= lo) {
        if (b * tl.bin_s >= to) break;
        continue;
      }
      tl.in_flight[b] += concurrency[i].in_flight * (hi - lo) / tl.bin_s;
    }
  }
  return s;
}

}  // namespace strata::loadtest
