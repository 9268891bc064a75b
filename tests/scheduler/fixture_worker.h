// Test helpers: the transformers reference fixtures under tests/fixtures/reference, and a
// CPU worker over one with a given device pool and host tier (in blocks).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "worker/cpu_worker.h"

namespace strata::scheduler {

inline std::string ReferenceFixtureDir(const std::string& name) {
  const char* root = std::getenv("STRATA_SOURCE_DIR");
  return std::string(root ? root : ".") + "/tests/fixtures/reference/" + name;
}

inline std::unique_ptr<worker::CpuWorker> MakeCpuFixtureWorker(const std::string& name,
                                                               int32_t block_size,
                                                               int32_t device_blocks,
                                                               int32_t host_blocks = 0) {
  auto probe =
      worker::CpuWorker::Create(ReferenceFixtureDir(name), {.block_size = block_size, .num_blocks = 1});
  EXPECT_TRUE(probe.ok()) << probe.status();
  if (!probe.ok()) return nullptr;
  const int64_t block_bytes = (*probe)->memory().kv_cache_bytes;
  auto worker = worker::CpuWorker::Create(
      ReferenceFixtureDir(name), {.block_size = block_size,
                                  .num_blocks = device_blocks,
                                  .host_cache_bytes = int64_t{host_blocks} * block_bytes});
  EXPECT_TRUE(worker.ok()) << worker.status();
  if (!worker.ok()) return nullptr;
  EXPECT_EQ((*worker)->memory().num_host_kv_blocks, host_blocks);
  return std::move(*worker);
}

}  // namespace strata::scheduler
