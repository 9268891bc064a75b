// Test helper shared by the CPU and CUDA model tests: greedy generation through the engine
// with EOS ignored, all prompts batched together or run one at a time. Request ids are the
// prompts' indices; returns each prompt's generated tokens.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "scheduler/engine.h"
#include "worker/worker.h"

namespace strata::worker {

inline std::vector<std::vector<int32_t>> GreedyGenerate(
    Worker* worker, const std::vector<std::vector<int32_t>>& prompts, bool batched,
    int32_t max_tokens, int32_t max_num_seqs, int32_t max_batch_tokens) {
  scheduler::Engine engine(worker,
                           {.max_num_seqs = max_num_seqs, .max_batch_tokens = max_batch_tokens});
  std::vector<std::vector<int32_t>> outputs(prompts.size());
  auto run = [&] {
    while (engine.HasWork()) {
      auto step = engine.Step();
      EXPECT_TRUE(step.ok()) << step.status();
      if (!step.ok()) return;
      for (const auto& out : *step) {
        for (const auto& t : out.tokens) outputs[out.id].push_back(t.token);
      }
    }
  };
  for (size_t i = 0; i < prompts.size(); ++i) {
    scheduler::Request r;
    r.id = static_cast<int64_t>(i);
    r.prompt_tokens = prompts[i];
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    r.sampling.temperature = 0.0f;
    EXPECT_TRUE(engine.AddRequest(r).ok());
    if (!batched) run();
  }
  run();
  return outputs;
}

}  // namespace strata::worker
