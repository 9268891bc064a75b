// The engine under memory pressure, on the CPU backend with the reference qwen3 fixture:
// swap and recompute preemption, prefix-cache hits (device and host tier), and per-request
// KV budgets. Greedy outputs must equal an unconstrained run token for token, no request
// may fail, and the bookkeeping invariants (including every budget) are checked after
// every step.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <numeric>

#include "scheduler/engine.h"
#include "scheduler/engine_loop.h"
#include "tests/scheduler/fixture_worker.h"
#include "tests/scheduler/greedy_request.h"
#include "worker/cpu_worker.h"
#ifdef STRATA_ENGINE_TEST_CUDA
#include "worker/cuda_worker.h"
#include "worker/memory_plan.h"
#endif

namespace strata::scheduler {
namespace {

constexpr int32_t kBlockSize = 16;

std::string FixtureDir() { return ReferenceFixtureDir("qwen3"); }

#ifdef STRATA_ENGINE_TEST_CUDA
// The same scenarios on the GPU: the CUDA worker's copies run on their own streams.
std::unique_ptr<worker::Worker> MakeWorker(int32_t device_blocks, int32_t host_blocks) {
  auto config = worker::LoadModelConfig(FixtureDir());
  EXPECT_TRUE(config.ok()) << config.status();
  const int64_t block_bytes = worker::KvBytesPerToken(*config, 2) * kBlockSize;
  auto worker = worker::CudaWorker::Create(
      FixtureDir(), {.block_size = kBlockSize,
                     .num_blocks = device_blocks,
                     .host_cache_bytes = int64_t{host_blocks} * block_bytes,
                     .max_batch_tokens = 512,
                     .max_num_seqs = 16});
  EXPECT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ((*worker)->memory().num_host_kv_blocks, host_blocks);
  return std::move(*worker);
}
#else
std::unique_ptr<worker::Worker> MakeWorker(int32_t device_blocks, int32_t host_blocks) {
  return MakeCpuFixtureWorker("qwen3", kBlockSize, device_blocks, host_blocks);
}
#endif

Request Greedy(RequestId id, std::vector<int32_t> prompt, int32_t max_tokens) {
  return GreedyRequest(id, std::move(prompt), max_tokens);
}

std::vector<int32_t> Tokens(int n, int32_t seed) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = 3 + (seed * 131 + i * 17) % 200;
  return v;
}

struct RunResult {
  std::map<RequestId, std::vector<int32_t>> tokens;
  std::map<RequestId, FinishReason> finish;
  std::map<RequestId, std::string> detail;
  EngineStats stats;
  cache::KvCacheStats kv;
};

// Adds `waves` of requests one wave at a time (a wave runs to completion before the next
// is added) and steps until done, checking invariants after every step.
RunResult RunWaves(worker::Worker* worker, const EngineOptions& options,
              const std::vector<std::vector<Request>>& waves) {
  Engine engine(worker, options);
  RunResult result;
  for (const auto& wave : waves) {
    for (const Request& r : wave) {
      absl::Status s = engine.AddRequest(r);
      EXPECT_TRUE(s.ok()) << s;
    }
    int guard = 0;
    while (engine.HasWork() && ++guard < 100000) {
      auto outputs = engine.Step();
      EXPECT_TRUE(outputs.ok()) << outputs.status();
      if (!outputs.ok()) return result;
      const std::string violation = engine.CheckInvariants();
      EXPECT_EQ(violation, "");
      if (!violation.empty()) return result;
      for (const RequestOutput& out : *outputs) {
        for (const auto& t : out.tokens) result.tokens[out.id].push_back(t.token);
        if (out.finish != FinishReason::kNone) {
          result.finish[out.id] = out.finish;
          result.detail[out.id] = out.finish_detail;
        }
      }
    }
  }
  result.stats = engine.stats();
  result.kv = engine.kv_cache().stats();
  EXPECT_EQ(engine.kv_cache().pool().Count(cache::BlockState::kOwned), 0);
  EXPECT_EQ(engine.kv_cache().pool().Count(cache::BlockState::kInFlight), 0);
  return result;
}

std::vector<Request> Workload(int n, int prompt, int max_tokens, int shared_prefix = 0) {
  std::vector<Request> requests;
  const std::vector<int32_t> system = Tokens(shared_prefix, 999);
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> p = system;
    const std::vector<int32_t> own = Tokens(prompt, i);
    p.insert(p.end(), own.begin(), own.end());
    requests.push_back(Greedy(i + 1, std::move(p), max_tokens));
  }
  return requests;
}

int32_t WorkingSetBlocks(const std::vector<Request>& requests) {
  int32_t blocks = 0;
  for (const Request& r : requests) {
    blocks += (r.prompt_tokens.size() + r.max_tokens + kBlockSize - 1) / kBlockSize;
  }
  return blocks;
}

void ExpectSameTokens(const RunResult& got, const RunResult& want) {
  ASSERT_EQ(got.tokens.size(), want.tokens.size());
  for (const auto& [id, tokens] : want.tokens) {
    EXPECT_EQ(got.tokens.at(id), tokens) << "request " << id;
    EXPECT_EQ(got.finish.at(id), FinishReason::kLength) << "request " << id;
  }
}

class PreemptionTest : public testing::TestWithParam<PreemptionMode> {};

TEST_P(PreemptionTest, QuarterSizedPoolServesTwiceWhatFitsWithIdenticalTokens) {
  const std::vector<Request> requests = Workload(12, 40, 24);
  const int32_t working_set = WorkingSetBlocks(requests);  // 12 * 4 = 48 blocks
  auto roomy = MakeWorker(working_set + 8, 0);
  const RunResult want =
      RunWaves(roomy.get(), {.max_num_seqs = 16, .max_batch_tokens = 256}, {requests});
  ASSERT_EQ(want.stats.preemptions, 0);

  auto tight = MakeWorker(working_set / 4, working_set);
  const RunResult got = RunWaves(tight.get(),
                            {.max_num_seqs = 16, .max_batch_tokens = 256, .preemption = GetParam()},
                            {requests});
  ExpectSameTokens(got, want);
  EXPECT_GT(got.stats.preemptions, 0) << "the pool holds a quarter of the working set";
  if (GetParam() == PreemptionMode::kSwap) {
    EXPECT_EQ(got.stats.swap_preemptions, got.stats.preemptions);
    EXPECT_GT(got.kv.blocks_swapped_out, 0);
    EXPECT_EQ(got.kv.blocks_swapped_in, got.kv.blocks_swapped_out);
  } else {
    EXPECT_EQ(got.stats.swap_preemptions, 0);
    EXPECT_EQ(got.kv.blocks_swapped_out, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, PreemptionTest,
                         testing::Values(PreemptionMode::kSwap, PreemptionMode::kRecompute),
                         [](const auto& info) {
                           return info.param == PreemptionMode::kSwap ? "Swap" : "Recompute";
                         });

TEST(EngineMemoryTest, SwapFallsBackToRecomputeWhenTheHostTierIsFull) {
  // Victims of different sizes: the host tier takes the small ones only.
  std::vector<Request> requests = Workload(4, 12, 40);
  for (Request r : Workload(4, 60, 40)) {
    r.id += 10;
    requests.push_back(std::move(r));
  }
  const int32_t working_set = WorkingSetBlocks(requests);
  auto roomy = MakeWorker(working_set, 0);
  const RunResult want = RunWaves(roomy.get(), {.max_num_seqs = 8, .max_batch_tokens = 256}, {requests});
  auto tight = MakeWorker(working_set / 4, /*host_blocks=*/4);
  const RunResult got = RunWaves(
      tight.get(),
      {.max_num_seqs = 8, .max_batch_tokens = 256, .preemption = PreemptionMode::kSwap},
      {requests});
  ExpectSameTokens(got, want);
  EXPECT_GT(got.stats.swap_preemptions, 0);
  EXPECT_GT(got.stats.preemptions, got.stats.swap_preemptions) << "some were recomputed";
}

TEST(EngineMemoryTest, PrefixHitsGiveTheSameTokensAndSkipThePrefill) {
  // A shared 64-token system prompt; the second wave finds it cached.
  const std::vector<Request> first = Workload(2, 20, 8, /*shared_prefix=*/64);
  std::vector<Request> second = Workload(3, 20, 8, 64);
  for (Request& r : second) r.id += 100;
  auto plain = MakeWorker(64, 0);
  const RunResult want = RunWaves(plain.get(), {.max_num_seqs = 8, .max_batch_tokens = 512},
                             {first, second});
  auto cached = MakeWorker(64, 0);
  const RunResult got = RunWaves(cached.get(),
                            {.max_num_seqs = 8, .max_batch_tokens = 512, .prefix_caching = true},
                            {first, second});
  ExpectSameTokens(got, want);
  EXPECT_GE(got.kv.prefix_hits, 3 * 4) << "each second-wave request reuses 4 system blocks";
  EXPECT_LT(got.stats.prompt_tokens_computed, want.stats.prompt_tokens_computed);
}

TEST(EngineMemoryTest, PrefixDemotedToTheHostTierIsPromotedBack) {
  const std::vector<Request> first = {Workload(1, 10, 4, /*shared_prefix=*/64)[0]};
  std::vector<Request> filler = Workload(2, 60, 4);  // pushes the cached prefix out
  for (Request& r : filler) r.id += 10;
  Request again = Workload(1, 12, 6, 64)[0];
  again.id = 50;
  auto plain = MakeWorker(16, 0);
  const RunResult want = RunWaves(plain.get(), {.max_num_seqs = 4, .max_batch_tokens = 512},
                             {first, filler, {again}});
  auto tiered = MakeWorker(/*device_blocks=*/10, /*host_blocks=*/16);
  const RunResult got =
      RunWaves(tiered.get(), {.max_num_seqs = 4, .max_batch_tokens = 512, .prefix_caching = true},
          {first, filler, {again}});
  ExpectSameTokens(got, want);
  EXPECT_GT(got.kv.blocks_demoted, 0);
  EXPECT_GE(got.kv.prefix_hits, 4) << "the whole system prompt was reused";
  EXPECT_GT(got.kv.prefix_host_hits, 0) << "part of it came back from the host tier";
}

TEST(EngineMemoryTest, SaltsKeepTenantsApart) {
  std::vector<Request> a = Workload(1, 20, 4, 64), b = Workload(1, 20, 4, 64);
  a[0].cache_salt = "tenant-a";
  b[0].cache_salt = "tenant-b";
  b[0].id = 2;
  auto worker = MakeWorker(64, 0);
  const RunResult got = RunWaves(worker.get(), {.max_num_seqs = 4, .prefix_caching = true}, {a, b});
  EXPECT_EQ(got.kv.prefix_hits, 0);
}

TEST(EngineMemoryTest, BudgetWithoutEvictionEndsTheRequestWithLength) {
  auto worker = MakeWorker(64, 0);
  Request r = Greedy(1, Tokens(10, 1), 100);
  r.kv_budget_tokens = 30;  // two blocks: 32 tokens
  const RunResult got = RunWaves(worker.get(), {.max_num_seqs = 4}, {{r}});
  EXPECT_EQ(got.finish.at(1), FinishReason::kLength);
  EXPECT_EQ(got.tokens.at(1).size(), 32u - 10u + 1u) << "the last token needs no K/V";
  EXPECT_NE(got.detail.at(1).find("KV budget of 32 tokens"), std::string::npos);

  Engine engine(worker.get(), {});
  Request too_long = Greedy(2, Tokens(40, 2), 4);
  too_long.kv_budget_tokens = 32;
  absl::Status status = engine.AddRequest(too_long);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("exceeds kv_budget_tokens"), std::string::npos) << status;
  Request unknown = Greedy(3, Tokens(4, 3), 4);
  unknown.eviction_policy = "h2o";
  EXPECT_EQ(engine.AddRequest(unknown).code(), absl::StatusCode::kInvalidArgument);
}

TEST(EngineMemoryTest, StreamingKeepsSinksAndARecentWindowUnderTheBudget) {
  auto worker = MakeWorker(64, 0);
  // A prompt longer than the budget and a long generation: blocks are dropped as it goes,
  // never more than 4 resident (checked after every step by CheckInvariants).
  Request r = Greedy(1, Tokens(100, 5), 80);
  r.kv_budget_tokens = 64;
  r.eviction_policy = "streaming";
  const RunResult got = RunWaves(worker.get(), {.max_num_seqs = 4, .max_batch_tokens = 512}, {{r}});
  EXPECT_EQ(got.tokens.at(1).size(), 80u);
  EXPECT_GT(got.kv.blocks_dropped, 0);
  // Too small a budget for sinks plus a window is refused up front.
  Engine engine(worker.get(), {});
  Request tiny = r;
  tiny.id = 2;
  tiny.kv_budget_tokens = 16;
  EXPECT_EQ(engine.AddRequest(tiny).code(), absl::StatusCode::kInvalidArgument);
}

TEST(EngineMemoryTest, StreamingWithARoomyBudgetChangesNothing) {
  const std::vector<Request> plain = Workload(3, 30, 20);
  std::vector<Request> budgeted = plain;
  for (Request& r : budgeted) {
    r.kv_budget_tokens = 64;  // 30 + 20 tokens fit: nothing is ever dropped
    r.eviction_policy = "streaming";
  }
  auto worker = MakeWorker(64, 0);
  const RunResult want = RunWaves(worker.get(), {.max_num_seqs = 4}, {plain});
  const RunResult got = RunWaves(worker.get(), {.max_num_seqs = 4}, {budgeted});
  ExpectSameTokens(got, want);
  EXPECT_EQ(got.kv.blocks_dropped, 0);
}

TEST(EngineMemoryTest, HeavyHitterStaysUnderTheBudgetAndDropsBlocks) {
  auto worker = MakeWorker(64, 0);
  // Prompts longer than the budget and long generations: blocks outside the recent window
  // are dropped by attention mass, never more than 4 resident (CheckInvariants, every step).
  std::vector<Request> requests = Workload(3, 100, 80);
  for (Request& r : requests) {
    r.kv_budget_tokens = 64;
    r.eviction_policy = "heavy_hitter";
  }
  const EngineOptions options{
      .max_num_seqs = 4, .max_batch_tokens = 512, .heavy_hitter_recent_tokens = 32};
  const RunResult got = RunWaves(worker.get(), options, {requests});
  for (const Request& r : requests) {
    EXPECT_EQ(got.tokens.at(r.id).size(), 80u) << "request " << r.id;
    EXPECT_EQ(got.finish.at(r.id), FinishReason::kLength) << "request " << r.id;
  }
  // 180 tokens through 4 blocks each: at least (180 - 64) / 16 blocks dropped per request.
  EXPECT_GE(got.kv.blocks_dropped, 3 * ((180 - 64) / kBlockSize));
  // The budget must hold the recent window plus a block.
  Engine engine(worker.get(), options);
  Request tiny = requests[0];
  tiny.kv_budget_tokens = 32;
  const absl::Status status = engine.AddRequest(tiny);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("minimum of 48 for eviction policy heavy_hitter"),
            std::string::npos)
      << status;
  // The config default applies to requests that name no policy.
  Engine by_default(worker.get(), {.eviction_policy = "heavy_hitter",
                                   .default_kv_budget_tokens = 96,
                                   .heavy_hitter_recent_tokens = 32});
  Request plain = Greedy(9, Tokens(4, 9), 4);
  EXPECT_TRUE(by_default.AddRequest(plain).ok());
}

TEST(EngineMemoryTest, HeavyHitterWithARoomyBudgetChangesNothing) {
  const std::vector<Request> plain = Workload(3, 30, 20);
  std::vector<Request> budgeted = plain;
  for (Request& r : budgeted) {
    r.kv_budget_tokens = 96;  // 30 + 20 tokens fit (and the default 64-token window + 1)
    r.eviction_policy = "heavy_hitter";
  }
  auto worker = MakeWorker(64, 0);
  const RunResult want = RunWaves(worker.get(), {.max_num_seqs = 4}, {plain});
  const RunResult got = RunWaves(worker.get(), {.max_num_seqs = 4}, {budgeted});
  ExpectSameTokens(got, want);
  EXPECT_EQ(got.kv.blocks_dropped, 0);
}

// The same budget and window under streaming (oldest first, one sink block) and
// heavy_hitter (lowest attention mass first) keep different blocks, so a long generation
// diverges somewhere, while both stay within the budget.
TEST(EngineMemoryTest, HeavyHitterChoosesOtherBlocksThanStreaming) {
  auto worker = MakeWorker(64, 0);
  std::vector<Request> streaming = Workload(2, 120, 60);
  std::vector<Request> heavy = streaming;
  for (Request& r : streaming) {
    r.kv_budget_tokens = 64;
    r.eviction_policy = "streaming";
  }
  for (Request& r : heavy) {
    r.kv_budget_tokens = 64;
    r.eviction_policy = "heavy_hitter";
  }
  const EngineOptions options{.max_num_seqs = 4, .max_batch_tokens = 512,
                              .streaming_sink_tokens = 16, .heavy_hitter_recent_tokens = 32};
  const RunResult a = RunWaves(worker.get(), options, {streaming});
  const RunResult b = RunWaves(worker.get(), options, {heavy});
  EXPECT_GT(b.kv.blocks_dropped, 0);
  EXPECT_NE(a.tokens, b.tokens);
}

TEST(EngineMemoryTest, EngineLoopUnderPressureFailsNothingAndCountsPreemptions) {
  const std::vector<Request> requests = Workload(12, 40, 24);
  const int32_t working_set = WorkingSetBlocks(requests);
  EngineLoop loop(MakeWorker(working_set / 4, working_set),
                  {.max_num_seqs = 16, .max_batch_tokens = 256, .preemption = PreemptionMode::kSwap},
                  {});
  loop.Start();
  std::mutex mutex;
  int finished = 0, failed = 0;
  std::promise<void> all_done;
  for (const Request& r : requests) {
    ASSERT_TRUE(loop.Submit(r, [&](const StreamEvent& e) {
                      if (e.status.ok() && e.output.finish == FinishReason::kNone) return;
                      std::lock_guard lock(mutex);
                      (e.status.ok() && e.output.finish == FinishReason::kLength ? finished
                                                                                 : failed)++;
                      if (finished + failed == static_cast<int>(requests.size())) {
                        all_done.set_value();
                      }
                    }).ok());
  }
  all_done.get_future().wait();
  EXPECT_EQ(failed, 0);
  const EngineMetricsSnapshot m = loop.Metrics();
  EXPECT_GT(m.num_preemptions_total, 0);
  EXPECT_GT(m.num_swap_preemptions_total, 0);
  EXPECT_GT(m.kv.blocks_swapped_out, 0);
  EXPECT_EQ(m.kv_blocks_by_state.at("device").at("owned"), 0);
  EXPECT_EQ(m.kv_blocks_by_state.at("host").at("owned"), 0);
  EXPECT_EQ(m.request_failure_total, 0);
  loop.Stop();
}

}  // namespace
}  // namespace strata::scheduler
