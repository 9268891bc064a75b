// Builds the worker the configuration asks for and the engine options that match it.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "config/strata_config.h"
#include "scheduler/engine.h"
#include "worker/worker.h"

namespace strata::server {

// worker.backend picks the CPU worker or (in builds with CUDA) the CUDA worker. The CPU
// backend sizes its KV cache from cache.device_blocks, or (0) from the smaller of what
// max_num_seqs full-length sequences need and a quarter of the available memory; the CUDA
// backend from its device memory plan (worker/memory_plan.h).
absl::StatusOr<std::unique_ptr<worker::Worker>> CreateWorker(const config::StrataConfig& config);

scheduler::EngineOptions EngineOptionsFrom(const config::StrataConfig& config);

}  // namespace strata::server
