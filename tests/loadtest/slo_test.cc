// SLO parsing, the per-request test, and goodput in the run summary.
#include "loadtest/metrics/slo.h"

#include <gtest/gtest.h>

#include "loadtest/metrics/run_summary.h"

namespace strata::loadtest {
namespace {

RequestRecord Record(double ttft, double e2e, int32_t tokens, double max_gap = 0.001) {
  RequestRecord r;
  r.start_s = 1;
  r.end_s = 1 + e2e;
  r.ttft_s = ttft;
  r.completion_tokens = tokens;
  for (int i = 1; i < tokens; ++i) r.itl_s.push_back(i == 1 ? max_gap : 0.0005);
  return r;
}

TEST(SloTest, Parses) {
  absl::StatusOr<Slo> slo = ParseSlo("ttft=200ms,tpot=20ms");
  ASSERT_TRUE(slo.ok()) << slo.status();
  EXPECT_DOUBLE_EQ(*slo->ttft_s, 0.2);
  EXPECT_DOUBLE_EQ(*slo->tpot_s, 0.02);
  EXPECT_FALSE(slo->e2e_s.has_value());
  slo = ParseSlo("e2el=1.5s, itl=500us");
  ASSERT_TRUE(slo.ok()) << slo.status();
  EXPECT_DOUBLE_EQ(*slo->e2e_s, 1.5);
  EXPECT_DOUBLE_EQ(*slo->itl_s, 0.0005);
  EXPECT_EQ(ParseSlo("ttft=200").status().message(),
            "duration '200': needs a unit (us, ms or s), e.g. 200ms");
  EXPECT_EQ(ParseSlo("latency=2s").status().message(),
            "slo key 'latency': expected ttft, tpot, e2e or itl");
  EXPECT_EQ(ParseSlo("ttft=1s,ttft=2s").status().message(), "slo key 'ttft' given twice");
  EXPECT_FALSE(ParseSlo("").ok());
  EXPECT_EQ(ParseSlo("tpot=20ms,ttft=0.2s")->ToString(), "ttft=200ms,tpot=20ms");
}

TEST(SloTest, RequestMeetsEveryObjectiveGiven) {
  const Slo slo = *ParseSlo("ttft=100ms,tpot=10ms");
  // TPOT = (e2e - ttft) / (tokens - 1).
  EXPECT_TRUE(MeetsSlo(Record(0.1, 0.1 + 0.01 * 9, 10), slo));      // exactly at both bounds
  EXPECT_FALSE(MeetsSlo(Record(0.101, 0.2, 10), slo));              // TTFT
  EXPECT_FALSE(MeetsSlo(Record(0.05, 0.05 + 0.011 * 9, 10), slo));  // TPOT
  EXPECT_TRUE(MeetsSlo(Record(0.05, 9.0, 1), slo));                 // one token: no TPOT to miss
  RequestRecord failed = Record(0.01, 0.02, 3);
  failed.error_kind = "http_500";
  EXPECT_FALSE(MeetsSlo(failed, slo));
  RequestRecord no_output = Record(0.01, 0.02, 0);
  no_output.ttft_s.reset();
  EXPECT_FALSE(MeetsSlo(no_output, slo));  // a TTFT objective needs a first token
  EXPECT_FALSE(MeetsSlo(Record(0.01, 0.5, 5), *ParseSlo("e2e=400ms")));
  EXPECT_FALSE(MeetsSlo(Record(0.01, 0.1, 5, 0.06), *ParseSlo("itl=50ms")));
  EXPECT_TRUE(MeetsSlo(Record(0.01, 0.1, 5, 0.04), *ParseSlo("itl=50ms")));
}

TEST(SloTest, GoodputCountsGoodRequestsOverTheRun) {
  std::vector<RequestRecord> records = {
      Record(0.05, 0.5, 10),  // good
      Record(0.30, 0.5, 10),  // TTFT too long
      Record(0.05, 0.5, 10),  // good
      Record(0.05, 3.0, 10),  // TPOT too long (0.33 s)
  };
  records[2].end_s = 4;  // the run lasts 4 s
  records[2].start_s = 3.5;
  RequestRecord failed = Record(0.01, 0.1, 2);
  failed.error_kind = "timeout";
  records.push_back(failed);
  const RunSummary s = SummarizeRun(records, 0, {}, *ParseSlo("ttft=100ms,tpot=100ms"));
  EXPECT_EQ(s.completed, 4);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.errors.at("timeout"), 1);
  EXPECT_EQ(s.good, 2);
  EXPECT_DOUBLE_EQ(s.duration_s, 4);
  EXPECT_DOUBLE_EQ(s.goodput, 0.5);
  EXPECT_DOUBLE_EQ(s.goodput_fraction, 0.4);
  EXPECT_DOUBLE_EQ(s.request_throughput, 1.0);
  EXPECT_EQ(s.total_output_tokens, 40);
  EXPECT_DOUBLE_EQ(s.output_throughput, 10);
}

}  // namespace
}  // namespace strata::loadtest
