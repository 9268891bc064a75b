#include "scheduler/step_planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>

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

// Limits with room for 8 sequences, blocks of 16 tokens, prompt chunks costed by
// `cost_context` (PromptChunkCost).
PlannerLimits CostedLimits(int32_t free_blocks, int32_t budget, int64_t cost_context,
                           PrefillMode mode = PrefillMode::kChunked, int32_t num_layers = 1) {
  return {.block_size = 16,
          .free_blocks = free_blocks,
          .max_num_seqs = 8,
          .max_batch_tokens = budget,
          .prefill_mode = mode,
          .num_layers = num_layers,
          .cost_context = cost_context};
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

struct Layered {
  int64_t id, tokens;
  int32_t begin, end, groups;
  bool operator==(const Layered&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Layered& c) {
  return os << "{" << c.id << ", " << c.tokens << ", [" << c.begin << "," << c.end << "), G="
            << c.groups << "}";
}
std::vector<Layered> LayeredChunks(const StepPlan& plan) {
  std::vector<Layered> out;
  for (const auto& c : plan.chunks) {
    out.push_back({c.id, c.num_tokens, c.layer_begin, c.layer_end, c.groups});
  }
  return out;
}

TEST(PromptChunkCostTest, CountsTokensThenTheirAttentionOverTheContext) {
  EXPECT_EQ(PromptChunkCost(2048, 6144, 0), 2048) << "no cost context: a token costs 1";
  // 4 tokens after 10: they attend over 11 + 12 + 13 + 14 = 50 tokens; 50 / 10 = 5.
  EXPECT_EQ(PromptChunkCost(4, 10, 10), 4 + 5);
  EXPECT_EQ(PromptChunkCost(4, 10, 100), 4 + 1) << "a fraction of a token rounds up";
  EXPECT_EQ(PromptChunkCost(0, 10, 10), 0);
  // A token attending over cost_context tokens costs 2.
  EXPECT_EQ(PromptChunkCost(1, 4095, 4096), 2);
}

TEST(PromptChunkCostTest, TokensWithinIsTheLargestAffordableCount) {
  for (const int64_t context : {0, 1, 512, 5376}) {
    for (const int64_t computed : {0, 100, 6144, 100000}) {
      for (const int64_t budget : {1, 7, 2048, 8192}) {
        const int64_t tokens = PromptTokensWithin(budget, computed, 100000, context);
        SCOPED_TRACE(testing::Message() << "context " << context << " computed " << computed
                                        << " budget " << budget);
        if (tokens > 0) EXPECT_LE(PromptChunkCost(tokens, computed, context), budget);
        EXPECT_GT(PromptChunkCost(tokens + 1, computed, context), budget);
      }
    }
  }
  EXPECT_EQ(PromptTokensWithin(2048, 6144, 300, 5376), 300) << "capped by max_tokens";
}

TEST(StepPlannerTest, CostedChunksShrinkAsTheContextGrows) {
  const PlannerLimits limits = CostedLimits(10000, 2048, 4096);
  // The first chunk of a long prompt attends over little; a later one over 6144 tokens more.
  StepPlan plan = PlanStep({}, {Waiting(1, 16000)}, limits);
  ASSERT_EQ(plan.chunks.size(), 1u);
  const int64_t first = plan.chunks[0].num_tokens;
  EXPECT_EQ(first, PromptTokensWithin(2048, 0, 16000, 4096));
  EXPECT_LT(first, 2048);
  EXPECT_GT(first, 1500);
  plan = PlanStep({Running(1, 16000, 6144, 384)}, {}, limits);
  ASSERT_EQ(plan.chunks.size(), 1u);
  const int64_t later = plan.chunks[0].num_tokens;
  EXPECT_EQ(later, PromptTokensWithin(2048, 6144, 16000 - 6144, 4096));
  EXPECT_LT(later, first * 2 / 3);
  // Decodes cost one each and come first; the chunk gets what cost is left.
  plan = PlanStep({Running(1, 16000, 6144, 384), Running(2, 101, 100, 7)}, {}, limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{2, 1},
                                        std::pair{1L, PromptTokensWithin(2047, 6144, 9856, 4096)}));
}

TEST(StepPlannerTest, ACostedPromptAdvancesEvenWhenOneTokenCostsMoreThanTheBudget) {
  const PlannerLimits limits = CostedLimits(10000, 8, 1000);
  // Each token attends over 100000 tokens: a cost of 101 against a budget of 8.
  StepPlan plan = PlanStep({Running(1, 110000, 100000, 6250)}, {}, limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{1, 1}));
}

TEST(StepPlannerModesTest, WholePrefillIgnoresTheCostContext) {
  const PlannerLimits limits = CostedLimits(1000, 4096, 512, PrefillMode::kWhole);
  StepPlan plan = PlanStep({}, {Waiting(1, 3000), Waiting(2, 1000)}, limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{1, 3000},
                                        std::pair{2L, 1000L}));
}

TEST(LayerGroupsTest, PaperTableClampedToTheModel) {
  const LayeredOptions paper;
  EXPECT_EQ(LayerGroupsFor(1, 32, paper), 1);
  EXPECT_EQ(LayerGroupsFor(512, 32, paper), 1);
  EXPECT_EQ(LayerGroupsFor(513, 32, paper), 2);
  EXPECT_EQ(LayerGroupsFor(2048, 32, paper), 4);
  EXPECT_EQ(LayerGroupsFor(4096, 32, paper), 8);
  EXPECT_EQ(LayerGroupsFor(4097, 32, paper), 16);
  EXPECT_EQ(LayerGroupsFor(100000, 3, paper), 3) << "never more groups than layers";
  LayeredOptions custom{.max_groups = 4, .table = {{64, 2}}};
  EXPECT_EQ(LayerGroupsFor(64, 32, custom), 2);
  EXPECT_EQ(LayerGroupsFor(65, 32, custom), 4);
}

TEST(LayerGroupsTest, FewestGroupsForTheHeaviestGroupsLayers) {
  const LayeredOptions paper;
  EXPECT_EQ(LayerGroupsFor(100000, 48, paper), 16);  // 3 layers each already
  EXPECT_EQ(LayerGroupsFor(4096, 48, paper), 8);
  EXPECT_EQ(LayerGroupsFor(100000, 36, paper), 12) << "16 groups of 36 layers carry up to 3";
  EXPECT_EQ(LayerGroupsFor(100000, 40, paper), 14);  // 3 layers at most: 14 groups of 2-3
  const LayeredOptions wide{.max_groups = 32};
  EXPECT_EQ(LayerGroupsFor(100000, 48, wide), 24) << "not 1 and 2 layers alternating";
  EXPECT_EQ(LayerGroupsFor(100000, 32, wide), 32);
  EXPECT_EQ(LayerGroupsFor(100000, 20, wide), 20);
  for (int32_t layers : {1, 3, 28, 36, 40, 48}) {
    for (int32_t g = 1; g <= 32; ++g) {
      const LayeredOptions options{.max_groups = g, .table = {}};
      const int32_t groups = LayerGroupsFor(1, layers, options);
      const int32_t clamped = std::min(g, layers);
      const auto heaviest = [&](int32_t n) { return (layers + n - 1) / n; };
      EXPECT_LE(groups, clamped);
      EXPECT_EQ(heaviest(groups), heaviest(clamped)) << layers << " layers, " << g << " groups";
      if (groups > 1) EXPECT_GT(heaviest(groups - 1), heaviest(clamped));
    }
  }
}

TEST(LayerGroupsTest, RangesTileTheLayersContiguously) {
  for (int32_t layers : {1, 3, 28, 32, 48}) {
    for (int32_t groups = 1; groups <= std::min(layers, 16); ++groups) {
      int32_t next = 0;
      for (int32_t g = 0; g < groups; ++g) {
        const auto [begin, end] = LayerGroupRange(g, groups, layers);
        EXPECT_EQ(begin, next);
        EXPECT_GE(end - begin, layers / groups);
        EXPECT_LE(end - begin, layers / groups + 1);
        next = end;
      }
      EXPECT_EQ(next, layers);
    }
  }
}

TEST(StepPlannerModesTest, WholeRunsAPromptEntirelyOrNotAtAllAheadOfDecodes) {
  PlannerLimits limits{.block_size = 16,
                       .free_blocks = 100,
                       .max_num_seqs = 8,
                       .max_batch_tokens = 100,
                       .prefill_mode = PrefillMode::kWhole,
                       .num_layers = 4};
  // A 99-token prompt goes first and leaves one token of budget: one of two decodes stalls.
  StepPlan plan = PlanStep({Running(1, 11, 10, 1), Running(2, 21, 20, 2)}, {Waiting(3, 99)},
                           limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{3, 99}, std::pair{1L, 1L}));
  for (const auto& c : plan.chunks) EXPECT_EQ(c.layer_end, 4);
  // A prompt that does not fit what is left waits whole, and nobody overtakes it.
  plan = PlanStep({Running(1, 11, 10, 1)}, {Waiting(2, 60), Waiting(3, 60), Waiting(4, 5)},
                  limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{2, 60}, std::pair{1L, 1L}));
  EXPECT_THAT(plan.admitted, ElementsAre(2));
  // Only a prompt longer than the whole budget is cut, into pieces of the whole budget.
  plan = PlanStep({Running(1, 11, 10, 1)}, {Waiting(2, 250)}, limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{2, 100}));
  plan = PlanStep({Running(1, 11, 10, 1), Running(2, 250, 100, 7)}, {}, limits);
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{2, 100}));
}

TEST(StepPlannerModesTest, WholeHoldsBlocksBackForTheDecodes) {
  // Both decodes need a fresh block; only two are free: the prompt must not take them.
  PlannerLimits limits{.block_size = 16,
                       .free_blocks = 2,
                       .max_num_seqs = 8,
                       .max_batch_tokens = 100,
                       .prefill_mode = PrefillMode::kWhole};
  StepPlan plan = PlanStep({Running(1, 17, 16, 1), Running(2, 33, 32, 2)}, {Waiting(3, 10)},
                           limits);
  EXPECT_THAT(plan.admitted, IsEmpty());
  EXPECT_THAT(Chunks(plan), ElementsAre(std::pair<int64_t, int64_t>{1, 1}, std::pair{2L, 1L}));
  EXPECT_THAT(plan.preempted, IsEmpty());
}

TEST(StepPlannerModesTest, LayeredCohortTakesTheFirstGroupWithDecodesThroughAllLayers) {
  PlannerLimits limits{.block_size = 16,
                       .free_blocks = 1000,
                       .max_num_seqs = 8,
                       .max_batch_tokens = 4096,
                       .prefill_mode = PrefillMode::kLayered,
                       .num_layers = 32};
  // 1500 + 600 = 2100 prompt tokens: G = 8 groups of 4 layers.
  StepPlan plan = PlanStep({Running(1, 11, 10, 1)}, {Waiting(2, 1500), Waiting(3, 600)}, limits);
  EXPECT_THAT(LayeredChunks(plan), ElementsAre(Layered{1, 1, 0, 32, 1}, Layered{2, 1500, 0, 4, 8},
                                               Layered{3, 600, 0, 4, 8}));
  EXPECT_THAT(plan.admitted, ElementsAre(2, 3));
}

TEST(StepPlannerModesTest, LayeredCohortInFlightAdvancesOneGroupAndBlocksNewCohorts) {
  PlannerLimits limits{.block_size = 16,
                       .free_blocks = 1000,
                       .max_num_seqs = 8,
                       .max_batch_tokens = 4096,
                       .prefill_mode = PrefillMode::kLayered,
                       .num_layers = 32};
  SequenceState member = Running(2, 1500, 0, 94);
  member.cohort_tokens = 1500;
  member.cohort_groups = 8;
  member.cohort_next_group = 3;
  StepPlan plan = PlanStep({Running(1, 11, 10, 1), member}, {Waiting(3, 10)}, limits);
  EXPECT_THAT(LayeredChunks(plan),
              ElementsAre(Layered{1, 1, 0, 32, 1}, Layered{2, 1500, 12, 16, 8}));
  EXPECT_THAT(plan.admitted, IsEmpty()) << "one cohort at a time";
}

TEST(StepPlannerModesTest, LayeredMemberInFlightIsNeverAVictim) {
  PlannerLimits limits{.block_size = 16,
                       .free_blocks = 0,
                       .max_num_seqs = 8,
                       .max_batch_tokens = 4096,
                       .prefill_mode = PrefillMode::kLayered,
                       .num_layers = 4};
  SequenceState member = Running(9, 600, 0, 38);  // newest: the usual victim
  member.cohort_tokens = 600;
  member.cohort_groups = 2;
  member.cohort_next_group = 1;
  StepPlan plan = PlanStep({Running(1, 17, 16, 1), member}, {}, limits);
  EXPECT_THAT(plan.preempted, ElementsAre(1)) << "the decode preempts itself instead";
  EXPECT_THAT(LayeredChunks(plan), ElementsAre(Layered{9, 600, 2, 4, 2}));
}

TEST(StepPlannerModesTest, LayeredLongPromptJoinsCohortsInBudgetSizedChunks) {
  PlannerLimits limits{.block_size = 16,
                       .free_blocks = 1000,
                       .max_num_seqs = 8,
                       .max_batch_tokens = 2048,
                       .prefill_mode = PrefillMode::kLayered,
                       .num_layers = 32};
  StepPlan plan = PlanStep({}, {Waiting(1, 6000)}, limits);
  EXPECT_THAT(LayeredChunks(plan), ElementsAre(Layered{1, 2048, 0, 8, 4}));
  // After that chunk's last group, the rest continues as the next cohort.
  plan = PlanStep({Running(1, 6000, 2048, 128)}, {Waiting(2, 100)}, limits);
  EXPECT_THAT(LayeredChunks(plan), ElementsAre(Layered{1, 2048, 0, 8, 4}));
  EXPECT_THAT(plan.admitted, IsEmpty()) << "the budget went to the continuing prompt";
}

TEST(StepPlannerModesTest, LayeredCostedCohortsShrinkAndTakeGroupsByCost) {
  const PlannerLimits limits = CostedLimits(1000, 2048, 4096, PrefillMode::kLayered, 32);
  // A later chunk of a long prompt: fewer tokens than the budget, yet its cost (about the
  // whole budget) picks the table's row for 2048, not the one for its token count.
  StepPlan plan = PlanStep({Running(1, 12000, 6144, 384)}, {}, limits);
  const int64_t tokens = PromptTokensWithin(2048, 6144, 12000 - 6144, 4096);
  ASSERT_LE(tokens, 1024);
  EXPECT_THAT(LayeredChunks(plan), ElementsAre(Layered{1, tokens, 0, 8, 4}));
}

TEST(CohortTiersTest, ACohortStartsAtTheTableRowThatCompletesMostTokensPerIteration) {
  const LayeredOptions paper{.cohort_tiers = true};  // 512:1,1024:2,2048:4,4096:8, then 16
  // 6144 in 16 groups completes 384 tokens per iteration; the 4096 row (8 groups) 512.
  EXPECT_EQ(CohortCostFor(6144, 8448, 32, paper), 4096);
  EXPECT_EQ(CohortCostFor(3000, 8448, 32, paper), 2048);
  EXPECT_EQ(CohortCostFor(700, 8448, 32, paper), 512);
  // Rows of equal ratio keep the cohort whole; nothing below the first row.
  EXPECT_EQ(CohortCostFor(4096, 8448, 32, paper), 4096);
  EXPECT_EQ(CohortCostFor(2048, 8448, 32, paper), 2048);
  EXPECT_EQ(CohortCostFor(300, 8448, 32, paper), 300);
  LayeredOptions off = paper;
  off.cohort_tiers = false;
  EXPECT_EQ(CohortCostFor(6144, 8448, 32, off), 6144);
}

TEST(CohortTiersTest, NoRowWhoseIterationsOutweighAFullBudgetCohorts) {
  // One layer per iteration for anything above 512 tokens.
  const LayeredOptions fine{
      .max_groups = 32, .table = {{64, 1}, {128, 2}, {256, 4}, {512, 8}}, .cohort_tiers = true};
  // A 1536-token budget runs 1536 tokens x 1 layer; the 512 row would run 512 x 4.
  EXPECT_EQ(CohortCostFor(1536, 1536, 32, fine), 1536);
  EXPECT_EQ(CohortCostFor(1000, 1536, 32, fine), 1000);
  // An 8448-token budget allows 8448 x 1: the 512 row (2048 tokens x layers) is lighter
  // and completes 64 tokens per iteration against 1000's 31.
  EXPECT_EQ(CohortCostFor(1000, 8448, 32, fine), 512);
  EXPECT_EQ(CohortCostFor(6144, 8448, 32, fine), 6144);
}

TEST(StepPlannerModesTest, LayeredLongPromptRunsAsCohortsOfTheTablesRows) {
  PlannerLimits limits = CostedLimits(1000, 8448, /*cost_context=*/0, PrefillMode::kLayered, 32);
  limits.layered.cohort_tiers = true;
  // 6144 prompt tokens: 4096 in 8 groups, then the other 2048 in 4 (12 iterations in all,
  // against 16 for one cohort of 6144).
  StepPlan plan = PlanStep({Running(1, 11, 10, 1)}, {Waiting(2, 6144)}, limits);
  EXPECT_THAT(LayeredChunks(plan), ElementsAre(Layered{1, 1, 0, 32, 1}, Layered{2, 4096, 0, 4, 8}));
  EXPECT_THAT(plan.admitted, ElementsAre(2));
  plan = PlanStep({Running(1, 12, 11, 1), Running(2, 6144, 4096, 256)}, {}, limits);
  EXPECT_THAT(LayeredChunks(plan), ElementsAre(Layered{1, 1, 0, 32, 1}, Layered{2, 2048, 0, 8, 4}));
  // Two prompts: the first whole and 1096 tokens of the second make the 4096 row.
  plan = PlanStep({}, {Waiting(3, 3000), Waiting(4, 3000)}, limits);
  EXPECT_THAT(LayeredChunks(plan),
              ElementsAre(Layered{3, 3000, 0, 4, 8}, Layered{4, 1096, 0, 4, 8}));
  EXPECT_THAT(plan.admitted, ElementsAre(3, 4));
  // A prompt's last 498 tokens go alone in one group, not with a new 7008-token prompt in
  // 16: the new prompt starts an iteration later.
  plan = PlanStep({Running(2, 4594, 4096, 256)}, {Waiting(5, 7008)}, limits);
  EXPECT_THAT(LayeredChunks(plan), ElementsAre(Layered{2, 498, 0, 32, 1}));
  EXPECT_THAT(plan.admitted, IsEmpty());
  // Without tiers: one cohort of 6000 in 16 groups, and the tail joins the new prompt.
  limits.layered.cohort_tiers = false;
  plan = PlanStep({}, {Waiting(3, 3000), Waiting(4, 3000)}, limits);
  EXPECT_THAT(LayeredChunks(plan),
              ElementsAre(Layered{3, 3000, 0, 2, 16}, Layered{4, 3000, 0, 2, 16}));
  plan = PlanStep({Running(2, 4594, 4096, 256)}, {Waiting(5, 7008)}, limits);
  EXPECT_THAT(LayeredChunks(plan),
              ElementsAre(Layered{2, 498, 0, 2, 16}, Layered{5, 7008, 0, 2, 16}));
}

}  // namespace
}  // namespace strata::scheduler
