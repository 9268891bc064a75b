// CudaWorker on a model of real shape (e.g. strata-mkmodel --shape qwen3-0.6b; head_dim
// 128, so attention takes the fast prefill and decode kernels and decode steps replay CUDA
// graphs) against transformers in PyTorch: run tests/worker/cuda/transformers_reference.py
// on the directory first, then this binary with STRATA_REAL_MODEL_DIR=<dir>. Skipped when
// the variable is unset.
//
// Tolerances: the reference is transformers in float32. Per kept position our relative L2
// error must be below kRealMaxRelL2 and, over all positions, at most twice transformers' own
// bf16 error plus 1e-2. Greedy tokens must equal float32 transformers' until the first
// position whose top-2 margin is below twice the largest absolute logit error we measured
// (below that, bf16 noise may flip the choice).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/worker/cuda/cuda_test_util.h"
#include "worker/safetensors.h"

namespace strata::worker {
namespace {

constexpr double kRealMaxRelL2 = 5e-2;

const char* RealModelDir() { return std::getenv("STRATA_REAL_MODEL_DIR"); }

CudaWorkerOptions RealOptions() {
  CudaWorkerOptions o;
  o.gpu_memory_utilization = 0.6;
  o.num_blocks = 4096;
  o.max_batch_tokens = 2048;
  o.max_num_seqs = 16;
  o.logits_chunk_rows = 128;
  return o;
}

std::vector<int32_t> Blocks(int32_t first, int64_t tokens, int32_t block_size = 16) {
  std::vector<int32_t> t;
  for (int64_t b = 0; b < (tokens + block_size - 1) / block_size; ++b) t.push_back(first + b);
  return t;
}

TEST(CudaRealModelTest, LogitsAndGreedyMatchTransformers) {
  if (RealModelDir() == nullptr) GTEST_SKIP() << "STRATA_REAL_MODEL_DIR not set";
  const std::string dir = RealModelDir();
  std::ifstream in(dir + "/reference.json");
  ASSERT_TRUE(in.good()) << "run transformers_reference.py on " << dir << " first";
  const nlohmann::json j = nlohmann::json::parse(in);
  const auto prompts = j["prompts"].get<std::vector<std::vector<int32_t>>>();
  const auto positions = j["positions"].get<std::vector<std::vector<int64_t>>>();
  const auto greedy = j["greedy"].get<std::vector<std::vector<int32_t>>>();
  const auto margins = j["top2_margin"].get<std::vector<std::vector<double>>>();
  auto hf = SafetensorsFile::Open(dir + "/reference.safetensors");
  ASSERT_TRUE(hf.ok()) << hf.status();
  auto gpu = CudaWorker::Create(dir, RealOptions());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const int64_t vocab = (*gpu)->model_config().vocab_size;

  std::vector<std::vector<int32_t>> tables;
  std::vector<SequenceSlice> batch;
  int32_t next = 0;
  for (const auto& p : prompts) {
    tables.push_back(Blocks(next, p.size()));
    next += static_cast<int32_t>(tables.back().size());
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    batch.push_back({.tokens = prompts[i],
                     .start_position = 0,
                     .block_table = tables[i],
                     .logits = LogitsMode::kAll});
  }
  std::vector<float> got;
  ASSERT_TRUE((*gpu)->Forward(batch, &got).ok());
  double worst = 0, worst_hf = 0, worst_abs = 0, sum = 0;
  int count = 0, agree = 0;
  int64_t row0 = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto fp32 = (*hf)->Tensor("logits_fp32_" + std::to_string(i));
    auto bf16 = (*hf)->Tensor("logits_bf16_" + std::to_string(i));
    ASSERT_TRUE(fp32.ok() && bf16.ok());
    const float* ref = reinterpret_cast<const float*>(fp32->data);
    const float* hf_bf16 = reinterpret_cast<const float*>(bf16->data);
    for (size_t k = 0; k < positions[i].size(); ++k, ++count) {
      const float* g = got.data() + (row0 + positions[i][k]) * vocab;
      const auto e = testing::CompareRow(g, ref + k * vocab, vocab);
      const auto h = testing::CompareRow(hf_bf16 + k * vocab, ref + k * vocab, vocab);
      EXPECT_LE(e.rel_l2, kRealMaxRelL2) << "prompt " << i << " position " << positions[i][k];
      worst = std::max(worst, e.rel_l2);
      worst_abs = std::max(worst_abs, e.max_abs);
      worst_hf = std::max(worst_hf, h.rel_l2);
      sum += e.rel_l2;
      agree += e.top1_agrees;
    }
    row0 += static_cast<int64_t>(prompts[i].size());
  }
  EXPECT_LE(worst, 2 * worst_hf + 1e-2);
  std::printf(
      "[ %s ] logits vs transformers fp32 at %d positions: ours worst rel L2 %.3g (mean %.3g, "
      "max abs %.3g, top-1 agrees at %d); transformers bf16 worst rel L2 %.3g\n",
      dir.c_str(), count, worst, sum / count, worst_abs, agree, worst_hf);

  // Greedy continuations through the engine: prefill, then decode steps replaying graphs.
  const int32_t new_tokens = static_cast<int32_t>(greedy[0].size());
  const auto outputs = GreedyGenerate(gpu->get(), prompts, true, new_tokens, 16, 2048);
  int checked = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    checked += testing::CompareUntilNearTie(outputs[i], greedy[i], margins[i], 2 * worst_abs,
                                            "prompt " + std::to_string(i));
  }
  EXPECT_GT((*gpu)->graph_replays(), 0);
  std::printf(
      "[ %s ] greedy: %d of %zu tokens equal to transformers fp32 before the first "
      "near-tie (margin < %.3g); %lld graph replays, %zu graphs\n",
      dir.c_str(), checked, prompts.size() * new_tokens, 2 * worst_abs,
      static_cast<long long>((*gpu)->graph_replays()), (*gpu)->graphs_captured());
}

// A decode step replayed from a graph equals the same launches run directly (the first
// use of a shape runs them directly, then captures), bit for bit, for padded buckets; and
// agrees with the eager attention plan up to rounding.
TEST(CudaRealModelTest, GraphReplayEqualsDirectRun) {
  if (RealModelDir() == nullptr) GTEST_SKIP() << "STRATA_REAL_MODEL_DIR not set";
  auto gpu = CudaWorker::Create(RealModelDir(), RealOptions());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const int64_t vocab = (*gpu)->model_config().vocab_size;
  for (int32_t n : {1, 3, 5, 16}) {
    // n sequences with prompts of different lengths (up to 1500 tokens: several decode splits).
    std::vector<std::vector<int32_t>> prompts, tables;
    std::vector<SequenceSlice> prefill;
    int32_t next = 0;
    for (int32_t i = 0; i < n; ++i) {
      std::vector<int32_t> p(static_cast<size_t>(7 + (i + 1) * 397 % 1500 / std::max(1, n / 4)));
      for (size_t t = 0; t < p.size(); ++t) p[t] = static_cast<int32_t>((t * 7919 + i) % vocab);
      prompts.push_back(p);
      tables.push_back(Blocks(next, p.size() + 1));
      next += static_cast<int32_t>(tables.back().size());
    }
    for (int32_t i = 0; i < n; ++i) {
      prefill.push_back({.tokens = prompts[i],
                         .start_position = 0,
                         .block_table = tables[i],
                         .logits = LogitsMode::kNone});
      std::vector<float> unused;
      ASSERT_TRUE((*gpu)->Forward(std::span(&prefill.back(), 1), &unused).ok());
    }
    SamplingParams params;
    params.temperature = 0.0f;
    params.top_logprobs = 5;
    const std::vector<int32_t> next_token = {42};
    std::vector<SequenceWork> step(n);
    for (int32_t i = 0; i < n; ++i) {
      step[i].slice = {.tokens = next_token,
                       .start_position = static_cast<int64_t>(prompts[i].size()),
                       .block_table = tables[i],
                       .logits = LogitsMode::kLast};
      step[i].sample = true;
      step[i].params = &params;
    }
    (*gpu)->set_cuda_graphs(true);
    const int64_t replays = (*gpu)->graph_replays();
    auto direct = (*gpu)->Execute(step);  // first use of the shape: direct, then captured
    auto replay = (*gpu)->Execute(step);  // the same K/V rewritten, from the graph
    ASSERT_TRUE(direct.ok() && replay.ok());
    EXPECT_EQ((*gpu)->graph_replays(), replays + 1) << "batch " << n;
    (*gpu)->set_cuda_graphs(false);
    auto eager = (*gpu)->Execute(step);
    ASSERT_TRUE(eager.ok());
    double worst = 0;
    for (int32_t i = 0; i < n; ++i) {
      const SampledToken &a = (*direct)[i], &b = (*replay)[i], &c = (*eager)[i];
      EXPECT_EQ(a.token, b.token) << "batch " << n << " row " << i;
      EXPECT_EQ(a.logprob, b.logprob) << "batch " << n << " row " << i;
      ASSERT_EQ(a.top.size(), 5u);
      ASSERT_EQ(c.top.size(), 5u);
      for (size_t k = 0; k < 5; ++k) {
        EXPECT_EQ(a.top[k].token, b.top[k].token);
        EXPECT_EQ(a.top[k].logprob, b.top[k].logprob);
      }
      // Eager attention splits the context differently: only rounding may differ.
      const bool near_tie = c.top[0].logprob - c.top[1].logprob < 0.05;
      EXPECT_TRUE(a.token == c.token || near_tie) << "batch " << n << " row " << i;
      worst = std::max(worst, std::abs(double(a.top[0].logprob) - c.top[0].logprob));
    }
    EXPECT_LT(worst, 0.05) << "batch " << n;
    std::printf(
        "graph batch %d: replay identical to direct run; top logprob vs eager plan "
        "within %.3g\n",
        n, worst);
  }
}

}  // namespace
}  // namespace strata::worker
