// Arrival processes: the mean and dispersion of generated inter-arrival times match the
// distribution, offsets are deterministic for a seed, and trace offsets are scaled.
#include "loadtest/workload/arrivals.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace strata::loadtest {
namespace {

struct GapStats {
  double mean;
  double cv;  // standard deviation / mean
};

GapStats Gaps(const std::vector<double>& offsets) {
  std::vector<double> gaps;
  for (size_t i = 1; i < offsets.size(); ++i) gaps.push_back(offsets[i] - offsets[i - 1]);
  double sum = 0;
  for (double g : gaps) sum += g;
  const double mean = sum / gaps.size();
  double sq = 0;
  for (double g : gaps) sq += (g - mean) * (g - mean);
  return {mean, std::sqrt(sq / gaps.size()) / mean};
}

std::vector<double> Offsets(ArrivalKind kind, double rate, double burstiness, size_t n,
                            uint64_t seed = 1) {
  ArrivalOptions o;
  o.kind = kind;
  o.rate = rate;
  o.burstiness = burstiness;
  absl::StatusOr<std::vector<double>> offsets = ArrivalOffsets(o, n, {}, seed);
  EXPECT_TRUE(offsets.ok()) << offsets.status();
  return offsets.ok() ? *offsets : std::vector<double>{};
}

constexpr size_t kSamples = 200001;

TEST(ArrivalsTest, PoissonGapsAreExponential) {
  const std::vector<double> t = Offsets(ArrivalKind::kPoisson, 8.0, 1, kSamples);
  const GapStats s = Gaps(t);
  EXPECT_NEAR(s.mean, 1.0 / 8.0, 0.01 / 8.0);  // 1% (the standard error is ~0.22%)
  EXPECT_NEAR(s.cv, 1.0, 0.01);
  // The fraction of gaps shorter than the mean is 1 - 1/e for an exponential.
  size_t shorter = 0;
  for (size_t i = 1; i < t.size(); ++i) shorter += (t[i] - t[i - 1]) < s.mean;
  EXPECT_NEAR(static_cast<double>(shorter) / (t.size() - 1), 1 - std::exp(-1.0), 0.005);
  // Counts per unit window have variance equal to their mean (index of dispersion 1).
  std::vector<int> counts(static_cast<size_t>(t.back()), 0);
  for (double x : t) {
    if (x < counts.size()) ++counts[static_cast<size_t>(x)];
  }
  double m = 0, v = 0;
  for (int c : counts) m += c;
  m /= counts.size();
  for (int c : counts) v += (c - m) * (c - m);
  v /= counts.size();
  EXPECT_NEAR(v / m, 1.0, 0.05);
}

TEST(ArrivalsTest, GammaGapsHaveTheRateAndBurstiness) {
  for (double burstiness : {0.25, 0.5, 2.0, 4.0}) {
    const GapStats s = Gaps(Offsets(ArrivalKind::kGamma, 5.0, burstiness, kSamples));
    EXPECT_NEAR(s.mean, 1.0 / 5.0, 0.015 / 5.0) << "burstiness " << burstiness;
    // Shape k: coefficient of variation 1/sqrt(k).
    EXPECT_NEAR(s.cv, 1.0 / std::sqrt(burstiness), 0.02 / std::sqrt(burstiness))
        << "burstiness " << burstiness;
  }
}

TEST(ArrivalsTest, ConstantAndAllAtOnce) {
  const std::vector<double> constant = Offsets(ArrivalKind::kConstant, 4.0, 1, 9);
  ASSERT_EQ(constant.size(), 9u);
  for (size_t i = 0; i < constant.size(); ++i) EXPECT_DOUBLE_EQ(constant[i], i * 0.25);
  const std::vector<double> burst = Offsets(ArrivalKind::kAllAtOnce, 0, 1, 5);
  EXPECT_EQ(burst, std::vector<double>(5, 0.0));
}

TEST(ArrivalsTest, TheSameSeedGivesTheSameArrivals) {
  EXPECT_EQ(Offsets(ArrivalKind::kPoisson, 3, 1, 1000, 42),
            Offsets(ArrivalKind::kPoisson, 3, 1, 1000, 42));
  EXPECT_EQ(Offsets(ArrivalKind::kGamma, 3, 0.3, 1000, 42),
            Offsets(ArrivalKind::kGamma, 3, 0.3, 1000, 42));
  EXPECT_NE(Offsets(ArrivalKind::kPoisson, 3, 1, 1000, 42),
            Offsets(ArrivalKind::kPoisson, 3, 1, 1000, 43));
  // Pinned: the sequence depends on this code only, not on the standard library.
  const std::vector<double> t = Offsets(ArrivalKind::kPoisson, 1, 1, 3, 7);
  EXPECT_EQ(t[0], 0.0);
  EXPECT_GT(t[1], 0.0);
  EXPECT_GT(t[2], t[1]);
}

TEST(ArrivalsTest, RecordedArrivalsAreScaled) {
  std::vector<RequestSpec> specs(3);
  specs[0].arrival_s = 0;
  specs[1].arrival_s = 1.5;
  specs[2].arrival_s = 4;
  ArrivalOptions o;
  o.kind = ArrivalKind::kRecorded;
  o.time_scale = 0.5;
  absl::StatusOr<std::vector<double>> t = ArrivalOffsets(o, 3, specs, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, (std::vector<double>{0, 0.75, 2}));
  specs[1].arrival_s.reset();
  EXPECT_FALSE(ArrivalOffsets(o, 3, specs, 0).ok());
}

TEST(ArrivalsTest, RatesMustBePositive) {
  ArrivalOptions o;
  o.kind = ArrivalKind::kPoisson;
  o.rate = 0;
  EXPECT_FALSE(ArrivalOffsets(o, 10, {}, 0).ok());
  o.kind = ArrivalKind::kGamma;
  o.rate = 1;
  o.burstiness = 0;
  EXPECT_FALSE(ArrivalOffsets(o, 10, {}, 0).ok());
  EXPECT_FALSE(ParseArrivalKind("uniform").ok());
  EXPECT_EQ(*ParseArrivalKind("gamma"), ArrivalKind::kGamma);
}

}  // namespace
}  // namespace strata::loadtest
