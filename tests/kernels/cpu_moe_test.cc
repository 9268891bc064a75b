// kernels/cpu/moe: routing (softmax, top-k, renormalisation) and the grouped expert
// feed-forward against a per-token loop over the chosen experts.
#include "kernels/cpu/moe.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cpu/ops.h"

namespace strata::kernels::cpu {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 0.1f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(CpuMoeTest, RouteTopKPicksTheMostProbableAndRenormalises) {
  const float logits[] = {0.0f, 2.0f, 1.0f, 2.0f, -1.0f};  // a tie between 1 and 3
  int32_t ids[2];
  float weights[2];
  RouteTopK(logits, 1, 5, 2, /*normalize=*/false, ids, weights);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 3);
  double sum = 0;
  for (float l : logits) sum += std::exp(l);
  EXPECT_NEAR(weights[0], std::exp(2.0) / sum, 1e-6);
  RouteTopK(logits, 1, 5, 2, /*normalize=*/true, ids, weights);
  EXPECT_FLOAT_EQ(weights[0], 0.5f);
  EXPECT_FLOAT_EQ(weights[1], 0.5f);
}

TEST(CpuMoeTest, MatchesPerTokenLoopAndCountsActivatedExperts) {
  std::mt19937 rng(7);
  const int64_t rows = 11, hidden = 24, experts = 6, top_k = 2, inter = 16;
  const auto x = Random(rows * hidden, rng, 1.0f);
  const auto router = Random(experts * hidden, rng, 0.5f);
  const auto gate_up = Random(experts * 2 * inter * hidden, rng);
  const auto down = Random(experts * hidden * inter, rng);
  for (bool normalize : {false, true}) {
    MoeWeights w{router.data(), gate_up.data(), down.data(), experts, top_k, inter, normalize};
    MoeScratch scratch;
    std::vector<float> out(rows * hidden);
    const int64_t activated = MoeFeedForward(x.data(), rows, hidden, w, &scratch, out.data());

    std::vector<bool> used(experts, false);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> logits(experts), want(hidden, 0.0f);
      Linear(x.data() + r * hidden, 1, hidden, router.data(), experts, nullptr, logits.data());
      int32_t ids[top_k];
      float weights[top_k];
      RouteTopK(logits.data(), 1, experts, top_k, normalize, ids, weights);
      for (int64_t j = 0; j < top_k; ++j) {
        used[ids[j]] = true;
        std::vector<float> gu(2 * inter), act(inter), y(hidden);
        Linear(x.data() + r * hidden, 1, hidden, gate_up.data() + ids[j] * 2 * inter * hidden,
               2 * inter, nullptr, gu.data());
        SiluAndMul(gu.data(), 1, inter, act.data());
        Linear(act.data(), 1, inter, down.data() + ids[j] * hidden * inter, hidden, nullptr,
               y.data());
        for (int64_t h = 0; h < hidden; ++h) want[h] += weights[j] * y[h];
      }
      for (int64_t h = 0; h < hidden; ++h) {
        ASSERT_NEAR(out[r * hidden + h], want[h], 1e-5) << "row " << r << " column " << h;
      }
    }
    EXPECT_EQ(activated, std::count(used.begin(), used.end(), true));
  }
}

TEST(CpuMoeTest, OneRowActivatesTopKExperts) {
  std::mt19937 rng(3);
  const int64_t hidden = 8, experts = 16, top_k = 4, inter = 8;
  const auto x = Random(hidden, rng, 1.0f), router = Random(experts * hidden, rng, 1.0f);
  const auto gate_up = Random(experts * 2 * inter * hidden, rng);
  const auto down = Random(experts * hidden * inter, rng);
  MoeWeights w{router.data(), gate_up.data(), down.data(), experts, top_k, inter, true};
  MoeScratch scratch;
  std::vector<float> out(hidden);
  EXPECT_EQ(MoeFeedForward(x.data(), 1, hidden, w, &scratch, out.data()), top_k);
  EXPECT_EQ(MoeFeedForward(x.data(), 0, hidden, w, &scratch, out.data()), 0);
}

}  // namespace
}  // namespace strata::kernels::cpu
