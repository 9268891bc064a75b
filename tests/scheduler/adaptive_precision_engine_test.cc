// adaptive_precision end to end on the CPU backend (qwen3 reference fixture): budgets are
// counted with int8 blocks at their real size and never exceeded (CheckInvariants after
// every step), a roomy budget changes nothing, a tight one quantizes blocks and still
// follows the unconstrained greedy run for a long while.
//
// Built a second time with STRATA_ENGINE_TEST_CUDA (strata-adaptive-precision-cuda-test)
// over the CUDA worker: int8 blocks are bf16 slots rewritten in place there, about half a
// block each (a quarter on the CPU's float32), so the budget scenarios hold fewer int8
// blocks and the checks that depend on that are relaxed where marked.
#include <gtest/gtest.h>

#include <map>

#include "scheduler/engine.h"
#include "tests/scheduler/fixture_worker.h"
#include "worker/cpu_worker.h"
#ifdef STRATA_ENGINE_TEST_CUDA
#include "worker/cuda_worker.h"
#include "worker/memory_plan.h"
#endif

namespace strata::scheduler {
namespace {

constexpr int32_t kBlockSize = 16;

#ifdef STRATA_ENGINE_TEST_CUDA
constexpr bool kCuda = true;
std::unique_ptr<worker::Worker> MakeWorker(int32_t device_blocks, int32_t host_blocks = 0) {
  const std::string dir = ReferenceFixtureDir("qwen3");
  auto config = worker::LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  const int64_t block_bytes = worker::KvBytesPerToken(*config, 2) * kBlockSize;
  auto worker = worker::CudaWorker::Create(
      dir, {.block_size = kBlockSize,
            .num_blocks = device_blocks,
            .host_cache_bytes = int64_t{host_blocks} * block_bytes,
            .max_batch_tokens = 512,
            .max_num_seqs = 16});
  EXPECT_TRUE(worker.ok()) << worker.status();
  if (!worker.ok()) return nullptr;
  // An int8 block: values plus a float scale per kv head, in every layer, K and V.
  EXPECT_EQ((*worker)->memory().quantized_kv_block_bytes,
            config->num_hidden_layers * 2 *
                (kBlockSize * config->num_key_value_heads * config->head_dim +
                 4 * config->num_key_value_heads));
  return std::move(*worker);
}
#else
constexpr bool kCuda = false;
std::unique_ptr<worker::Worker> MakeWorker(int32_t device_blocks, int32_t host_blocks = 0) {
  return MakeCpuFixtureWorker("qwen3", kBlockSize, device_blocks, host_blocks);
}
#endif

// A CPU worker that claims it cannot hold int8 blocks (as the CUDA worker today).
class NoInt8Worker : public worker::Worker {
 public:
  explicit NoInt8Worker(worker::Worker* inner) : inner_(inner) {}
  const worker::ModelConfig& model_config() const override { return inner_->model_config(); }
  worker::MemoryReport memory() const override {
    worker::MemoryReport m = inner_->memory();
    m.quantized_kv_block_bytes = 0;
    return m;
  }
  absl::StatusOr<std::vector<worker::SampledToken>> Execute(
      std::span<const worker::SequenceWork> batch) override {
    return inner_->Execute(batch);
  }
  absl::Status StartCopies(std::span<const worker::KvBlockCopy> a,
                           std::span<const worker::KvBlockCopy> b) override {
    return inner_->StartCopies(a, b);
  }
  absl::Status WaitForCopies() override { return inner_->WaitForCopies(); }
  void DiscardCarried(int64_t id) override { inner_->DiscardCarried(id); }

 private:
  worker::Worker* inner_;
};

Request Greedy(RequestId id, int prompt, int max_tokens, const std::string& policy,
               int64_t budget) {
  Request r;
  r.id = id;
  for (int i = 0; i < prompt; ++i) r.prompt_tokens.push_back(3 + (int(id) * 131 + i * 17) % 200);
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0.0f;
  r.eviction_policy = policy;
  r.kv_budget_tokens = budget;
  return r;
}

struct RunResult {
  std::map<RequestId, std::vector<int32_t>> tokens;
  std::map<RequestId, FinishReason> finish;
  cache::KvCacheStats kv;
  int64_t max_quantized = 0;  // the most int8 blocks one request held at once
};

RunResult RunAll(worker::Worker* worker, const EngineOptions& options,
                 const std::vector<Request>& requests) {
  Engine engine(worker, options);
  RunResult result;
  for (const Request& r : requests) {
    const absl::Status s = engine.AddRequest(r);
    EXPECT_TRUE(s.ok()) << s;
  }
  int guard = 0;
  while (engine.HasWork() && ++guard < 100000) {
    auto outputs = engine.Step();
    EXPECT_TRUE(outputs.ok()) << outputs.status();
    if (!outputs.ok()) break;
    const std::string violation = engine.CheckInvariants();  // includes every budget
    EXPECT_EQ(violation, "");
    if (!violation.empty()) break;
    for (const Request& r : requests) {
      if (engine.kv_cache().Contains(r.id)) {
        result.max_quantized =
            std::max<int64_t>(result.max_quantized, engine.kv_cache().QuantizedBlocks(r.id));
      }
    }
    for (const RequestOutput& out : *outputs) {
      for (const auto& t : out.tokens) result.tokens[out.id].push_back(t.token);
      if (out.finish != FinishReason::kNone) result.finish[out.id] = out.finish;
    }
  }
  result.kv = engine.kv_cache().stats();
  EXPECT_EQ(engine.kv_cache().pool().Count(cache::BlockState::kOwned), 0);
  return result;
}

std::vector<Request> Workload(int n, int prompt, int max_tokens, const std::string& policy,
                              int64_t budget) {
  std::vector<Request> requests;
  for (int i = 1; i <= n; ++i) requests.push_back(Greedy(i, prompt, max_tokens, policy, budget));
  return requests;
}

// Tokens generated before the first difference.
int CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  int n = 0;
  while (n < static_cast<int>(std::min(a.size(), b.size())) && a[n] == b[n]) ++n;
  return n;
}

const EngineOptions kOptions{.max_num_seqs = 4,
                             .max_batch_tokens = 512,
                             .adaptive_sink_tokens = 16,
                             .adaptive_recent_tokens = 32};

TEST(AdaptivePrecisionEngineTest, ARoomyBudgetChangesNothing) {
  auto worker = MakeWorker(64);
  const RunResult want = RunAll(worker.get(), kOptions, Workload(3, 30, 20, "none", 0));
  const RunResult got = RunAll(worker.get(), kOptions, Workload(3, 30, 20, "adaptive_precision", 64));
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.kv.blocks_quantized, 0);
  EXPECT_EQ(got.kv.blocks_dropped, 0);
}

// 100-token prompts and 80 new tokens (12 blocks) under `budget` tokens; prints how long
// each policy's greedy tokens follow the unconstrained run.
struct Comparison {
  RunResult none, heavy, adaptive;
  int agree_heavy = 0, agree_adaptive = 0;  // summed common prefixes with `none`
};

Comparison Compare(int64_t budget) {
  auto worker = MakeWorker(128);
  Comparison c;
  c.none = RunAll(worker.get(), kOptions, Workload(3, 100, 80, "none", 0));
  c.heavy = RunAll(worker.get(),
                   {.max_num_seqs = 4, .max_batch_tokens = 512, .heavy_hitter_recent_tokens = 32},
                   Workload(3, 100, 80, "heavy_hitter", budget));
  c.adaptive = RunAll(worker.get(), kOptions, Workload(3, 100, 80, "adaptive_precision", budget));
  for (const auto& [id, tokens] : c.none.tokens) {
    EXPECT_EQ(c.adaptive.tokens.at(id).size(), 80u) << "request " << id;
    EXPECT_EQ(c.adaptive.finish.at(id), FinishReason::kLength);
    const int a = CommonPrefix(c.adaptive.tokens.at(id), tokens);
    const int h = CommonPrefix(c.heavy.tokens.at(id), tokens);
    c.agree_adaptive += a;
    c.agree_heavy += h;
    std::printf("budget %lld, request %lld: adaptive_precision follows none for %d of 80 tokens, "
                "heavy_hitter for %d\n",
                static_cast<long long>(budget), static_cast<long long>(id), a, h);
  }
  std::printf("budget %lld: adaptive_precision quantized %lld, dropped %lld, held up to %lld "
              "int8 blocks; heavy_hitter dropped %lld\n",
              static_cast<long long>(budget), static_cast<long long>(c.adaptive.kv.blocks_quantized),
              static_cast<long long>(c.adaptive.kv.blocks_dropped),
              static_cast<long long>(c.adaptive.max_quantized),
              static_cast<long long>(c.heavy.kv.blocks_dropped));
  return c;
}

TEST(AdaptivePrecisionEngineTest, ABudgetOfTwoThirdsQuantizesInsteadOfDropping) {
  // 8 blocks' worth of bytes for 12 blocks of context: int8 makes it all fit.
  const Comparison c = Compare(128);
  EXPECT_GT(c.adaptive.kv.blocks_quantized, 0);
  EXPECT_GT(c.adaptive.max_quantized, 4);
  EXPECT_GT(c.heavy.kv.blocks_dropped, 0);
  if (kCuda) {
    // bf16 -> int8 halves a block (not a quarter): 4 full + 7 int8 blocks fit, one short
    // of 12, so a few drops happen late; and bf16 greedy runs are not held to a measured
    // agreement (near-ties flip between runs that round differently). Only that
    // quantizing keeps more of `none`'s tokens than dropping is expected.
    EXPECT_LT(c.adaptive.kv.blocks_dropped, c.heavy.kv.blocks_dropped);
    EXPECT_GE(c.agree_adaptive, c.agree_heavy);
    return;
  }
  EXPECT_EQ(c.adaptive.kv.blocks_dropped, 0);
  // Measured (3 requests x 80 tokens): adaptive_precision follows none for 227 of 240
  // tokens (67, 80, 80), heavy_hitter for 89 (29, 31, 29).
  EXPECT_GE(c.agree_adaptive, 200);
  EXPECT_GT(c.agree_adaptive, c.agree_heavy);
}

TEST(AdaptivePrecisionEngineTest, ATightBudgetQuantizesThenDrops) {
  // 5 blocks' worth for 12: the sinks, the window and the block being filled take 4, and
  // int8 blocks (about a quarter each) share the 5th; the rest is dropped. (At 64 tokens
  // nothing is left for int8 blocks and the policy only drops, as heavy_hitter does.)
  const Comparison c = Compare(80);
  EXPECT_GT(c.adaptive.kv.blocks_quantized, 0);
  EXPECT_GT(c.adaptive.kv.blocks_dropped, 0);
  if (kCuda) return;  // one int8 block (half a slot) fits beside the 4 full: no agreement bound
  // Measured: adaptive_precision follows none for 40 of 240 tokens (14, 13, 13) with 13
  // blocks quantized and 15 dropped; heavy_hitter for 0, with 21 dropped.
  EXPECT_GE(c.agree_adaptive, 30);
  EXPECT_GT(c.agree_adaptive, c.agree_heavy);
}

TEST(AdaptivePrecisionEngineTest, SwappedInt8BlocksComeBackIntact) {
  // Four requests whose decodes outgrow a 20-block cache (each reaches 4 full and 3 int8
  // blocks): preempted ones swap out (int8 blocks travel as they are) and resume with the
  // same greedy tokens as without pressure. (The prompts fit at once: the planner never
  // preempts for a prefill chunk.)
  std::vector<Request> requests = Workload(4, 40, 100, "adaptive_precision", 80);
  auto roomy = MakeWorker(128);
  const RunResult want = RunAll(roomy.get(), kOptions, requests);
  auto tight = MakeWorker(20, 64);
  EngineOptions swap = kOptions;
  swap.preemption = PreemptionMode::kSwap;
  const RunResult got = RunAll(tight.get(), swap, requests);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_GT(got.kv.blocks_swapped_out, 0);
  EXPECT_GT(got.kv.blocks_quantized, 0);
}

TEST(AdaptivePrecisionEngineTest, LayeredPrefillMatchesChunked) {
  // Layered prefill runs a chunk's layers over several steps: the blocks chosen for int8
  // at its first slice are converted before any layer reads them, and the statistics of
  // every layer arrive before the chunk completes. (Whole prefill never starts a prompt
  // longer than what its budget lets one chunk hold, for any dropping policy: the planner
  // runs a whole prompt or nothing.)
  auto worker = MakeWorker(96);
  const std::vector<Request> requests = Workload(3, 100, 40, "adaptive_precision", 80);
  RunResult by_mode[2];
  const PrefillMode modes[] = {PrefillMode::kChunked, PrefillMode::kLayered};
  for (int m = 0; m < 2; ++m) {
    EngineOptions options = kOptions;
    options.prefill_mode = modes[m];
    by_mode[m] = RunAll(worker.get(), options, requests);
    EXPECT_GT(by_mode[m].kv.blocks_quantized, 0) << "mode " << m;
    for (const Request& r : requests) EXPECT_EQ(by_mode[m].tokens[r.id].size(), 40u);
  }
  // Chunked and layered plan the same chunks, so they quantize and drop the same blocks.
  // (bf16: the two modes run their layers over different row counts, so their rounding
  // may differ; tokens are compared on the CPU only, as in prefill_modes_test.)
  if (!kCuda) EXPECT_EQ(by_mode[1].tokens, by_mode[0].tokens);
}

TEST(AdaptivePrecisionEngineTest, RefusesWhatItCannotServe) {
  auto cpu = MakeWorker(64);
  Engine engine(cpu.get(), kOptions);
  // The budget must hold the sinks (1 block), the window (2 blocks) and one more.
  absl::Status small = engine.AddRequest(Greedy(1, 10, 4, "adaptive_precision", 48));
  EXPECT_EQ(small.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(small.message().find("minimum of 64 for eviction policy adaptive_precision"),
            std::string::npos)
      << small;
  // A backend without int8 blocks refuses the policy outright.
  NoInt8Worker no_int8(cpu.get());
  Engine other(&no_int8, kOptions);
  const absl::Status refused = other.AddRequest(Greedy(2, 10, 4, "adaptive_precision", 64));
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("needs int8 KV blocks"), std::string::npos) << refused;
  EXPECT_TRUE(other.AddRequest(Greedy(3, 10, 4, "heavy_hitter", 0)).ok());
  // The config default applies to requests that name no policy.
  Engine by_default(cpu.get(), {.eviction_policy = "adaptive_precision",
                                .default_kv_budget_tokens = 64,
                                .adaptive_sink_tokens = 16,
                                .adaptive_recent_tokens = 32});
  EXPECT_TRUE(by_default.AddRequest(Greedy(4, 10, 4, "", 0)).ok());
}

}  // namespace
}  // namespace strata::scheduler
