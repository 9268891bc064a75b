// strata-bench-eviction: the host-side cost per decode step of each KV eviction policy for
// one sequence at its budget (the bookkeeping the engine thread adds per step: the policy's
// decision, dropping blocks with table compaction, and appending the new token).
//
//   strata-bench-eviction [--context 32768] [--steps 100000] [--block-size 16]
//
// The sequence holds --context tokens and its budget is --context tokens: under `none`
// each step appends one token below the cap (the cap is raised by one block per block
// filled, so the request never ends); under `streaming` each step that fills a block drops
// the oldest block after the sinks; under `heavy_hitter` each step also does the engine's
// score bookkeeping (every table entry's step count incremented; the worker's mass is
// added outside the timed part, as the device does it) and each step that fills a block selects the lowest-scoring block
// outside the recent window (64 tokens) and compacts the table and the scores; under
// `adaptive_precision` (sinks 4 tokens, window 64, full-precision share 0.1, an int8 block
// costing a quarter of a float32 one as on the CPU backend) each step also sums the
// table's cost, and each step that fills a block ranks the candidates, flags the chosen
// ones int8 and drops what quantizing cannot pay for. The run starts with every block at
// full precision, so it covers the transition (quantize only) and the steady state
// (quantize one, drop about one per block).
#include <chrono>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/check.h"
#include "cache/eviction_policy.h"
#include "cache/kv_cache_manager.h"

namespace {

using namespace strata::cache;

// What Engine::DropBlocks does to the scores: erase the dropped indices, in order.
void CompactScores(std::span<const int32_t> drop, std::vector<float>* mass,
                   std::vector<int32_t>* steps) {
  size_t next = 0, out = 0;
  for (size_t i = 0; i < mass->size(); ++i) {
    if (next < drop.size() && static_cast<size_t>(drop[next]) == i) {
      ++next;
    } else {
      (*mass)[out] = (*mass)[i];
      (*steps)[out++] = (*steps)[i];
    }
  }
  mass->resize(out);
  steps->resize(out);
}

double NanosPerStep(std::string_view policy_name, int64_t context, int64_t steps,
                    int32_t block_size) {
  auto policy = MakeEvictionPolicy(policy_name, {.streaming_sink_tokens = 4,
                                                .heavy_hitter_recent_tokens = 64,
                                                .adaptive_sink_tokens = 4,
                                                .adaptive_recent_tokens = 64});
  STRATA_CHECK(policy.ok());
  const int32_t cap = static_cast<int32_t>((context + block_size - 1) / block_size);
  const bool quantizing = (*policy)->quantizes();
  const int32_t held_max = quantizing ? 4 * cap : cap;  // int8 blocks cost a quarter
  KvCacheManager kv(
      {block_size, held_max + 2 + static_cast<int32_t>(steps / block_size), 0, false});
  STRATA_CHECK(kv.Append(1, context, nullptr));
  int32_t cap_blocks = cap;
  std::vector<int64_t> slots;
  // heavy_hitter's per-block scores, as the engine keeps them (pseudo-random masses).
  const bool scored = (*policy)->wants_attention_mass();
  std::vector<float> mass;
  std::vector<int32_t> block_steps;
  uint32_t noise = 12345;
  // Only the engine thread's share is timed; the worker's mass accumulation (simulated
  // here with pseudo-random masses) happens on the device during the forward pass.
  std::chrono::steady_clock::duration engine_time{};
  for (int64_t s = 0; s < steps; ++s) {
    const auto start = std::chrono::steady_clock::now();
    BudgetView view{block_size, cap_blocks, static_cast<int32_t>(kv.BlockTable(1).size()),
                    kv.NumTokens(1), mass, block_steps};
    if (quantizing) {
      view.block_precision = kv.BlockPrecision(1);
      view.quantized_blocks = kv.QuantizedBlocks(1);
      view.full_block_cost = 4;
      view.quantized_block_cost = 1;
      view.full_precision_ratio = 0.1f;
    }
    BudgetAction action = (*policy)->MakeRoom(view, 1);
    if (!action.quantize.empty()) kv.QuantizeBlocks(1, action.quantize);
    if (action.finish) {  // `none`: keep the run going, as a larger budget would
      ++cap_blocks;
      action = {};
    }
    if (!action.drop.empty()) {
      kv.DropBlocks(1, action.drop);
      if (scored) CompactScores(action.drop, &mass, &block_steps);
    }
    STRATA_CHECK(kv.Append(1, 1, &slots));
    if (scored) {  // the engine's per-step count, then (untimed) the worker's mass
      mass.resize(kv.BlockTable(1).size(), 0.0f);
      block_steps.resize(mass.size(), 0);
      for (int32_t& n : block_steps) ++n;
    }
    engine_time += std::chrono::steady_clock::now() - start;
    if (scored) {
      for (float& m : mass) {
        noise = noise * 1664525u + 1013904223u;
        m += static_cast<float>(noise >> 8) * 0x1p-24f;
      }
    }
  }
  const double ns = std::chrono::duration<double, std::nano>(engine_time).count();
  return ns / steps;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t context = 32768, steps = 100000, block_size = 16;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int64_t* t = flag == "--context" ? &context : flag == "--steps" ? &steps
               : flag == "--block-size" ? &block_size : nullptr;
    if (t == nullptr || !absl::SimpleAtoi(argv[i + 1], t)) {
      std::fprintf(stderr, "unknown flag or bad value: %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
  std::printf("# KV eviction policy bookkeeping per decode step, one sequence at %lld tokens "
              "(block %lld), %lld steps\n\n| policy | ns per step |\n| --- | --- |\n",
              static_cast<long long>(context), static_cast<long long>(block_size),
              static_cast<long long>(steps));
  for (const char* name : {"none", "streaming", "heavy_hitter", "adaptive_precision"}) {
    std::printf("| %s | %.0f |\n", name,
                NanosPerStep(name, context, steps, static_cast<int32_t>(block_size)));
  }
  return 0;
}
