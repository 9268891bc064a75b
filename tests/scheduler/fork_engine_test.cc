// Forked KV caches on the CPU backend with the reference qwen3 fixture: the worker's block
// copies (device -> device for copy-on-write, and the tier round trip) move every byte, and
// n > 1 parallel sampling shares its prompt's K/V (one prefill, then one token per
// follower) while every choice still gets exactly the tokens it gets alone.
//
// Built a second time with STRATA_ENGINE_TEST_CUDA (strata-fork-engine-cuda-test) over the
// CUDA worker: its block copies are checked through the logits of reads from the copies,
// and the engine scenarios compare each choice with its run alone up to the first draw
// that bf16 rounding could flip (see Expected).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <vector>

#include "scheduler/engine.h"
#include "tests/scheduler/fixture_worker.h"
#include "worker/cpu_worker.h"
#ifdef STRATA_ENGINE_TEST_CUDA
#include <cmath>

#include "worker/cuda_worker.h"
#include "worker/memory_plan.h"
#include "worker/sampling.h"
#endif

namespace strata::scheduler {
namespace {

constexpr int32_t kBlockSize = 16;
constexpr int32_t kTopK = 40;  // every choice's sampling

#ifdef STRATA_ENGINE_TEST_CUDA
// The same block size, pool and host tier on the GPU (the tier sized in bf16 blocks);
// layered prefill on, for the layered mode.
std::unique_ptr<worker::CudaWorker> MakeCudaWorker(int32_t device_blocks, int32_t host_blocks) {
  const std::string dir = ReferenceFixtureDir("qwen3");
  auto config = worker::LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  const int64_t block_bytes = worker::KvBytesPerToken(*config, 2) * kBlockSize;
  auto worker = worker::CudaWorker::Create(
      dir, {.block_size = kBlockSize,
            .num_blocks = device_blocks,
            .host_cache_bytes = int64_t{host_blocks} * block_bytes,
            .max_batch_tokens = 512,
            .max_num_seqs = 16,
            .layered_prefill = true});
  EXPECT_TRUE(worker.ok()) << worker.status();
  if (!worker.ok()) return nullptr;
  EXPECT_EQ((*worker)->memory().num_host_kv_blocks, host_blocks);
  return std::move(*worker);
}
std::unique_ptr<worker::Worker> MakeWorker(int32_t device_blocks, int32_t host_blocks) {
  return MakeCudaWorker(device_blocks, host_blocks);
}
#else
std::unique_ptr<worker::Worker> MakeWorker(int32_t device_blocks, int32_t host_blocks) {
  return MakeCpuFixtureWorker("qwen3", kBlockSize, device_blocks, host_blocks);
}
#endif

#ifndef STRATA_ENGINE_TEST_CUDA

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
#else
// The GPU's KV bytes are not read here: a copy is checked through what a forward pass reads
// from it. One decode step over a 40-token context (the third block partial) gives the
// same logits, bit for bit, through any block table holding the same bytes (the same
// kernels in the same shapes), and other logits through one that does not.
TEST(CudaWorkerCopyTest, DeviceToDeviceCopyMovesEveryLayersKAndV) {
  auto w = MakeCudaWorker(/*device_blocks=*/10, /*host_blocks=*/2);
  ASSERT_NE(w, nullptr);
  std::vector<int32_t> prompt(40), next = {77};
  for (int i = 0; i < 40; ++i) prompt[i] = 3 + (i * 17) % 200;
  const std::vector<int32_t> original = {0, 1, 2};
  std::vector<float> logits;
  const worker::SequenceSlice fill[] = {{.tokens = prompt, .block_table = original}};
  ASSERT_TRUE(w->Forward(fill, &logits).ok());
  // Logits of `next` at position 40 read through `table` (it writes its K/V there too).
  auto decode = [&](std::vector<int32_t> table) {
    const worker::SequenceSlice step[] = {
        {.tokens = next, .start_position = 40, .block_table = table}};
    std::vector<float> out;
    EXPECT_TRUE(w->Forward(step, &out).ok());
    return out;
  };
  const std::vector<float> want = decode(original);
  ASSERT_FALSE(want.empty());
  using worker::KvCopyDirection;
  const worker::KvBlockCopy whole[] = {{KvCopyDirection::kDeviceToDevice, 0, 3},
                                       {KvCopyDirection::kDeviceToDevice, 1, 4},
                                       {KvCopyDirection::kDeviceToDevice, 2, 5}};
  ASSERT_TRUE(w->StartCopies(whole, {}).ok());
  ASSERT_TRUE(w->WaitForCopies().ok());
  EXPECT_EQ(decode({3, 4, 5}), want) << "the copies";
  EXPECT_EQ(decode(original), want) << "the sources are unchanged";
  // In order: a copy may read what an earlier one of the list wrote.
  const worker::KvBlockCopy chain[] = {{KvCopyDirection::kDeviceToDevice, 4, 6},
                                       {KvCopyDirection::kDeviceToDevice, 6, 7}};
  ASSERT_TRUE(w->StartCopies(chain, {}).ok());
  ASSERT_TRUE(w->WaitForCopies().ok());
  EXPECT_EQ(decode({3, 7, 5}), want);
  // The tier round trip lands the same bytes back.
  const worker::KvBlockCopy out[] = {{KvCopyDirection::kDeviceToHost, 0, 1}};
  ASSERT_TRUE(w->StartCopies({}, out).ok());
  ASSERT_TRUE(w->WaitForCopies().ok());
  const worker::KvBlockCopy in[] = {{KvCopyDirection::kHostToDevice, 1, 8}};
  ASSERT_TRUE(w->StartCopies(in, {}).ok());
  ASSERT_TRUE(w->WaitForCopies().ok());
  EXPECT_EQ(decode({8, 4, 5}), want);
  // The check sees other bytes: the second block's K/V in place of the third's.
  const worker::KvBlockCopy other[] = {{KvCopyDirection::kDeviceToDevice, 1, 9}};
  ASSERT_TRUE(w->StartCopies(other, {}).ok());
  ASSERT_TRUE(w->WaitForCopies().ok());
  EXPECT_NE(decode({0, 1, 9}), want);
  // Block ids are checked against the tier each side lives in.
  const worker::KvBlockCopy outside[] = {{KvCopyDirection::kDeviceToDevice, 1, 10}};
  EXPECT_EQ(w->StartCopies(outside, {}).code(), absl::StatusCode::kInvalidArgument);
  const worker::KvBlockCopy host_outside[] = {{KvCopyDirection::kDeviceToHost, 5, 2}};
  EXPECT_EQ(w->StartCopies(host_outside, {}).code(), absl::StatusCode::kInvalidArgument);
}
#endif

std::vector<int32_t> Prompt(int n, int32_t salt) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = 3 + (salt * 131 + i * 17) % 200;
  return v;
}

// Choice `index` of an n > 1 request: seeded sampling, its own seed; choices after the
// first name the first one's request.
Request Choice(RequestId first_id, int index, std::vector<int32_t> prompt, int32_t max_tokens) {
  Request r;
  r.id = first_id + index;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0.9f;
  r.sampling.top_k = kTopK;
  r.sampling.seed = 1000 + 7 * r.id;
#ifdef STRATA_ENGINE_TEST_CUDA
  // The raw log-probabilities of every candidate and the first one left out (Expected).
  r.sampling.top_logprobs = kTopK + 1;
#endif
  if (index > 0) r.share_prompt_with = first_id;
  return r;
}

struct RunResult {
  std::map<RequestId, std::vector<int32_t>> tokens;
  std::map<RequestId, std::vector<worker::SampledToken>> sampled;
  std::map<RequestId, FinishReason> finish;
  EngineStats stats;
  cache::KvCacheStats kv;
};

// Adds every request at once and steps until done, checking the invariants every step;
// `before_step` may act on the engine first (e.g. abort a request).
RunResult RunAll(int32_t device_blocks, int32_t host_blocks, EngineOptions options,
           const std::vector<Request>& requests,
           const std::function<void(Engine&, int)>& before_step = nullptr) {
  RunResult run;
  auto w = MakeWorker(device_blocks, host_blocks);
  if (w == nullptr) return run;
  Engine engine(w.get(), options);
  for (const Request& r : requests) {
    const absl::Status s = engine.AddRequest(r);
    EXPECT_TRUE(s.ok()) << s;
  }
  for (int step = 0; engine.HasWork() && step < 10000; ++step) {
    if (before_step) before_step(engine, step);
    auto outputs = engine.Step();
    EXPECT_TRUE(outputs.ok()) << outputs.status();
    if (!outputs.ok()) return run;
    const std::string violation = engine.CheckInvariants();
    EXPECT_EQ(violation, "") << "step " << step;
    if (!violation.empty()) return run;
    for (const RequestOutput& out : *outputs) {
      for (const auto& t : out.tokens) {
        run.tokens[out.id].push_back(t.token);
        run.sampled[out.id].push_back(t);
      }
      if (out.finish != FinishReason::kNone) run.finish[out.id] = out.finish;
    }
  }
  EXPECT_FALSE(engine.HasWork());
  run.stats = engine.stats();
  run.kv = engine.kv_cache().stats();
  EXPECT_EQ(engine.kv_cache().pool().Count(cache::BlockState::kOwned), 0) << "a block leaked";
  EXPECT_EQ(engine.kv_cache().pool().Count(cache::BlockState::kInFlight), 0);
  return run;
}

// What a request generates alone, and how many of those tokens another run must repeat.
// On the CPU (float32, the same arithmetic for a row whatever else is in the batch): all
// of them. On the GPU (bf16) a forked choice's tokens come from other shapes than alone:
// its last prompt token runs as one row beside other sequences instead of the last row of
// its prefill's GEMMs (a different GEMM path), its decodes share batches, chunks and
// preemptions cut its prompt elsewhere; so its logits differ from the alone run's by
// rounding, and a seeded draw can land on another token. There the tokens are compared up
// to the first draw that a change of the logits below kMinMargin / 2 each could flip
// (RobustDraw, from the alone run's candidates).
struct Expected {
  std::vector<int32_t> tokens;
  size_t comparable = 0;
};

#ifdef STRATA_ENGINE_TEST_CUDA
constexpr double kMinMargin = 0.05;  // the bf16 margin of prefill_modes_test

// Whether the draw of `token` (the request's `step`-th) keeps its token when every logit
// moves by less than kMinMargin / 2. DrawFiltered's inverse CDF runs over the top-k
// candidates by descending logit; the chosen token's interval stays put when no candidate
// is within kMinMargin of it (no order swaps across it), and the draw stays inside when it
// is further from both ends than they can move: with every weight exp(logit / T) scaled
// by at most r^(1/2) either way (r = exp(kMinMargin / T)), a cumulative mass c moves by at
// most c (1 - c) (r - 1) <= (r - 1) / 4, plus the last candidate's mass when it could
// trade places with the first one left out.
bool RobustDraw(const worker::SamplingParams& params, uint64_t step,
                const worker::SampledToken& token) {
  const std::vector<worker::TokenLogprob>& top = token.top;
  const int k = params.top_k;
  if (static_cast<int>(top.size()) < k + 1) return false;
  int j = 0;
  while (j < k && top[j].token != token.token) ++j;
  if (j == k) return false;
  if (j > 0 && top[j - 1].logprob - top[j].logprob < kMinMargin) return false;
  if (top[j].logprob - top[j + 1].logprob < kMinMargin) return false;
  std::vector<double> weight(k);
  double total = 0;
  for (int i = 0; i < k; ++i) {
    weight[i] = std::exp((double(top[i].logprob) - top[0].logprob) / params.temperature);
    total += weight[i];
  }
  double low = 0;
  for (int i = 0; i < j; ++i) low += weight[i] / total;
  const double high = low + weight[j] / total;
  double shift = (std::exp(kMinMargin / params.temperature) - 1) / 4;
  if (top[k - 1].logprob - top[k].logprob < kMinMargin) shift += weight[k - 1] / total;
  const double u = worker::SeededUniform(params.seed, step);
  return (j == 0 || u - low > shift) && (j == k - 1 || high - u > shift);
}
#endif

// What each request generates alone, in an engine of its own.
std::map<RequestId, Expected> Alone(const std::vector<Request>& requests) {
  std::map<RequestId, Expected> want;
  for (Request r : requests) {
    r.share_prompt_with.reset();
    const RunResult run = RunAll(64, 0, {.max_num_seqs = 8, .max_batch_tokens = 512}, {r});
    Expected& e = want[r.id];
    e.tokens = run.tokens.at(r.id);
    e.comparable = e.tokens.size();
#ifdef STRATA_ENGINE_TEST_CUDA
    const std::vector<worker::SampledToken>& sampled = run.sampled.at(r.id);
    e.comparable = 0;
    while (e.comparable < sampled.size() &&
           RobustDraw(r.sampling, e.comparable, sampled[e.comparable])) {
      ++e.comparable;
    }
#endif
  }
  return want;
}

void ExpectTokens(const RunResult& got, const std::map<RequestId, Expected>& want) {
  ASSERT_EQ(got.tokens.size(), want.size());
  for (const auto& [id, expected] : want) {
#ifdef STRATA_ENGINE_TEST_CUDA
    const std::vector<int32_t>& tokens = got.tokens.at(id);
    EXPECT_EQ(tokens.size(), expected.tokens.size()) << "request " << id;
    const size_t n = std::min(expected.comparable, tokens.size());
    EXPECT_EQ(std::vector<int32_t>(tokens.begin(), tokens.begin() + n),
              std::vector<int32_t>(expected.tokens.begin(), expected.tokens.begin() + n))
        << "request " << id << ", the first " << n << " tokens";
    std::printf("request %lld: %zu of %zu tokens compared with its run alone\n",
                static_cast<long long>(id), n, expected.tokens.size());
#else
    EXPECT_EQ(got.tokens.at(id), expected.tokens) << "request " << id;
#endif
    EXPECT_EQ(got.finish.at(id), FinishReason::kLength) << "request " << id;
  }
}

std::vector<Request> Choices(RequestId first_id, int n, int prompt_len, int32_t salt,
                             int32_t max_tokens) {
  std::vector<Request> requests;
  for (int i = 0; i < n; ++i) requests.push_back(Choice(first_id, i, Prompt(prompt_len, salt), max_tokens));
  return requests;
}

class ForkEngineModeTest : public testing::TestWithParam<PrefillMode> {};

TEST_P(ForkEngineModeTest, FourChoicesPrefillOnceAndSampleTheirOwnTokens) {
  // 37 prompt tokens: the 36 shared end inside a block, so every choice's first token goes
  // into a private copy of it.
  const std::vector<Request> requests = Choices(1, 4, 37, 5, 10);
  const auto want = Alone(requests);
  const RunResult got = RunAll(64, 0, {.max_num_seqs = 8, .max_batch_tokens = 512,
                                 .prefill_mode = GetParam()},
                         requests);
  ExpectTokens(got, want);
  EXPECT_EQ(got.stats.prompt_forks, 3);
  EXPECT_EQ(got.stats.prompt_tokens_shared, 3 * 36);
  EXPECT_EQ(got.stats.prompt_tokens_computed, 37 + 3) << "one prefill, then one token each";
  EXPECT_EQ(got.kv.sequences_forked, 3);
  EXPECT_EQ(got.kv.blocks_forked, 3 * 3);
  // Four tables end in the shared block: three copies, the last writer keeps it.
  EXPECT_EQ(got.kv.blocks_copied_on_write, 3);
  // The choices differ from each other (their own seeds), not only from nothing.
  EXPECT_NE(want.at(1).tokens, want.at(2).tokens);
}

INSTANTIATE_TEST_SUITE_P(Modes, ForkEngineModeTest,
                         testing::Values(PrefillMode::kWhole, PrefillMode::kChunked,
                                         PrefillMode::kLayered));

TEST(ForkEngineTest, APromptEndingOnABlockBoundaryCopiesNothing) {
  // 33 tokens: the 32 shared fill two blocks; each choice's last prompt token starts a block.
  const std::vector<Request> requests = Choices(1, 3, 33, 6, 6);
  const RunResult got = RunAll(64, 0, {.max_num_seqs = 8, .max_batch_tokens = 512}, requests);
  ExpectTokens(got, Alone(requests));
  EXPECT_EQ(got.stats.prompt_forks, 2);
  EXPECT_EQ(got.stats.prompt_tokens_computed, 33 + 2);
  EXPECT_EQ(got.kv.blocks_copied_on_write, 0);
}

TEST(ForkEngineTest, ALeaderThatFinishesInItsPrefillStepStillLendsItsPrompt) {
  const std::vector<Request> requests = Choices(1, 4, 37, 7, 1);
  const RunResult got = RunAll(64, 0, {.max_num_seqs = 8, .max_batch_tokens = 512}, requests);
  ExpectTokens(got, Alone(requests));
  EXPECT_EQ(got.stats.prompt_forks, 3);
  EXPECT_EQ(got.stats.prompt_tokens_computed, 37 + 3);
}

TEST(ForkEngineTest, ChunkedPrefillForksOnlyOnceTheLeaderComputedThePrompt) {
  // A 16-token step budget: the leader's prompt takes three steps; the followers wait.
  const std::vector<Request> requests = Choices(1, 3, 40, 8, 5);
  const RunResult got = RunAll(64, 0, {.max_num_seqs = 8, .max_batch_tokens = 16}, requests);
  ExpectTokens(got, Alone(requests));
  EXPECT_EQ(got.stats.prompt_forks, 2);
  EXPECT_EQ(got.stats.prompt_tokens_computed, 40 + 2);
}

TEST(ForkEngineTest, WithoutRoomForTheCopiesTheOtherChoicesPrefillAlone) {
  // Four device blocks: the leader's 37 + 8 tokens take three, leaving one block, the copy
  // of one follower. The others are refused and prefill on their own later.
  const std::vector<Request> requests = Choices(1, 4, 37, 9, 8);
  const RunResult got = RunAll(4, 0, {.max_num_seqs = 8, .max_batch_tokens = 512}, requests);
  ExpectTokens(got, Alone(requests));
  EXPECT_EQ(got.stats.prompt_forks, 1);
  EXPECT_EQ(got.stats.prompt_tokens_computed, 37 + 1 + 2 * 37);
}

TEST(ForkEngineTest, AnAbortedLeaderLeavesItsFollowersToPrefill) {
  std::vector<Request> requests = Choices(1, 3, 40, 10, 5);
  auto want = Alone(requests);
  want.erase(1);
  // The leader's prompt takes three 16-token steps; it is aborted after the first.
  const RunResult got = RunAll(64, 0, {.max_num_seqs = 8, .max_batch_tokens = 16}, requests,
                         [](Engine& engine, int step) {
                           if (step == 1) EXPECT_TRUE(engine.Abort(1));
                         });
  ExpectTokens(got, want);
  EXPECT_EQ(got.stats.prompt_forks, 0);
}

TEST(ForkEngineTest, FollowersNeverShareAnotherPrompt) {
  std::vector<Request> requests = Choices(1, 2, 37, 11, 4);
  requests[1].prompt_tokens[3] += 1;  // a mislinked request: its prompt differs
  const RunResult got = RunAll(64, 0, {.max_num_seqs = 8, .max_batch_tokens = 512}, requests);
  ExpectTokens(got, Alone(requests));
  EXPECT_EQ(got.stats.prompt_forks, 0);
  EXPECT_EQ(got.stats.prompt_tokens_computed, 2 * 37);
}

TEST(ForkEngineTest, AForkedFollowerStillQueuedGivesItsBlocksBackUnderPressure) {
  // Two seats: the leader and another request run, the forked follower waits for a seat
  // holding its shared blocks. When the pool runs dry the other request is preempted and
  // the follower lets go of its fork; it prefills alone later, with the same tokens.
  std::vector<Request> requests = Choices(1, 2, 37, 17, 12);
  requests.push_back(Choice(3, 0, Prompt(31, 18), 12));
  const RunResult got = RunAll(6, 0, {.max_num_seqs = 2, .max_batch_tokens = 512}, requests);
  ExpectTokens(got, Alone(requests));
  EXPECT_EQ(got.stats.prompt_forks, 1);
  EXPECT_EQ(got.stats.prompt_forks_released, 1);
  EXPECT_GT(got.stats.preemptions, 0);
  // The released follower computed its whole prompt; the preempted request recomputed
  // its own (and what it had generated).
  EXPECT_GE(got.stats.prompt_tokens_computed, 37 + 37 + 31 + 31);
}

class ForkEnginePressureTest : public testing::TestWithParam<PreemptionMode> {};

TEST_P(ForkEnginePressureTest, TinyPoolWithPreemptionsKeepsEveryChoicesTokens) {
  // Two n = 3 requests and two plain ones on a pool far below their working set: leaders
  // and forked followers are preempted (swapped or recomputed) and resumed.
  std::vector<Request> requests = Choices(1, 3, 37, 12, 24);
  for (Request r : Choices(11, 3, 29, 13, 24)) requests.push_back(std::move(r));
  for (Request r : Choices(21, 1, 45, 14, 24)) requests.push_back(std::move(r));
  for (Request r : Choices(31, 1, 20, 15, 24)) requests.push_back(std::move(r));
  const RunResult got = RunAll(12, 16, {.max_num_seqs = 8, .max_batch_tokens = 512,
                                 .preemption = GetParam()},
                         requests);
  static const auto* const want = new std::map<RequestId, Expected>(Alone(requests));
  ExpectTokens(got, *want);
  EXPECT_GT(got.stats.preemptions, 0);
  EXPECT_GT(got.stats.prompt_forks, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ForkEnginePressureTest,
                         testing::Values(PreemptionMode::kRecompute, PreemptionMode::kSwap));

TEST(ForkEngineTest, PrefixCachingAndForksTogether) {
  // The leader's full prompt blocks are indexed; followers share them by fork and a later
  // request by prefix hit.
  std::vector<Request> requests = Choices(1, 3, 37, 16, 6);
  Request later = Choice(40, 0, Prompt(37, 16), 6);
  requests.push_back(later);
  const RunResult got = RunAll(64, 0, {.max_num_seqs = 8, .max_batch_tokens = 512,
                                 .prefix_caching = true},
                         requests);
  ExpectTokens(got, Alone(requests));
  EXPECT_EQ(got.stats.prompt_forks, 2);
}

}  // namespace
}  // namespace strata::scheduler
