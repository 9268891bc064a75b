// Length distributions: each form parses, samples in range, with the right mean.
#include "loadtest/workload/length_dist.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>

namespace strata::loadtest {
namespace {

double SampleMean(const LengthDist& d, int n, int32_t* lo, int32_t* hi) {
  Rng rng(5);
  double sum = 0;
  *lo = 1 << 30;
  *hi = 0;
  for (int i = 0; i < n; ++i) {
    const int32_t x = d.Sample(rng);
    sum += x;
    *lo = std::min(*lo, x);
    *hi = std::max(*hi, x);
  }
  return sum / n;
}

TEST(LengthDistTest, Fixed) {
  absl::StatusOr<LengthDist> d = LengthDist::Parse("128");
  ASSERT_TRUE(d.ok());
  int32_t lo, hi;
  EXPECT_EQ(SampleMean(*d, 100, &lo, &hi), 128);
  EXPECT_EQ(lo, 128);
  EXPECT_EQ(d->spec(), "128");
}

TEST(LengthDistTest, Uniform) {
  absl::StatusOr<LengthDist> d = LengthDist::Parse("uniform:10,20");
  ASSERT_TRUE(d.ok());
  int32_t lo, hi;
  EXPECT_NEAR(SampleMean(*d, 100000, &lo, &hi), 15, 0.05);
  EXPECT_EQ(lo, 10);
  EXPECT_EQ(hi, 20);
  EXPECT_EQ(d->Mean(), 15);
}

TEST(LengthDistTest, Normal) {
  absl::StatusOr<LengthDist> d = LengthDist::Parse("normal:500,50");
  ASSERT_TRUE(d.ok());
  Rng rng(9);
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double x = d->Sample(rng);
    sum += x;
    sq += x * x;
  }
  const double mean = sum / n;
  EXPECT_NEAR(mean, 500, 1);
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), 50, 1);
  // Clamped at 1.
  absl::StatusOr<LengthDist> wide = LengthDist::Parse("normal:2,100");
  int32_t lo, hi;
  SampleMean(*wide, 1000, &lo, &hi);
  EXPECT_GE(lo, 1);
}

TEST(LengthDistTest, HistogramFile) {
  const char* src = std::getenv("STRATA_SOURCE_DIR");
  const std::string path = std::string(src ? src : ".") + "/tests/loadtest/data/length_hist.txt";
  absl::StatusOr<LengthDist> d = LengthDist::Parse("hist:" + path);
  ASSERT_TRUE(d.ok()) << d.status();
  Rng rng(3);
  std::map<int32_t, int> counts;
  const int n = 80000;
  for (int i = 0; i < n; ++i) ++counts[d->Sample(rng)];
  ASSERT_EQ(counts.size(), 3u);  // weight 0 never drawn
  EXPECT_NEAR(counts[100] / double(n), 1 / 8.0, 0.01);
  EXPECT_NEAR(counts[200] / double(n), 3 / 8.0, 0.01);
  EXPECT_NEAR(counts[800] / double(n), 4 / 8.0, 0.01);
  EXPECT_DOUBLE_EQ(d->Mean(), (100 + 600 + 3200) / 8.0);
}

TEST(LengthDistTest, BadSpecs) {
  for (const char* bad : {"0", "-3", "x", "uniform:5", "uniform:9,3", "uniform:1.5,3", "normal:0,1",
                          "normal:5,-1", "hist:/nonexistent/file"}) {
    EXPECT_FALSE(LengthDist::Parse(bad).ok()) << bad;
  }
  EXPECT_FALSE(LengthDist::FromHistogramText("100 x\n", "h").ok());
  EXPECT_FALSE(LengthDist::FromHistogramText("100 0\n", "h").ok());
  EXPECT_EQ(LengthDist::FromHistogramText("5 1\n7 oops\n", "h").status().message(),
            "h:2: expected 'length weight', got '7 oops'");
}

}  // namespace
}  // namespace strata::loadtest
