// The configuration's scheduler and cache keys reach the engine's options intact.
#include "server/worker_factory.h"

#include <gtest/gtest.h>

#include "config/strata_config.h"

namespace strata::server {
namespace {

TEST(EngineOptionsFromTest, PrefillModeAndLayerGroupTable) {
  auto config = config::ParseConfig(
      "", "test.yaml",
      {"model.path=/models/m", "scheduler.prefill_mode=layered", "scheduler.layered_max_groups=12",
       "scheduler.layered_group_table=100:1,3000:6", "scheduler.prefill_cost_context=5376",
       "scheduler.layered_cohort_tiers=true"});
  ASSERT_TRUE(config.ok()) << config.status();
  const scheduler::EngineOptions options = EngineOptionsFrom(*config);
  EXPECT_EQ(options.prefill_mode, scheduler::PrefillMode::kLayered);
  EXPECT_EQ(options.layered.max_groups, 12);
  EXPECT_EQ(options.prefill_cost_context, 5376);
  EXPECT_TRUE(options.layered.cohort_tiers);
  ASSERT_EQ(options.layered.table.size(), 2u);
  EXPECT_EQ(options.layered.table[0].max_tokens, 100);
  EXPECT_EQ(options.layered.table[0].groups, 1);
  EXPECT_EQ(options.layered.table[1].max_tokens, 3000);
  EXPECT_EQ(options.layered.table[1].groups, 6);
  // 48 layers: 6 and 12 groups are of equal depth, so LayerGroupsFor keeps them.
  EXPECT_EQ(scheduler::LayerGroupsFor(2000, 48, options.layered), 6);
  EXPECT_EQ(scheduler::LayerGroupsFor(5000, 48, options.layered), 12);
  for (const char* mode : {"whole", "chunked"}) {
    auto other = config::ParseConfig(
        "", "test.yaml", {"model.path=/models/m", std::string("scheduler.prefill_mode=") + mode});
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_EQ(EngineOptionsFrom(*other).prefill_mode, std::string(mode) == "whole"
                                                          ? scheduler::PrefillMode::kWhole
                                                          : scheduler::PrefillMode::kChunked);
  }
}

}  // namespace
}  // namespace strata::server
