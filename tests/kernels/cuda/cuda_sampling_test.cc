// GPU sampling against worker::SampleToken: same tokens, same top log-probabilities.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/sampling.h"
#include "tests/kernels/cuda/test_util.h"
#include "worker/sampling.h"

namespace strata::kernels::cuda {
namespace {

using testing::DeviceBuffer;

TEST(CudaSamplingTest, SeededUniformIsBitExact) {
  auto rng = testing::MakeRng();
  const int n = 4096;
  std::vector<uint64_t> seeds(n), steps(n);
  for (int i = 0; i < n; ++i) {
    seeds[i] = i < 4 ? i : rng();
    steps[i] = i % 3 == 0 ? i : rng();
  }
  DeviceBuffer<uint64_t> d_seeds(seeds), d_steps(steps);
  DeviceBuffer<double> out(n);
  out.Poison();
  SeededUniformOnDevice(d_seeds.get(), d_steps.get(), n, out.get(), nullptr);
  const std::vector<double> got = out.Download();
  int mismatches = 0;
  for (int i = 0; i < n; ++i) mismatches += got[i] != worker::SeededUniform(seeds[i], steps[i]);
  EXPECT_EQ(mismatches, 0);
}

// Row r's parameters: a cycle of the filters the API offers.
worker::SamplingParams ParamsFor(int r, std::mt19937_64& rng) {
  worker::SamplingParams p;
  p.seed = rng();
  const int top_logprobs[] = {0, 1, 5, 20};
  p.top_logprobs = top_logprobs[rng() % 4];
  switch (r % 9) {
    case 0:
      p.temperature = 0.0f;
      break;
    case 1:
      p.temperature = 1.0f;
      break;
    case 2:
      p.temperature = 0.7f, p.top_k = 50;
      break;
    case 3:
      p.temperature = 1.3f, p.top_p = 0.9f;
      break;
    case 4:
      p.temperature = 0.8f, p.top_k = 200, p.top_p = 0.95f, p.min_p = 0.05f;
      break;
    case 5:
      p.min_p = 0.1f;
      break;
    case 6:
      p.top_k = 1;
      break;
    case 7:
      p.repetition_penalty = 1.3f, p.presence_penalty = 0.5f, p.frequency_penalty = 0.3f;
      p.temperature = 0.9f, p.top_p = 0.8f;
      break;
    case 8:
      p.temperature = 0.0f, p.repetition_penalty = 0.8f, p.frequency_penalty = -0.4f;
      break;
  }
  if (r % 5 == 4) p.presence_penalty += 0.25f;
  return p;
}

void RunVocab(int32_t vocab, int rows, std::mt19937_64& rng) {
  std::vector<float> logits(int64_t{rows} * vocab);
  std::vector<worker::SamplingParams> params(rows);
  std::vector<std::vector<int32_t>> prompts(rows), outputs(rows);
  std::vector<uint64_t> steps(rows);
  for (int r = 0; r < rows; ++r) {
    params[r] = ParamsFor(r, rng);
    steps[r] = rng() % 1000;
    // Mostly peaked (sd 3), some flat (sd 0.5: deep draws), some quantized (ties).
    const float sd = r % 7 == 3 ? 0.5f : 3.0f;
    std::normal_distribution<float> dist(0.0f, sd);
    for (int32_t i = 0; i < vocab; ++i) {
      float v = dist(rng);
      if (r % 3 == 0) v = std::round(v * 2.0f) / 2.0f;
      logits[int64_t{r} * vocab + i] = v;
    }
    if (r % 3 == 0) logits[int64_t{r} * vocab + vocab - 1] = 20.0f;  // a tie at the top
    if (r % 3 == 0) logits[int64_t{r} * vocab + vocab / 2] = 20.0f;
    const int range = std::min(vocab, 64);
    for (int i = 0, n = static_cast<int>(rng() % 40); i < n; ++i)
      prompts[r].push_back(rng() % range);
    for (int i = 0, n = static_cast<int>(rng() % 30); i < n; ++i)
      outputs[r].push_back(rng() % range);
  }

  // GPU inputs: per-row parameters and the penalty CSR of distinct tokens.
  std::vector<SamplingRow> rows_host(rows);
  std::vector<int32_t> offsets = {0};
  std::vector<PenaltyToken> penalties;
  for (int r = 0; r < rows; ++r) {
    const worker::SamplingParams& p = params[r];
    rows_host[r] = {p.temperature,
                    p.top_k,
                    p.top_p,
                    p.min_p,
                    p.presence_penalty,
                    p.frequency_penalty,
                    p.repetition_penalty,
                    p.top_logprobs,
                    p.seed,
                    steps[r]};
    std::map<int32_t, int32_t> counts;
    for (int32_t t : prompts[r]) counts[t] += 0;
    for (int32_t t : outputs[r]) counts[t] += 1;
    for (auto [token, count] : counts) penalties.push_back({token, count});
    offsets.push_back(static_cast<int32_t>(penalties.size()));
  }
  if (penalties.empty()) penalties.push_back({0, 0});
  DeviceBuffer<float> d_logits(logits);
  DeviceBuffer<SamplingRow> d_params(rows_host);
  DeviceBuffer<int32_t> d_offsets(offsets);
  DeviceBuffer<PenaltyToken> d_penalties(penalties);
  const int32_t max_top = 20;
  DeviceBuffer<int32_t> tokens(rows), top_tokens(int64_t{rows} * max_top);
  DeviceBuffer<float> logprobs(rows), top_logprobs(int64_t{rows} * max_top);
  tokens.Poison(), top_tokens.Poison(), logprobs.Poison(), top_logprobs.Poison();
  DeviceBuffer<char> workspace(SamplingWorkspaceBytes(rows, vocab));
  workspace.Poison();
  SampleArgs args;
  args.logits = d_logits.get();
  args.logits_stride = vocab;
  args.rows = rows;
  args.vocab = vocab;
  args.params = d_params.get();
  args.penalty_offsets = d_offsets.get();
  args.penalties = d_penalties.get();
  args.tokens = tokens.get();
  args.logprobs = logprobs.get();
  args.top_tokens = top_tokens.get();
  args.top_logprobs = top_logprobs.get();
  args.max_top = max_top;
  Sample(args, workspace.get(), nullptr);
  const auto got_tokens = tokens.Download();
  const auto got_logprobs = logprobs.Download();
  const auto got_top = top_tokens.Download();
  const auto got_top_lp = top_logprobs.Download();
  // Logits are not modified.
  EXPECT_EQ(d_logits.Download(), logits);

  int token_mismatches = 0;
  double worst_logprob = 0.0;
  for (int r = 0; r < rows; ++r) {
    std::vector<float> row(logits.begin() + int64_t{r} * vocab,
                           logits.begin() + int64_t{r + 1} * vocab);
    const worker::SampledToken want =
        worker::SampleToken(row, params[r], prompts[r], outputs[r], steps[r]);
    const std::string where =
        absl::StrCat("vocab=", vocab, " row=", r, " T=", params[r].temperature,
                     " k=", params[r].top_k, " p=", params[r].top_p, " min_p=", params[r].min_p);
    if (got_tokens[r] != want.token) {
      ++token_mismatches;
      ADD_FAILURE() << where << ": token " << got_tokens[r] << ", CPU " << want.token;
    }
    const double err = std::fabs(got_logprobs[r] - want.logprob);
    EXPECT_TRUE(err <= 1e-4) << where << ": logprob " << got_logprobs[r] << " vs " << want.logprob;
    worst_logprob = std::max(worst_logprob, std::isfinite(err) ? err : 1e30);
    const size_t n = want.top.size();
    for (int i = 0; i < max_top; ++i) {
      const int32_t id = got_top[int64_t{r} * max_top + i];
      const float lp = got_top_lp[int64_t{r} * max_top + i];
      if (static_cast<size_t>(i) < n) {
        EXPECT_EQ(id, want.top[i].token) << where << " top " << i;
        const double e = std::fabs(lp - want.top[i].logprob);
        EXPECT_TRUE(e <= 1e-4) << where << " top " << i << ": " << lp;
        worst_logprob = std::max(worst_logprob, std::isfinite(e) ? e : 1e30);
      } else {
        EXPECT_EQ(id, -1);
        EXPECT_TRUE(std::isinf(lp) && lp < 0);
      }
    }
  }
  std::printf("  %-16s vocab=%-7d rows=%-3d token mismatches=%d max |logprob err|=%.3g\n", "sample",
              vocab, rows, token_mismatches, worst_logprob);
}

TEST(CudaSamplingTest, MatchesCpuSampling) {
  auto rng = testing::MakeRng();
  const int rows = testing::Quick() ? 9 : 72;
  for (int32_t vocab : {1000, 32003}) RunVocab(vocab, rows, rng);
  if (!testing::Quick()) RunVocab(151936, 36, rng);
}

}  // namespace
}  // namespace strata::kernels::cuda
