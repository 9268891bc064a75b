// Decodes beside a layered-prefill cohort replay their CUDA graph and the cohort's layer
// group runs after them (CudaWorkerOptions::layered_decode_graphs); checked against the
// single eager pass over both. The shape has head_dim 64, so decode has its graph path
// (the reference fixtures' head_dim 24 has none); its weights are the worker's seeded
// random ones, identical in both workers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "worker/cuda_worker.h"
#include "worker/model_config.h"
#include "worker/model_shapes.h"

namespace strata::worker {
namespace {

constexpr int kDecodes = 8;
constexpr int kDecodePrompt = 20;
constexpr int kCohortTokens = 100;
constexpr int kLayers = 4;
constexpr int kBlocksPerSequence = 16;
// bf16 logits through different GEMM shapes (decode rows alone vs beside cohort rows).
constexpr float kLogprobTolerance = 0.05f;

std::string WriteConfig() {
  auto shape = NamedModelShape("tiny");
  EXPECT_TRUE(shape.ok()) << shape.status();
  ModelConfig c = shape->config;
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_hidden_layers = kLayers;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  char dir[] = "/tmp/strata-layered-graph-XXXXXX";
  EXPECT_NE(mkdtemp(dir), nullptr);
  std::ofstream(std::string(dir) + "/config.json") << ModelConfigToJson(c);
  return dir;
}

std::unique_ptr<CudaWorker> MakeWorker(const std::string& dir, bool decode_graphs) {
  auto worker = CudaWorker::Create(dir, {.block_size = 16,
                                         .num_blocks = 256,
                                         .max_batch_tokens = 256,
                                         .max_num_seqs = 16,
                                         .random_weights = true,
                                         .layered_prefill = true,
                                         .layered_decode_graphs = decode_graphs});
  EXPECT_TRUE(worker.ok()) << worker.status();
  return worker.ok() ? std::move(*worker) : nullptr;
}

// Token ids and tables shared by both workers; each step's inputs are fixed by the test
// (the decodes are fed the graph worker's tokens), so both see identical work.
struct Workload {
  std::vector<std::vector<int32_t>> tables;  // kDecodes decode sequences, then the cohort
  std::vector<std::vector<int32_t>> tokens;  // the decodes' tokens so far
  std::vector<int32_t> cohort;
};

Workload MakeWorkload() {
  Workload w;
  for (int s = 0; s <= kDecodes; ++s) {
    std::vector<int32_t>& table = w.tables.emplace_back();
    for (int b = 0; b < kBlocksPerSequence; ++b) table.push_back(s * kBlocksPerSequence + b);
  }
  for (int s = 0; s < kDecodes; ++s) {
    std::vector<int32_t>& t = w.tokens.emplace_back();
    for (int i = 0; i < kDecodePrompt; ++i) t.push_back(3 + (s * 131 + i * 17) % 5000);
  }
  for (int i = 0; i < kCohortTokens; ++i) w.cohort.push_back(7 + (i * 29) % 7000);
  return w;
}

// The decodes' next step (whole prompts at step 0) plus, when `group` >= 0, the cohort's
// layer group `group` of two.
std::vector<SequenceWork> Batch(const Workload& w, int step, int group,
                                const SamplingParams& params) {
  std::vector<SequenceWork> batch;
  for (int s = 0; s < kDecodes; ++s) {
    const auto& t = w.tokens[s];
    const int64_t start = step == 0 ? 0 : static_cast<int64_t>(t.size()) - 1;
    SequenceWork& work = batch.emplace_back();
    work.slice = {.tokens = std::span<const int32_t>(t).subspan(start),
                  .start_position = start,
                  .block_table = w.tables[s],
                  .sequence_id = s};
    work.sample = true;
    work.params = &params;
  }
  if (group >= 0) {
    const bool last = group == 1;
    SequenceWork& work = batch.emplace_back();
    work.slice = {.tokens = w.cohort,
                  .start_position = 0,
                  .block_table = w.tables[kDecodes],
                  .logits = last ? LogitsMode::kLast : LogitsMode::kNone,
                  .sequence_id = kDecodes,
                  .layer_begin = group * kLayers / 2,
                  .layer_end = last ? SequenceSlice::kAllLayers : kLayers / 2};
    work.sample = last;
    work.params = &params;
  }
  return batch;
}

// Tokens agree, or both picks are a near-tie in the other's distribution.
void ExpectClose(const SampledToken& a, const SampledToken& b, const std::string& what) {
  if (a.token == b.token) {
    EXPECT_NEAR(a.logprob, b.logprob, kLogprobTolerance) << what;
    return;
  }
  bool near_tie = false;
  for (const TokenLogprob& t : b.top) near_tie |= t.token == a.token && b.logprob - t.logprob < kLogprobTolerance;
  EXPECT_TRUE(near_tie) << what << ": token " << a.token << " vs " << b.token;
}

TEST(CudaLayeredGraphTest, DecodesBesideACohortReplayTheirGraphAndMatchOneEagerPass) {
  const std::string dir = WriteConfig();
  std::unique_ptr<CudaWorker> graphs = MakeWorker(dir, true);
  std::unique_ptr<CudaWorker> eager = MakeWorker(dir, false);
  ASSERT_NE(graphs, nullptr);
  ASSERT_NE(eager, nullptr);
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_logprobs = 5;
  Workload w = MakeWorkload();
  // Step 0 prefills the decodes; then two cohorts of two groups each, back to back (the
  // second cohort re-runs the same tokens over the same blocks).
  const std::vector<int> groups = {-1, 0, 1, 0, 1};
  for (size_t step = 0; step < groups.size(); ++step) {
    const std::vector<SequenceWork> batch = Batch(w, static_cast<int>(step), groups[step], params);
    auto a = graphs->Execute(batch);
    auto b = eager->Execute(batch);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_EQ(a->size(), b->size());
    ASSERT_EQ(a->size(), static_cast<size_t>(kDecodes + (groups[step] == 1 ? 1 : 0)));
    for (size_t i = 0; i < a->size(); ++i) {
      ExpectClose((*a)[i], (*b)[i], "step " + std::to_string(step) + " sequence " + std::to_string(i));
    }
    for (int s = 0; s < kDecodes; ++s) w.tokens[s].push_back((*a)[s].token);
  }
  EXPECT_EQ(graphs->cohort_passes_beside_graphs(), 4);
  EXPECT_GT(graphs->graph_replays(), 0) << "the decode graph was captured but never replayed";
  EXPECT_EQ(eager->cohort_passes_beside_graphs(), 0);
  EXPECT_EQ(graphs->num_carried(), 0u);
  EXPECT_EQ(eager->num_carried(), 0u);
  std::remove((dir + "/config.json").c_str());
  std::remove(dir.c_str());
}

SamplingParams GreedyWithTop5() {
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_logprobs = 5;
  return params;
}

std::unique_ptr<CudaWorker> MakeGraphWorker(const std::string& dir, int32_t max_num_seqs) {
  auto worker = CudaWorker::Create(dir, {.block_size = 16,
                                         .num_blocks = 256,
                                         .max_batch_tokens = 256,
                                         .max_num_seqs = max_num_seqs,
                                         .random_weights = true});
  EXPECT_TRUE(worker.ok()) << worker.status();
  return worker.ok() ? std::move(*worker) : nullptr;
}

// One decode token per sequence: each sequence's last token at its position.
std::vector<SequenceWork> DecodeBatch(const std::vector<std::vector<int32_t>>& tables,
                                      const std::vector<std::vector<int32_t>>& tokens,
                                      const SamplingParams& params) {
  std::vector<SequenceWork> batch(tokens.size());
  for (size_t s = 0; s < tokens.size(); ++s) {
    const int64_t last = static_cast<int64_t>(tokens[s].size()) - 1;
    batch[s].slice = {.tokens = std::span<const int32_t>(tokens[s]).subspan(last),
                      .start_position = last,
                      .block_table = tables[s]};
    batch[s].sample = true;
    batch[s].params = &params;
  }
  return batch;
}

// `steps` decode steps, each from the graphs and then eagerly over the same K/V entries:
// tokens agree up to near-ties; the graph's are appended.
void DecodeGraphsAgainstEager(CudaWorker& worker, const std::vector<std::vector<int32_t>>& tables,
                              std::vector<std::vector<int32_t>>* tokens,
                              const SamplingParams& params, int steps) {
  for (int step = 0; step < steps; ++step) {
    const std::vector<SequenceWork> batch = DecodeBatch(tables, *tokens, params);
    auto graphs = worker.Execute(batch);
    worker.set_cuda_graphs(false);
    auto eager = worker.Execute(batch);
    worker.set_cuda_graphs(true);
    ASSERT_TRUE(graphs.ok() && eager.ok());
    for (size_t s = 0; s < tokens->size(); ++s) {
      ExpectClose((*graphs)[s], (*eager)[s],
                  "step " + std::to_string(step) + " sequence " + std::to_string(s));
      (*tokens)[s].push_back((*graphs)[s].token);
    }
  }
}

// Prefills `tokens[s]` for every s in [first, last) in one batch, appending the sampled
// tokens.
void Prefill(CudaWorker& worker, const std::vector<std::vector<int32_t>>& tables,
             std::vector<std::vector<int32_t>>* tokens, int first, int last,
             const SamplingParams& params) {
  std::vector<SequenceWork> prefill;
  for (int s = first; s < last; ++s) {
    SequenceWork& work = prefill.emplace_back();
    work.slice = {.tokens = (*tokens)[s], .start_position = 0, .block_table = tables[s]};
    work.sample = true;
    work.params = &params;
  }
  auto out = worker.Execute(prefill);
  ASSERT_TRUE(out.ok()) << out.status();
  for (int s = first; s < last; ++s) (*tokens)[s].push_back((*out)[s - first].token);
}

// One decode more than a bucket pads to the next step of the bucket list (24 for 17), and
// the padded replay gives the eager pass's tokens.
TEST(CudaGraphBucketTest, SeventeenDecodesReplayTheGraphOfTwentyFour) {
  const std::string dir = WriteConfig();
  std::unique_ptr<CudaWorker> worker = MakeGraphWorker(dir, 32);
  ASSERT_NE(worker, nullptr);
  const SamplingParams params = GreedyWithTop5();
  constexpr int kSequences = 17;
  std::vector<std::vector<int32_t>> tables(kSequences), tokens(kSequences);
  for (int s = 0; s < kSequences; ++s) {
    for (int b = 0; b < 2; ++b) tables[s].push_back(s * 2 + b);
    for (int i = 0; i < kDecodePrompt; ++i) tokens[s].push_back(3 + (s * 131 + i * 17) % 5000);
  }
  for (int first = 0; first < kSequences; first += 8) {  // batches within max_batch_tokens
    Prefill(*worker, tables, &tokens, first, std::min(kSequences, first + 8), params);
  }
  const std::vector<SequenceWork> all = DecodeBatch(tables, tokens, params);
  EXPECT_EQ(worker->GraphBucket(all), 24);
  EXPECT_EQ(worker->GraphBucket(std::span(all).first(9)), 16);
  // Direct and captured, then replayed twice.
  DecodeGraphsAgainstEager(*worker, tables, &tokens, params, 3);
  EXPECT_EQ(worker->graph_replays(), 2);
  EXPECT_EQ(worker->graphs_captured(), 1u);
  std::remove((dir + "/config.json").c_str());
  std::remove(dir.c_str());
}

// A long context among short ones: the graph's decode items follow the tokens
// (ShareDecodeItems), and the replay gives the eager plan's tokens.
TEST(CudaGraphBucketTest, OneLongDecodeAmongShortOnesReplaysWithSharedSplits) {
  const std::string dir = WriteConfig();
  std::unique_ptr<CudaWorker> worker = MakeGraphWorker(dir, 16);
  ASSERT_NE(worker, nullptr);
  const SamplingParams params = GreedyWithTop5();
  constexpr int kShort = 8, kLong = 1500;
  std::vector<std::vector<int32_t>> tables(kShort + 1), tokens(kShort + 1);
  int32_t next_block = 0;
  for (int s = 0; s <= kShort; ++s) {
    const int length = s < kShort ? kDecodePrompt : kLong;
    for (int b = 0; b < (length + 16) / 16 + 1; ++b) tables[s].push_back(next_block++);
    for (int i = 0; i < length; ++i) tokens[s].push_back(3 + (s * 131 + i * 17) % 5000);
  }
  Prefill(*worker, tables, &tokens, 0, kShort, params);
  // The long prompt in chunks of the batch limit.
  for (int begin = 0; begin < kLong; begin += 256) {
    const int n = std::min(256, kLong - begin);
    SequenceWork chunk;
    chunk.slice = {.tokens = std::span<const int32_t>(tokens[kShort]).subspan(begin, n),
                   .start_position = begin,
                   .block_table = tables[kShort],
                   .logits = begin + n == kLong ? LogitsMode::kLast : LogitsMode::kNone};
    chunk.sample = begin + n == kLong;
    chunk.params = &params;
    auto out = worker->Execute(std::span(&chunk, 1));
    ASSERT_TRUE(out.ok()) << out.status();
    if (chunk.sample) tokens[kShort].push_back((*out)[0].token);
  }
  const int64_t replays = worker->graph_replays();
  DecodeGraphsAgainstEager(*worker, tables, &tokens, params, 3);
  EXPECT_EQ(worker->graph_replays(), replays + 2) << "captured on the first step, then replayed";
  std::remove((dir + "/config.json").c_str());
  std::remove(dir.c_str());
}

}  // namespace
}  // namespace strata::worker
