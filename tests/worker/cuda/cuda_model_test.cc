// CudaWorker on the committed transformers fixtures (tests/fixtures/reference/{llama,qwen2,
// qwen3}; head_dim 16 and 24, so attention takes the generic kernel; qwen3_moe has its own
// tests below):
//  - logits at every position against the float32 CPU model, in one batch and as chunked
//    prefill followed by token-by-token decode in mixed batches;
//  - greedy continuations against transformers' greedy tokens;
//  - batching and block size never change the tokens;
//  - Execute's GPU sampling equals the host sampler (SampleToken) on the same logits.
// bf16 tolerances. Rounding these float32 checkpoints' weights to bf16 alone moves the
// logits by 2.0% (llama), 3.3% (qwen2) and 2.4% (qwen3) relative L2 (the CPU model with
// rounded weights), so the GPU is held to the CPU model run on the same bf16-rounded
// weights: relative L2 error per position below kMaxRelL2 (what bf16 activations add:
// measured 1.8%, 2.3%, 1.7% on an H100), and below kMaxRelL2Fp32 against the float32 model
// (measured 2.6%, 3.6%, 2.7%). Top-1 agreement except where the
// reference's top-2 gap is below kNearTie (logits have rms ~1 here).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/dtype.h"
#include "tests/worker/cuda/cuda_test_util.h"
#include "worker/cpu_model.h"
#include "worker/safetensors.h"
#include "worker/sampling.h"

namespace strata::worker {
namespace {

using testing::CompareRow;
using testing::FixtureDir;
using testing::LoadReference;
using testing::Reference;
using testing::RowError;
using testing::SmallOptions;

constexpr double kMaxRelL2 = 3e-2;
constexpr double kMaxRelL2Fp32 = 5e-2;
constexpr double kNearTie = 0.05;

// Distinct block tables: prompt i gets blocks [first_i, first_i + needed).
std::vector<std::vector<int32_t>> Tables(const std::vector<std::vector<int32_t>>& prompts,
                                         int32_t block_size, int32_t extra_tokens = 0) {
  std::vector<std::vector<int32_t>> tables;
  int32_t next = 1;  // block 0 stays unused
  for (const auto& p : prompts) {
    std::vector<int32_t> t;
    const int64_t tokens = static_cast<int64_t>(p.size()) + extra_tokens;
    for (int64_t b = 0; b < (tokens + block_size - 1) / block_size; ++b) t.push_back(next++);
    tables.push_back(t);
  }
  return tables;
}

// The CPU model with every weight rounded to bf16 (float32 arithmetic).
std::unique_ptr<CpuModel> CpuModelWithBf16Weights(const std::string& dir) {
  auto config = LoadModelConfig(dir);
  auto checkpoint = Checkpoint::Open(dir);
  EXPECT_TRUE(config.ok() && checkpoint.ok());
  auto weights = LoadModelWeights(**checkpoint, *config);
  EXPECT_TRUE(weights.ok()) << weights.status();
  auto round = [](std::vector<float>& v) {
    for (float& x : v) x = BF16ToFloat(FloatToBF16(x));
  };
  round(weights->embed), round(weights->final_norm), round(weights->lm_head);
  for (LayerWeights& l : weights->layers) {
    for (auto* v : {&l.input_norm, &l.qkv, &l.qkv_bias, &l.q_norm, &l.k_norm, &l.o, &l.o_bias,
                    &l.post_norm, &l.gate_up, &l.gate_up_bias, &l.down, &l.down_bias,
                    &l.router, &l.expert_gate_up, &l.expert_down}) {
      round(*v);
    }
  }
  return std::make_unique<CpuModel>(*config, std::move(*weights),
                                    KvCacheShape{.num_blocks = 512, .block_size = 16}, 64);
}

class CudaFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaFixtureTest, LogitsMatchCpuModelAtEveryPosition) {
  const std::string dir = FixtureDir(GetParam());
  const Reference ref = LoadReference(dir);
  auto gpu = CudaWorker::Create(dir, SmallOptions());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  auto cpu = CpuModel::Load(dir, {.num_blocks = 512, .block_size = 16}, 64);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  std::unique_ptr<CpuModel> cpu_bf16 = CpuModelWithBf16Weights(dir);
  auto hf = SafetensorsFile::Open(dir + "/reference.safetensors");
  ASSERT_TRUE(hf.ok()) << hf.status();
  const int64_t vocab = (*gpu)->model_config().vocab_size;
  const auto tables = Tables(ref.prompts, 16);

  std::vector<SequenceSlice> batch;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    batch.push_back({.tokens = ref.prompts[i],
                     .start_position = 0,
                     .block_table = tables[i],
                     .logits = LogitsMode::kAll});
  }
  std::vector<float> got, want, want_fp32;
  ASSERT_TRUE((*gpu)->Forward(batch, &got).ok());
  ASSERT_TRUE(cpu_bf16->Forward(batch, &want).ok());
  ASSERT_TRUE((*cpu)->Forward(batch, &want_fp32).ok());
  ASSERT_EQ(got.size(), want.size());

  // The same tokens again on a fresh worker: the first half of each prompt as one chunk,
  // then one token at a time, prefills and decodes mixed in each batch.
  auto gpu2 = CudaWorker::Create(dir, SmallOptions(32));
  ASSERT_TRUE(gpu2.ok()) << gpu2.status();
  const auto tables32 = Tables(ref.prompts, 32);
  std::vector<std::vector<std::vector<float>>> stepped(ref.prompts.size());
  size_t longest = 0;
  for (const auto& p : ref.prompts) longest = std::max(longest, p.size());
  for (size_t step = 0;; ++step) {
    std::vector<SequenceSlice> slices;
    std::vector<size_t> owners;
    for (size_t i = 0; i < ref.prompts.size(); ++i) {
      const auto& p = ref.prompts[i];
      const size_t half = (p.size() + 1) / 2;
      const size_t begin = step == 0 ? 0 : half + step - 1;
      const size_t end = step == 0 ? half : begin + 1;
      if (begin >= p.size()) continue;
      slices.push_back({.tokens = std::span(p).subspan(begin, end - begin),
                        .start_position = static_cast<int64_t>(begin),
                        .block_table = tables32[i],
                        .logits = LogitsMode::kAll});
      owners.push_back(i);
    }
    if (slices.empty()) break;
    std::vector<float> logits;
    ASSERT_TRUE((*gpu2)->Forward(slices, &logits).ok());
    size_t row = 0;
    for (size_t s = 0; s < slices.size(); ++s) {
      for (size_t t = 0; t < slices[s].tokens.size(); ++t, ++row) {
        stepped[owners[s]].emplace_back(logits.begin() + row * vocab,
                                        logits.begin() + (row + 1) * vocab);
      }
    }
  }

  double worst = 0, worst_abs = 0, worst_stepped = 0, worst_fp32 = 0, worst_hf = 0;
  int agree = 0, positions = 0;
  int64_t row = 0;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    auto hf_view = (*hf)->Tensor("logits_" + std::to_string(i));
    ASSERT_TRUE(hf_view.ok()) << hf_view.status();
    const float* hf_logits = reinterpret_cast<const float*>(hf_view->data);
    ASSERT_EQ(stepped[i].size(), ref.prompts[i].size());
    for (size_t pos = 0; pos < ref.prompts[i].size(); ++pos, ++row, ++positions) {
      const float* g = got.data() + row * vocab;
      const float* w = want.data() + row * vocab;
      const RowError e = CompareRow(g, w, vocab);
      worst = std::max(worst, e.rel_l2);
      worst_abs = std::max(worst_abs, e.max_abs);
      EXPECT_LE(e.rel_l2, kMaxRelL2) << "prompt " << i << " position " << pos;
      EXPECT_TRUE(e.top1_agrees || e.ref_top2_gap < kNearTie)
          << "prompt " << i << " position " << pos << ": top-1 differs, gap " << e.ref_top2_gap;
      agree += e.top1_agrees;
      const RowError s = CompareRow(stepped[i][pos].data(), w, vocab);
      worst_stepped = std::max(worst_stepped, s.rel_l2);
      EXPECT_LE(s.rel_l2, kMaxRelL2) << "stepped: prompt " << i << " position " << pos;
      const RowError f = CompareRow(g, want_fp32.data() + row * vocab, vocab);
      EXPECT_LE(f.rel_l2, kMaxRelL2Fp32) << "fp32: prompt " << i << " position " << pos;
      worst_fp32 = std::max(worst_fp32, f.rel_l2);
      worst_hf = std::max(worst_hf, CompareRow(g, hf_logits + pos * vocab, vocab).rel_l2);
    }
  }
  std::printf(
      "[ %s ] GPU vs CPU model on bf16 weights, %d positions: worst rel L2 %.3g (stepped "
      "prefill/decode %.3g), max abs %.3g, top-1 agrees at %d; vs CPU fp32 %.3g, vs "
      "transformers fp32 %.3g\n",
      GetParam().c_str(), positions, worst, worst_stepped, worst_abs, agree, worst_fp32, worst_hf);
}

TEST_P(CudaFixtureTest, GreedyContinuationMatchesTransformers) {
  const std::string dir = FixtureDir(GetParam());
  const Reference ref = LoadReference(dir);
  auto gpu = CudaWorker::Create(dir, SmallOptions());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const auto outputs = GreedyGenerate(gpu->get(), ref.prompts, true, 32, 16, 512);
  int checked = 0, total = 0;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    checked += testing::CompareUntilNearTie(outputs[i], ref.greedy[i], ref.margins[i], kNearTie,
                                            "prompt " + std::to_string(i));
    total += static_cast<int>(ref.greedy[i].size());
  }
  std::printf(
      "[ %s ] greedy tokens equal to transformers' up to the first near-tie (top-2 "
      "margin < %.2g): %d of %d positions checked\n",
      GetParam().c_str(), kNearTie, checked, total);
}

TEST_P(CudaFixtureTest, BatchingAndBlockSizeNeverChangeTokens) {
  const std::string dir = FixtureDir(GetParam());
  const Reference ref = LoadReference(dir);
  auto run = [&](int32_t block_size, bool batched) {
    auto gpu = CudaWorker::Create(dir, SmallOptions(block_size));
    EXPECT_TRUE(gpu.ok()) << gpu.status();
    return GreedyGenerate(gpu->get(), ref.prompts, batched, 24, 16, 512);
  };
  const auto batched = run(16, true);
  EXPECT_EQ(run(32, true), batched) << "block size 32";
  const auto alone = run(16, false);
  // One at a time the GEMMs see other row counts, so cuBLAS may pick other kernels: the
  // tokens must agree up to the first near-tie of the reference.
  int differing = 0;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    testing::CompareUntilNearTie(alone[i], batched[i], ref.margins[i], kNearTie,
                                 "one at a time, prompt " + std::to_string(i));
    differing += alone[i] != batched[i];
  }
  std::printf(
      "[ %s ] block 16 vs 32: identical; batched vs one at a time: %d of %zu "
      "continuations differ (allowed only after a near-tie)\n",
      GetParam().c_str(), differing, ref.prompts.size());
}

INSTANTIATE_TEST_SUITE_P(Architectures, CudaFixtureTest,
                         ::testing::Values("llama", "qwen2", "qwen3"));

// qwen3_moe. Routing is discontinuous: where bf16 rounding moves a token's router logits
// across a top-2 boundary, a different expert runs and that position (and, through
// attention, the rest of its prompt) moves far. Measured on the CPU, bf16-rounded weights
// against float32: median relative L2 1.2%, 59% of the 120 positions under 3%, worst 52%,
// top-1 equal at 109. So the GPU is held to aggregates here; the expert kernels themselves
// are checked element-wise by strata-cuda-ops-test (CudaMoeTest).
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

TEST(CudaMoeFixtureTest, LogitsCloseToCpuModelExceptRoutingFlips) {
  const std::string dir = FixtureDir("qwen3_moe");
  const Reference ref = LoadReference(dir);
  auto gpu = CudaWorker::Create(dir, SmallOptions());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  std::unique_ptr<CpuModel> cpu_bf16 = CpuModelWithBf16Weights(dir);
  const int64_t vocab = (*gpu)->model_config().vocab_size;
  const auto tables = Tables(ref.prompts, 16);
  std::vector<SequenceSlice> batch;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    batch.push_back({.tokens = ref.prompts[i],
                     .start_position = 0,
                     .block_table = tables[i],
                     .logits = LogitsMode::kAll});
  }
  std::vector<float> got, want;
  ASSERT_TRUE((*gpu)->Forward(batch, &got).ok());
  ASSERT_TRUE(cpu_bf16->Forward(batch, &want).ok());
  ASSERT_EQ(got.size(), want.size());
  std::vector<double> errors;
  int agree = 0, close = 0;
  size_t row = 0;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    for (size_t pos = 0; pos < ref.prompts[i].size(); ++pos, ++row) {
      const RowError e = CompareRow(got.data() + row * vocab, want.data() + row * vocab, vocab);
      ASSERT_TRUE(std::isfinite(e.rel_l2)) << "prompt " << i << " position " << pos;
      errors.push_back(e.rel_l2);
      agree += e.top1_agrees;
      close += e.rel_l2 <= kMaxRelL2;
      // A prompt's first position has no earlier token whose routing could have flipped.
      if (pos == 0) EXPECT_LE(e.rel_l2, kMaxRelL2) << "prompt " << i << " position 0";
    }
  }
  const double positions = static_cast<double>(errors.size());
  std::printf(
      "[ qwen3_moe ] GPU vs CPU model on bf16 weights, %zu positions: median rel L2 %.3g, worst "
      "%.3g, within %.2g at %d, top-1 agrees at %d\n",
      errors.size(), Median(errors), *std::max_element(errors.begin(), errors.end()), kMaxRelL2,
      close, agree);
  // A wiring error (expert layout, routing weights) moves every position; flips move some.
  EXPECT_GE(close, 0.25 * positions);
  EXPECT_GE(agree, 0.75 * positions);
}

TEST(CudaMoeFixtureTest, GreedyAndBlockSize) {
  const std::string dir = FixtureDir("qwen3_moe");
  const Reference ref = LoadReference(dir);
  auto run = [&](int32_t block_size) {
    auto gpu = CudaWorker::Create(dir, SmallOptions(block_size));
    EXPECT_TRUE(gpu.ok()) << gpu.status();
    return GreedyGenerate(gpu->get(), ref.prompts, true, 24, 16, 512);
  };
  const auto batched = run(16);
  EXPECT_EQ(run(32), batched) << "block size 32";  // nothing in routing sees the block size
  // The first token of each prompt, where the reference is decided by a wide margin.
  int matched = 0, decided = 0;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    ASSERT_FALSE(batched[i].empty());
    matched += batched[i][0] == ref.greedy[i][0];
    if (ref.margins[i][0] < 10 * kNearTie) continue;
    ++decided;
    EXPECT_EQ(batched[i][0], ref.greedy[i][0]) << "prompt " << i;
  }
  std::printf("[ qwen3_moe ] first greedy token equal to transformers' for %d of %zu prompts (%d "
              "decided by a margin >= %.2g)\n",
              matched, ref.prompts.size(), decided, 10 * kNearTie);
}

// Execute's sampling (GPU, or the host fallback when the penalty lists overflow their
// staging area) against SampleToken on the logits Forward returns for the same rows.
void CheckSamplingParity(int64_t max_penalty_tokens) {
  const std::string dir = FixtureDir("qwen3");
  const Reference ref = LoadReference(dir);
  CudaWorkerOptions options = SmallOptions();
  options.max_penalty_tokens = max_penalty_tokens;
  auto gpu = CudaWorker::Create(dir, options);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  std::vector<SamplingParams> params(7);
  params[0].temperature = 0.0f;
  params[0].top_logprobs = 5;
  params[1].temperature = 0.8f, params[1].seed = 1;
  params[2].top_k = 5, params[2].seed = 2, params[2].top_logprobs = 3;
  params[3].top_p = 0.9f, params[3].temperature = 1.3f, params[3].seed = 3;
  params[4].min_p = 0.1f, params[4].seed = 4;
  params[5].repetition_penalty = 1.3f, params[5].presence_penalty = 0.5f;
  params[5].frequency_penalty = 0.2f, params[5].seed = 5, params[5].top_logprobs = 2;
  params[6].repetition_penalty = 0.7f, params[6].temperature = 0.0f;
  const std::vector<int32_t> outputs = {7, 7, 9, 100, 7, 311};
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < params.size(); ++i) prompts.push_back(ref.prompts[1 + i % 4]);
  const auto tables = Tables(prompts, 16);
  for (int round = 0; round < 3; ++round) {
    std::vector<SequenceWork> batch(params.size());
    std::vector<SequenceSlice> slices;
    for (size_t i = 0; i < params.size(); ++i) {
      batch[i].slice = {.tokens = prompts[i],
                        .start_position = 0,
                        .block_table = tables[i],
                        .logits = LogitsMode::kLast};
      batch[i].sample = true;
      batch[i].params = &params[i];
      batch[i].prompt_tokens = prompts[i];
      batch[i].output_tokens = std::span(outputs).first(2 * round);
      batch[i].sample_step = 10 * round + i;
      slices.push_back(batch[i].slice);
    }
    auto sampled = (*gpu)->Execute(batch);
    ASSERT_TRUE(sampled.ok()) << sampled.status();
    std::vector<float> logits;
    ASSERT_TRUE((*gpu)->Forward(slices, &logits).ok());
    const int64_t vocab = (*gpu)->model_config().vocab_size;
    for (size_t i = 0; i < params.size(); ++i) {
      const SampledToken want =
          SampleToken(std::span(logits).subspan(i * vocab, vocab), params[i],
                      batch[i].prompt_tokens, batch[i].output_tokens, batch[i].sample_step);
      const SampledToken& got = (*sampled)[i];
      EXPECT_EQ(got.token, want.token) << "round " << round << " row " << i;
      EXPECT_NEAR(got.logprob, want.logprob, 1e-5) << "round " << round << " row " << i;
      ASSERT_EQ(got.top.size(), want.top.size()) << "row " << i;
      for (size_t k = 0; k < want.top.size(); ++k) {
        EXPECT_EQ(got.top[k].token, want.top[k].token) << "row " << i << " top " << k;
        EXPECT_NEAR(got.top[k].logprob, want.top[k].logprob, 1e-5) << "row " << i;
      }
    }
  }
}

TEST(CudaWorkerSamplingTest, ExecuteSamplesAsTheHostSamplerOnTheSameLogits) {
  CheckSamplingParity(0);
}

TEST(CudaWorkerSamplingTest, PenaltyOverflowFallsBackToHostSampling) { CheckSamplingParity(4); }

TEST(CudaWorkerTest, RejectsBadBatchesAndReportsMemory) {
  const std::string dir = FixtureDir("llama");
  auto gpu = CudaWorker::Create(dir, SmallOptions());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const MemoryReport m = (*gpu)->memory();
  EXPECT_EQ(m.block_size, 16);
  EXPECT_EQ(m.num_kv_blocks, 512);
  EXPECT_GT(m.weight_bytes, 0);
  EXPECT_EQ(m.kv_cache_bytes, (*gpu)->memory_plan().Bytes("kv_cache"));
  std::printf("%s", (*gpu)->memory_plan().ToString().c_str());
  const std::vector<int32_t> tokens = {1, 2, 3}, bad = {1, 100000}, table = {0}, far = {9999};
  std::vector<float> logits;
  const SequenceSlice bad_token{
      .tokens = bad, .start_position = 0, .block_table = table, .logits = LogitsMode::kLast};
  EXPECT_EQ((*gpu)->Forward(std::span(&bad_token, 1), &logits).code(),
            absl::StatusCode::kInvalidArgument);
  const SequenceSlice bad_block{
      .tokens = tokens, .start_position = 0, .block_table = far, .logits = LogitsMode::kLast};
  EXPECT_EQ((*gpu)->Forward(std::span(&bad_block, 1), &logits).code(),
            absl::StatusCode::kInvalidArgument);
  const SequenceSlice short_table{
      .tokens = tokens, .start_position = 15, .block_table = table, .logits = LogitsMode::kLast};
  EXPECT_EQ((*gpu)->Forward(std::span(&short_table, 1), &logits).code(),
            absl::StatusCode::kInvalidArgument);
  SequenceWork no_params;
  no_params.slice = {
      .tokens = tokens, .start_position = 0, .block_table = table, .logits = LogitsMode::kLast};
  no_params.sample = true;
  EXPECT_EQ((*gpu)->Execute(std::span(&no_params, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Create warms every GEMM row bucket up to max_batch_tokens: prompts of lengths it has
// never run need no algorithm query (each would cost milliseconds of the first layer).
TEST(CudaWorkerTest, PromptsOfNewLengthsQueryNoGemmAlgorithm) {
  for (const char* fixture : {"llama", "qwen3_moe"}) {
    auto gpu = CudaWorker::Create(FixtureDir(fixture), SmallOptions());
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    const int64_t queries = (*gpu)->gemm().heuristic_queries();
    EXPECT_GT(queries, 0) << fixture;
    std::vector<float> logits;
    int32_t first_block = 0;
    for (int32_t length : {37, 123, 301, 509}) {
      const std::vector<int32_t> tokens(length, 5);
      std::vector<int32_t> table;
      for (int32_t b = 0; b * 16 < length; ++b) table.push_back(first_block++);
      const SequenceSlice prompt{.tokens = tokens,
                                 .start_position = 0,
                                 .block_table = table,
                                 .logits = LogitsMode::kLast};
      ASSERT_TRUE((*gpu)->Forward(std::span(&prompt, 1), &logits).ok()) << length;
    }
    EXPECT_EQ((*gpu)->gemm().heuristic_queries(), queries) << fixture;
  }
}

// qwen3_moe: 2 sparse layers (0 and 2) of 8 experts, top 2. One decode token reads exactly
// 2 experts per sparse layer; a batch reads each activated expert once per layer.
TEST(CudaWorkerTest, CountsExpertWeightBytesRead) {
  const std::string dir = FixtureDir("qwen3_moe");
  auto gpu = CudaWorker::Create(dir, SmallOptions());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const ModelConfig& c = (*gpu)->model_config();
  const int64_t expert_bytes = 3 * c.hidden_size * c.moe_intermediate_size * 2;  // bf16
  EXPECT_EQ((*gpu)->ExpertWeightBytesRead(), 0);
  const std::vector<int32_t> one = {7}, table = {0};
  std::vector<float> logits;
  const SequenceSlice decode{
      .tokens = one, .start_position = 0, .block_table = table, .logits = LogitsMode::kLast};
  ASSERT_TRUE((*gpu)->Forward(std::span(&decode, 1), &logits).ok());
  EXPECT_EQ((*gpu)->ExpertWeightBytesRead(), 2 * 2 * expert_bytes);

  const Reference ref = LoadReference(dir);
  const auto tables = Tables(ref.prompts, 16);
  std::vector<SequenceSlice> batch;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    batch.push_back({.tokens = ref.prompts[i],
                     .start_position = 0,
                     .block_table = tables[i],
                     .logits = LogitsMode::kLast});
  }
  ASSERT_TRUE((*gpu)->Forward(batch, &logits).ok());
  const int64_t after = (*gpu)->ExpertWeightBytesRead() - 2 * 2 * expert_bytes;
  EXPECT_GE(after, 2 * 2 * expert_bytes);
  EXPECT_LE(after, 2 * 8 * expert_bytes);  // at most every expert once per sparse layer
  std::printf("[ qwen3_moe ] %zu prompts in one pass read %lld expert bytes (%lld experts)\n",
              ref.prompts.size(), static_cast<long long>(after),
              static_cast<long long>(after / expert_bytes));
}

}  // namespace
}  // namespace strata::worker
