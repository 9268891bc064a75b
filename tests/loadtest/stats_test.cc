// Percentiles interpolate between closest ranks exactly as numpy.percentile does.
#include "loadtest/metrics/stats.h"

#include <gtest/gtest.h>

namespace strata::loadtest {
namespace {

TEST(StatsTest, PercentilesMatchNumpy) {
  // numpy.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [50, 90, 99, 99.9]) =
  //   [5.5, 9.1, 9.91, 9.991]
  const std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_DOUBLE_EQ(PercentileOfSorted(v, 50), 5.5);
  EXPECT_NEAR(PercentileOfSorted(v, 90), 9.1, 1e-12);
  EXPECT_NEAR(PercentileOfSorted(v, 99), 9.91, 1e-12);
  EXPECT_NEAR(PercentileOfSorted(v, 99.9), 9.991, 1e-12);
  EXPECT_DOUBLE_EQ(PercentileOfSorted(v, 0), 1);
  EXPECT_DOUBLE_EQ(PercentileOfSorted(v, 100), 10);
  // numpy.percentile([3, 1, 2], 25) = 1.5 (input order does not matter to Summarize).
  EXPECT_DOUBLE_EQ(Summarize({3, 1, 2}).p50, 2);
  EXPECT_DOUBLE_EQ(PercentileOfSorted({1, 2, 3}, 25), 1.5);
}

TEST(StatsTest, SummaryOfASample) {
  const Summary s = Summarize({4, 1, 3, 2});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
  EXPECT_NEAR(s.stddev, 1.118033988749895, 1e-12);  // population
  EXPECT_NEAR(s.p90, 3.7, 1e-12);
}

TEST(StatsTest, OneValueAndNone) {
  const Summary one = Summarize({7});
  EXPECT_EQ(one.p50, 7);
  EXPECT_EQ(one.p999, 7);
  const Summary none = Summarize({});
  EXPECT_EQ(none.count, 0);
  EXPECT_EQ(none.mean, 0);
}

TEST(StatsTest, LargeSampleTails) {
  std::vector<double> v;
  for (int i = 1; i <= 100000; ++i) v.push_back(i);
  const Summary s = Summarize(v);
  // rank = p/100 * (n - 1): p99 at 98999.01 -> 98999.01 + 1.
  EXPECT_NEAR(s.p99, 99000.01, 1e-6);
  EXPECT_NEAR(s.p999, 99900.001, 1e-6);
}

}  // namespace
}  // namespace strata::loadtest
