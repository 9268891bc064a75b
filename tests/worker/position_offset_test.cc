// SequenceSlice::position_offset (tokens evicted before the cached ones) moves the RoPE
// positions of new tokens without moving their K/V slots. Attention under RoPE depends only
// on relative positions, so shifting every token by the same offset changes nothing, while
// a different gap between the cached token and the new one changes the logits.
#include <gtest/gtest.h>

#include <cmath>

#include "worker/cpu_model.h"

namespace strata::worker {
namespace {

std::vector<float> NextLogits(CpuModel& model, int64_t first_position, int64_t gap) {
  const std::vector<int32_t> first = {11}, second = {42};
  const std::vector<int32_t> table = {0};
  std::vector<float> logits;
  // Token 11 at RoPE position `first_position` into slot 0 ...
  SequenceSlice a{first, 0, table, LogitsMode::kNone, first_position};
  EXPECT_TRUE(model.Forward(std::span(&a, 1), &logits).ok());
  // ... then token 42 into slot 1, `gap` positions later.
  SequenceSlice b{second, 1, table, LogitsMode::kLast, first_position + gap - 1};
  EXPECT_TRUE(model.Forward(std::span(&b, 1), &logits).ok());
  return logits;
}

double MaxAbsDiff(const std::vector<float>& x, const std::vector<float>& y) {
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::fabs(x[i] - y[i])));
  return worst;
}

TEST(PositionOffsetTest, OnlyRelativePositionsMatter) {
  const char* root = std::getenv("STRATA_SOURCE_DIR");
  auto model = CpuModel::Load(std::string(root ? root : ".") + "/tests/fixtures/reference/qwen3",
                              {.num_blocks = 1, .block_size = 16}, 64);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<float> near = NextLogits(**model, 0, 1);
  const std::vector<float> shifted = NextLogits(**model, 100, 1);
  const std::vector<float> far = NextLogits(**model, 0, 37);
  EXPECT_LT(MaxAbsDiff(near, shifted), 1e-4) << "a common shift must not matter";
  EXPECT_GT(MaxAbsDiff(near, far), 1e-3) << "the gap must reach RoPE";
}

}  // namespace
}  // namespace strata::worker
