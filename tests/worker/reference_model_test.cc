// The CPU model against Hugging Face transformers: logits at every position and greedy
// continuations, for models and references written by tools/reference/
// make_logits_fixtures.py (committed under tests/fixtures/reference/). Also the invariances:
// batching and block size never change the tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/worker/greedy_generate.h"
#include "worker/cpu_model.h"
#include "worker/cpu_worker.h"
#include "worker/safetensors.h"

namespace strata::worker {
namespace {

std::string FixtureDir(const std::string& name) {
  const char* root = std::getenv("STRATA_SOURCE_DIR");
  return std::string(root ? root : ".") + "/tests/fixtures/reference/" + name;
}

struct Reference {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<int32_t>> greedy;
  std::vector<std::vector<double>> margins;
};

Reference LoadReference(const std::string& dir) {
  std::ifstream in(dir + "/reference.json");
  EXPECT_TRUE(in.good()) << "missing " << dir << "/reference.json";
  nlohmann::json j = nlohmann::json::parse(in);
  return {j["prompts"].get<std::vector<std::vector<int32_t>>>(),
          j["greedy"].get<std::vector<std::vector<int32_t>>>(),
          j["top2_margin"].get<std::vector<std::vector<double>>>()};
}

class ReferenceModelTest : public testing::TestWithParam<std::string> {};

TEST_P(ReferenceModelTest, LogitsMatchTransformersAtEveryPosition) {
  const std::string dir = FixtureDir(GetParam());
  const Reference ref = LoadReference(dir);
  auto model = CpuModel::Load(dir, {.num_blocks = 64, .block_size = 16}, 64);
  ASSERT_TRUE(model.ok()) << model.status();
  auto expected_file = SafetensorsFile::Open(dir + "/reference.safetensors");
  ASSERT_TRUE(expected_file.ok()) << expected_file.status();
  const int64_t vocab = (*model)->config().vocab_size;

  // All prompts in one batch, each with its own blocks.
  std::vector<std::vector<int32_t>> tables;
  int32_t next_block = 0;
  for (const auto& p : ref.prompts) {
    std::vector<int32_t> table;
    for (size_t b = 0; b < (p.size() + 15) / 16; ++b) table.push_back(next_block++);
    tables.push_back(table);
  }
  std::vector<SequenceSlice> batch;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    batch.push_back({ref.prompts[i], 0, tables[i], LogitsMode::kAll});
  }
  std::vector<float> logits;
  ASSERT_TRUE((*model)->Forward(batch, &logits).ok());

  int64_t row = 0;
  double worst = 0;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    auto view = (*expected_file)->Tensor("logits_" + std::to_string(i));
    ASSERT_TRUE(view.ok()) << view.status();
    const float* expected = reinterpret_cast<const float*>(view->data);
    for (size_t pos = 0; pos < ref.prompts[i].size(); ++pos, ++row) {
      double max_ref = 0, max_diff = 0;
      for (int64_t v = 0; v < vocab; ++v) {
        const double e = expected[pos * vocab + v], got = logits[row * vocab + v];
        max_ref = std::max(max_ref, std::abs(e));
        max_diff = std::max(max_diff, std::abs(got - e));
      }
      const double relative = max_diff / max_ref;
      worst = std::max(worst, relative);
      ASSERT_LE(relative, 1e-3) << "prompt " << i << " position " << pos;
    }
  }
  std::printf("[ %s ] worst relative logits error vs transformers: %.3g\n", GetParam().c_str(),
              worst);
}

// Greedy generation on a fresh CPU worker with the given block size.
std::vector<std::vector<int32_t>> Generate(const std::string& dir, int32_t block_size,
                                           const std::vector<std::vector<int32_t>>& prompts,
                                           bool batched, int32_t max_tokens) {
  auto worker = CpuWorker::Create(dir, {.block_size = block_size, .num_blocks = 4096 / block_size});
  EXPECT_TRUE(worker.ok()) << worker.status();
  if (!worker.ok()) return {};
  return GreedyGenerate(worker->get(), prompts, batched, max_tokens, 16, 256);
}

TEST_P(ReferenceModelTest, GreedyContinuationMatchesTransformers) {
  const std::string dir = FixtureDir(GetParam());
  const Reference ref = LoadReference(dir);
  auto outputs = Generate(dir, 16, ref.prompts, /*batched=*/true, 32);
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    ASSERT_EQ(outputs[i].size(), 32u);
    for (size_t t = 0; t < 32; ++t) {
      ASSERT_EQ(outputs[i][t], ref.greedy[i][t]) << "prompt " << i << " token " << t;
      // Past a near-tie the two implementations may legitimately diverge.
      if (ref.margins[i][t] < 1e-4) break;
    }
  }
}

TEST_P(ReferenceModelTest, BatchingAndBlockSizeNeverChangeTokens) {
  const std::string dir = FixtureDir(GetParam());
  const Reference ref = LoadReference(dir);
  const auto batched = Generate(dir, 16, ref.prompts, true, 24);
  EXPECT_EQ(Generate(dir, 16, ref.prompts, false, 24), batched) << "one at a time";
  EXPECT_EQ(Generate(dir, 8, ref.prompts, true, 24), batched) << "block size 8";
  EXPECT_EQ(Generate(dir, 32, ref.prompts, true, 24), batched) << "block size 32";
}

INSTANTIATE_TEST_SUITE_P(Architectures, ReferenceModelTest,
                         testing::Values("llama", "qwen2", "qwen3", "qwen3_moe"));

}  // namespace
}  // namespace strata::worker
