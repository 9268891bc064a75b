#include "scheduler/step_planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace strata::scheduler {
namespace {

using testing::ElementsAre;
using testing::IsEmpty;

SequenceState Running(int64_t id, int64_t total, int64_t computed, int32_t blocks,
                      int32_t priority = 0) {
  return {id, priority, id, total, computed, blocks, /*freeable_blocks=*/blocks};
}
SequenceState Waiting(int64_t id, int64_t prompt, int32_t priority = 0) {
  return {id, priority, id, prompt, 0, 0};
}

std::vector<std::pair<int64_t, int64_t>> Chunks(const StepPlan& plan) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& c : plan.chunks) out.emplace_back(c.id, c.num_tokens);
  return out;
}

TEST(StepPlannerTest, DecodesFirstThenPrefillsWithinTheTokenBudget) {
  // Two decodes, then a waiting prompt of 100 tokens chunked by the budget of 50.
  PlannerLimits limits{
      .block_size = 16, .free_blocks = 100, .max_num_seqs = 8, .max_batch_tokens = 50};
  StepPlan plan =
      PlanStep({Running(1, 11, 10, 1), Running(2, 21, 20, 2)}, {Waiting(3, 100)}, limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{1, 1}, std::pair{2L, 1L},
                                        std::pair{3L, 48L}));
  EXPECT_THAT(plan.admitted, ElementsAre(3));
  EXPECT_THAT(plan.preempted, IsEmpty());
}

TEST(StepPlannerTest, ContinuingPrefillIsLimitedByFreeBlocks) {
  PlannerLimits limits{
      .block_size = 16, .free_blocks = 2, .max_num_seqs = 8, .max_batch_tokens = 1000};
  StepPlan plan = PlanStep({Running(1, 200, 16, 1)}, {}, limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{1, 32}));
}

TEST(StepPlannerTest, AdmissionRespectsSequenceCapAndBlocks) {
  PlannerLimits limits{
      .block_size = 16, .free_blocks = 3, .max_num_seqs = 2, .max_batch_tokens = 1000};
  StepPlan plan = PlanStep({Running(1, 11, 10, 1)}, {Waiting(2, 20), Waiting(3, 5)}, limits);
  EXPECT_THAT(plan.admitted, ElementsAre(2)) << "the cap of 2 sequences stops request 3";
  limits.max_num_seqs = 8;
  limits.free_blocks = 1;
  plan = PlanStep({}, {Waiting(2, 40), Waiting(3, 5)}, limits);
  EXPECT_THAT(plan.admitted, IsEmpty()) << "the head's chunk does not fit; nobody overtakes it";
  limits.max_batch_tokens = 16;
  plan = PlanStep({}, {Waiting(2, 40), Waiting(3, 5)}, limits);
  EXPECT_THAT(plan.admitted, ElementsAre(2)) << "a chunk of the budget's size fits";
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{2, 16}));
}

TEST(StepPlannerTest, PriorityOrdersAdmission) {
  PlannerLimits limits{
      .block_size = 16, .free_blocks = 1, .max_num_seqs = 8, .max_batch_tokens = 1000};
  StepPlan plan = PlanStep({}, {Waiting(1, 10, /*priority=*/5), Waiting(2, 10, 0)}, limits);
  EXPECT_THAT(plan.admitted, ElementsAre(2));
}

TEST(StepPlannerTest, DecodeWithoutBlocksPreemptsTheNewestLowestPriority) {
  // Each running decode needs a fresh block (16 tokens computed, 17th pending); one free.
  PlannerLimits limits{
      .block_size = 16, .free_blocks = 1, .max_num_seqs = 8, .max_batch_tokens = 1000};
  StepPlan plan = PlanStep({Running(1, 17, 16, 1), Running(2, 17, 16, 1), Running(3, 17, 16, 1)},
                           {Waiting(4, 3)}, limits);
  EXPECT_THAT(plan.preempted, ElementsAre(3));
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{1, 1}, std::pair{2L, 1L}));
  EXPECT_THAT(plan.admitted, IsEmpty()) << "no admission in a step that preempted";
}

TEST(StepPlannerTest, ALoneSequenceThatCannotGrowPreemptsItself) {
  PlannerLimits limits{
      .block_size = 16, .free_blocks = 0, .max_num_seqs = 8, .max_batch_tokens = 1000};
  StepPlan plan = PlanStep({Running(1, 17, 16, 1)}, {}, limits);
  EXPECT_THAT(plan.preempted, ElementsAre(1));
  EXPECT_THAT(plan.chunks, IsEmpty());
}


TEST(StepPlannerTest, SwapPreemptionFreesBlocksOnlyOnceTheCopiesLand) {
  // Sequence 1 (older) needs a block for its decode; none is free. With swapping on and
  // host room, the newest sequence is swapped out and 1 waits one step for its blocks.
  PlannerLimits limits{.block_size = 16,
                       .free_blocks = 0,
                       .max_num_seqs = 8,
                       .max_batch_tokens = 100,
                       .swap = true,
                       .host_free_blocks = 4};
  StepPlan plan = PlanStep({Running(1, 33, 32, 2), Running(2, 17, 16, 1)}, {}, limits);
  EXPECT_THAT(plan.swapped_out, ElementsAre(2));
  EXPECT_THAT(plan.preempted, IsEmpty());
  EXPECT_THAT(Chunks(plan), IsEmpty()) << "the decode waits for the swap-out to land";
  // Without host room the victim is recomputed and its blocks are usable at once.
  limits.host_free_blocks = 0;
  plan = PlanStep({Running(1, 33, 32, 2), Running(2, 17, 16, 1)}, {}, limits);
  EXPECT_THAT(plan.preempted, ElementsAre(2));
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{1, 1}));
}

TEST(StepPlannerTest, SharedBlocksOfAVictimFreeNothing) {
  PlannerLimits limits{
      .block_size = 16, .free_blocks = 0, .max_num_seqs = 8, .max_batch_tokens = 100};
  SequenceState sharer = Running(2, 17, 16, 1);
  sharer.freeable_blocks = 0;  // its only block is a prefix shared with others
  StepPlan plan = PlanStep({Running(1, 33, 32, 2), sharer}, {}, limits);
  EXPECT_THAT(plan.preempted, ElementsAre(2, 1)) << "preempting 2 alone would not help";
}

TEST(StepPlannerTest, KvBudgetLimitsChunks) {
  PlannerLimits limits{
      .block_size = 16, .free_blocks = 100, .max_num_seqs = 8, .max_batch_tokens = 1000};
  SequenceState prefill = Running(1, 500, 64, 4);
  prefill.max_chunk = 48;
  SequenceState waiting = Waiting(2, 300);
  waiting.max_chunk = 32;
  StepPlan plan = PlanStep({prefill}, {waiting}, limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{1, 48}, std::pair{2L, 32L}));
}

}  // namespace
}  // namespace strata::scheduler
