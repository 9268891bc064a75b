// Prometheus text parsing and the counter deltas a run reports (expert-weight bytes per
// generated token), and the decode streams' latency windows.
#include "loadtest/metrics/server_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "loadtest/metrics/decode_stats.h"

namespace strata::loadtest {
namespace {

constexpr char kScrape[] = R"(# HELP strata:generation_tokens_total Number of generation tokens processed.
# TYPE strata:generation_tokens_total counter
strata:generation_tokens_total{model_name="m"} 1200
strata:request_success_total{finished_reason="stop",model_name="m"} 3
strata:request_success_total{finished_reason="length",model_name="m"} 4 1700000000000
strata:moe_expert_weight_bytes_total{model_name="m \"q\" {x} y"} 2.5e+09
strata:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 7

weird line without value
broken{label="x" 3
nan_metric NaN
inf_metric +Inf
)";

TEST(PrometheusTextTest, SumsSamplesOverLabelsAndSkipsTheRest) {
  const std::map<std::string, double> m = ParsePrometheusText(kScrape);
  EXPECT_EQ(m.at("strata:generation_tokens_total"), 1200);
  EXPECT_EQ(m.at("strata:request_success_total"), 7);  // timestamp ignored
  EXPECT_EQ(m.at("strata:moe_expert_weight_bytes_total"), 2.5e9);  // braces inside quotes
  EXPECT_EQ(m.at("strata:time_to_first_token_seconds_bucket"), 7);
  EXPECT_TRUE(std::isnan(m.at("nan_metric")));
  EXPECT_TRUE(std::isinf(m.at("inf_metric")));
  EXPECT_FALSE(m.contains("weird"));
  EXPECT_FALSE(m.contains("broken"));
  EXPECT_TRUE(ParsePrometheusText("").empty());
}

TEST(ServerCounterDeltasTest, ExpertBytesPerGeneratedToken) {
  const std::map<std::string, double> before = {{kExpertBytesMetric, 1000},
                                                {kGenerationTokensMetric, 10}};
  const std::map<std::string, double> after = {{kExpertBytesMetric, 9000},
                                               {kGenerationTokensMetric, 30}};
  const ServerCounterDeltas d = DiffServerCounters(before, after);
  EXPECT_EQ(d.expert_weight_bytes, 8000);
  EXPECT_EQ(d.generation_tokens, 20);
  ASSERT_TRUE(d.ExpertBytesPerToken().has_value());
  EXPECT_EQ(*d.ExpertBytesPerToken(), 400);
  const nlohmann::json j = ServerCountersJson(d);
  EXPECT_EQ(j["expert_weight_bytes_per_token"], 400.0);
  EXPECT_EQ(j["generation_tokens"], 20.0);
}

TEST(ServerCounterDeltasTest, DenseModelIsNotApplicable) {
  // The counter is exported but stays 0 on a dense model.
  const std::map<std::string, double> before = {{kExpertBytesMetric, 0},
                                                {kGenerationTokensMetric, 10}};
  const std::map<std::string, double> after = {{kExpertBytesMetric, 0},
                                               {kGenerationTokensMetric, 50}};
  const ServerCounterDeltas d = DiffServerCounters(before, after);
  EXPECT_TRUE(d.has_expert_bytes);
  EXPECT_FALSE(d.ExpertBytesPerToken().has_value());
  EXPECT_TRUE(ServerCountersJson(d)["expert_weight_bytes_per_token"].is_null());
  // A server without the counters (another engine).
  const ServerCounterDeltas none = DiffServerCounters({}, {{"vllm:x", 1}});
  EXPECT_FALSE(none.has_expert_bytes);
  EXPECT_TRUE(ServerCountersJson(none)["expert_weight_bytes"].is_null());
  // No token generated.
  EXPECT_FALSE(DiffServerCounters({{kExpertBytesMetric, 0}, {kGenerationTokensMetric, 5}},
                                  {{kExpertBytesMetric, 100}, {kGenerationTokensMetric, 5}})
                   .ExpertBytesPerToken()
                   .has_value());
}

RequestRecord Stream(double start_s, double ttft_s, std::vector<double> gaps) {
  RequestRecord r;
  r.start_s = start_s;
  r.ttft_s = ttft_s;
  r.itl_s = std::move(gaps);
  return r;
}

// Decode-only gap in seconds at `context` tokens: 10 ms plus 1 ms per 1000 tokens.
double DecodeOnlyS(double context) { return 0.010 + context * 1e-6; }

// A stream of `prompt` tokens and 10 tokens per chunk from -4 s: decode-only gaps before 0
// and from `load_end` on, `slowdown` times decode-only in between (by the gap's start).
RequestRecord GrowingStream(int32_t prompt, double load_end, double slowdown, double until) {
  RequestRecord r;
  r.prompt_len = prompt;
  r.start_s = -4;
  r.ttft_s = 0.01;
  r.chunk_tokens = {10};
  double t = r.start_s + *r.ttft_s;
  double tokens = 10;
  while (t < until) {
    const double context = prompt + tokens;
    const double gap = DecodeOnlyS(context) * (t >= 0 && t < load_end ? slowdown : 1.0);
    r.itl_s.push_back(gap);
    r.chunk_tokens.push_back(10);
    t += gap;
    tokens += 10;
  }
  return r;
}

TEST(DecodeStatsTest, GapsUnderLoadAreComparedWithDecodeOnlyAtTheirOwnContext) {
  // Lead-in 4 s, load until 3 s at 1.2x decode-only, lead-out until 5 s. The contexts grow
  // by 10 tokens a gap, so a decode-only gap grows from about 11 to 14 ms.
  const RequestRecord stream = GrowingStream(1000, 3, 1.2, 5);
  const DecodeStreamStats s = SummarizeDecodeStreams({stream}, {}, 1, 4, 3);
  ASSERT_GT(s.lead_out_itl_ms.count, 100);
  EXPECT_GT(s.lead_out_context, s.baseline_context + 2000);
  EXPECT_NEAR(s.decode_only_ms_per_1k_context, 1.0, 1e-6);  // the line is the model's
  EXPECT_NEAR(s.itl_p50_over_matched, 1.2, 1e-6);
  EXPECT_NEAR(s.itl_p99_over_matched, 1.2, 1e-6);
  EXPECT_NEAR(s.matched_decode_only_ms, 1e3 * DecodeOnlyS(s.baseline_context) +
                                            (s.lead_out_context - s.baseline_context) / 2000,
              0.3);  // mid-load, about halfway between the two contexts
  // Against the lead-in alone, growth of the context reads as slowdown.
  EXPECT_GT(s.itl_p99_over_baseline, 1.35);

  // A measured request's gaps take the context of the stream gap that ended nearest. Five
  // gaps at 3x decode-only, from the end of the load's 100th stream gap on, are the top of
  // the ratios and hold the p99 (their contexts are within 150 tokens of the stream's:
  // 0.15 ms of decode-only, about 1%; with no context they would read as 4.3x).
  std::vector<double> stream_end_s, contexts;  // per stream gap
  double t = stream.start_s + *stream.ttft_s, tokens = 10;
  for (double gap : stream.itl_s) {
    t += gap;
    stream_end_s.push_back(t);
    contexts.push_back(1000 + tokens);
    tokens += 10;
  }
  size_t k = 0;
  while (stream_end_s[k] <= 0) ++k;
  k += 100;
  RequestRecord measured;
  measured.ttft_s = 0.001;
  measured.start_s = stream_end_s[k] - *measured.ttft_s;
  for (int j = 0; j < 5; ++j) measured.itl_s.push_back(3 * DecodeOnlyS(contexts[k]));
  const DecodeStreamStats m = SummarizeDecodeStreams({stream}, {measured}, 1, 4, 3);
  EXPECT_EQ(m.all_itl_ms.count, s.all_itl_ms.count + 5);
  EXPECT_NEAR(m.itl_p99_over_matched, 3.0, 0.05);
  // Without a lead-out there is no line.
  const DecodeStreamStats none = SummarizeDecodeStreams({GrowingStream(1000, 3, 1.2, 2.9)}, {},
                                                        1, 4, 3);
  EXPECT_EQ(none.lead_out_itl_ms.count, 0);
  EXPECT_EQ(none.itl_p99_over_matched, 0);
  EXPECT_GT(none.itl_p99_over_baseline, 1.2);
}

TEST(DecodeStatsTest, BaselineIsTheLeadInsSecondHalfAndLoadEndsWithTheMeasuredPhase) {
  // Lead-in of 4 s (baseline window [-2, 0]), load until 3 s.
  // Chunks at -3.9, -2.9, -1.9, -0.9, 0.1, 1.1 (gap 1), then 1.6 (0.5), 4.6 (3: after the end).
  const std::vector<RequestRecord> streams = {Stream(-4, 0.1, {1, 1, 1, 1, 1, 0.5, 3})};
  RequestRecord measured = Stream(0.5, 0.2, {0.002, 0.004});
  const DecodeStreamStats s = SummarizeDecodeStreams(streams, {measured}, 1, 4, 3);
  EXPECT_EQ(s.baseline_itl_ms.count, 1);  // -1.9 -> -0.9
  EXPECT_EQ(s.baseline_itl_ms.p50, 1000);
  EXPECT_EQ(s.load_itl_ms.count, 3);  // ends at 0.1, 1.1, 1.6
  EXPECT_EQ(s.load_itl_ms.min, 500);
  EXPECT_EQ(s.load_tokens, 3);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.all_itl_ms.count, 5);
  EXPECT_EQ(s.all_itl_ms.min, 2);
  EXPECT_NEAR(s.itl_p99_over_baseline, s.all_itl_ms.p99 / 1000, 1e-12);
  RequestRecord refused;
  refused.error_kind = "http_400";
  refused.error_message = "too long";
  const DecodeStreamStats f = SummarizeDecodeStreams({refused}, {}, 1, 4, 3);
  EXPECT_EQ(f.failed, 1);
  EXPECT_EQ(f.first_error, "http_400: too long");
  // No lead-in gaps: no ratio.
  EXPECT_EQ(SummarizeDecodeStreams({Stream(0, 0.1, {0.1})}, {}, 1, 4, 3).itl_p99_over_baseline,
            0);
}

}  // namespace
}  // namespace strata::loadtest
