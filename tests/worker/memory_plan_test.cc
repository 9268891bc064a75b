#include "worker/memory_plan.h"

#include <gtest/gtest.h>

#include "worker/model_shapes.h"

namespace strata::worker {
namespace {

ModelConfig Llama8b() {
  auto shape = NamedModelShape("llama-3.1-8b");
  EXPECT_TRUE(shape.ok());
  return shape->config;
}

MemoryPlanInputs H100() {
  MemoryPlanInputs in;
  in.device_total_bytes = int64_t{80} << 30;
  in.device_free_bytes = int64_t{79} << 30;
  in.utilization = 0.9;
  in.max_batch_tokens = 8192;
  in.max_num_seqs = 256;
  in.logits_chunk_rows = 256;
  in.block_size = 16;
  return in;
}

TEST(MemoryPlanTest, WeightBytesMatchThePublishedParameterCount) {
  EXPECT_EQ(WeightBytes(Llama8b(), 2), int64_t{8'030'261'248} * 2);
  EXPECT_EQ(KvBytesPerToken(Llama8b(), 2), 2 * 32 * 8 * 128 * 2);  // 128 KiB per token
}

TEST(MemoryPlanTest, KvPoolTakesWhatIsLeftAndTheSumFits) {
  auto plan = BuildMemoryPlan(Llama8b(), H100());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(plan->TotalBytes(), plan->usable_bytes);
  EXPECT_GT(plan->usable_bytes - plan->TotalBytes(), -1);
  EXPECT_LT(plan->usable_bytes - plan->TotalBytes(), plan->kv_block_bytes)
      << "less than one more block is left over";
  EXPECT_EQ(plan->Bytes("kv_cache"), plan->num_kv_blocks * plan->kv_block_bytes);
  // About 72 GiB usable - 15 GiB weights - workspaces: more than 20k blocks of 16 tokens.
  EXPECT_GT(plan->num_kv_blocks, 20000);
}

TEST(MemoryPlanTest, RequestedBlocksBeyondTheRoomAreAnErrorWithTheNumbers) {
  MemoryPlanInputs in = H100();
  in.requested_blocks = 10'000'000;
  auto plan = BuildMemoryPlan(Llama8b(), in);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(plan.status().message().find("weights:"), absl::string_view::npos);
}

TEST(MemoryPlanTest, UtilizationBeyondFreeMemoryIsRefused) {
  MemoryPlanInputs in = H100();
  in.device_free_bytes = int64_t{40} << 30;
  auto plan = BuildMemoryPlan(Llama8b(), in);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("gpu_memory_utilization"), absl::string_view::npos);
}

TEST(MemoryPlanTest, WeightsThatDoNotFitLeaveNoBlocks) {
  MemoryPlanInputs in = H100();
  in.device_total_bytes = in.device_free_bytes = int64_t{16} << 30;
  EXPECT_FALSE(BuildMemoryPlan(Llama8b(), in).ok());
}

}  // namespace
}  // namespace strata::worker
