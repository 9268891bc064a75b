// The expert-weight traffic count (CpuModel::expert_weight_bytes_read, Worker::
// ExpertWeightBytesRead) on the qwen3_moe fixture: 3 layers, layers 0 and 2 sparse with 8
// experts of moe_intermediate_size 48 (hidden 64), top 2.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "worker/cpu_model.h"
#include "worker/cpu_worker.h"

namespace strata::worker {
namespace {

std::string FixtureDir(const std::string& name) {
  const char* root = std::getenv("STRATA_SOURCE_DIR");
  return std::string(root ? root : ".") + "/tests/fixtures/reference/" + name;
}

constexpr int64_t kExpertBytes = 3 * 64 * 48 * sizeof(float);
constexpr int64_t kSparseLayers = 2;

std::vector<int32_t> LongestPrompt() {
  std::ifstream in(FixtureDir("qwen3_moe") + "/reference.json");
  const auto prompts =
      nlohmann::json::parse(in)["prompts"].get<std::vector<std::vector<int32_t>>>();
  std::vector<int32_t> longest;
  for (const auto& p : prompts) {
    if (p.size() > longest.size()) longest = p;
  }
  return longest;
}

std::unique_ptr<CpuModel> Load() {
  auto model = CpuModel::Load(FixtureDir("qwen3_moe"), {.num_blocks = 64, .block_size = 16}, 64);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(*model) : nullptr;
}

// Runs `prompt` in chunks of `chunk` tokens; returns the expert bytes read.
int64_t Prefill(CpuModel& model, const std::vector<int32_t>& prompt, size_t chunk) {
  const std::vector<int32_t> table = {0, 1, 2, 3, 4, 5, 6, 7};
  const int64_t before = model.expert_weight_bytes_read();
  std::vector<float> logits;
  for (size_t begin = 0; begin < prompt.size(); begin += chunk) {
    const size_t n = std::min(chunk, prompt.size() - begin);
    const SequenceSlice slice{.tokens = std::span(prompt).subspan(begin, n),
                              .start_position = static_cast<int64_t>(begin),
                              .block_table = table};
    EXPECT_TRUE(model.Forward(std::span(&slice, 1), &logits).ok());
  }
  return model.expert_weight_bytes_read() - before;
}

TEST(MoeTrafficTest, OneTokenReadsTopKExpertsPerSparseLayer) {
  auto model = Load();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->expert_weight_bytes_read(), 0);
  EXPECT_EQ(Prefill(*model, {42}, 1), kSparseLayers * 2 * kExpertBytes);
}

TEST(MoeTrafficTest, ChunkedPrefillRereadsActivatedExpertsPerChunk) {
  const std::vector<int32_t> prompt = LongestPrompt();
  ASSERT_EQ(prompt.size(), 64u);
  auto whole_model = Load(), chunked_model = Load(), stepped_model = Load();
  const int64_t whole = Prefill(*whole_model, prompt, 64);
  const int64_t chunked = Prefill(*chunked_model, prompt, 16);
  const int64_t stepped = Prefill(*stepped_model, prompt, 1);
  // One pass reads each activated expert once per sparse layer: at most all 8.
  EXPECT_EQ(whole % kExpertBytes, 0);
  EXPECT_GE(whole, kSparseLayers * 2 * kExpertBytes);
  EXPECT_LE(whole, kSparseLayers * 8 * kExpertBytes);
  // Four chunks re-read what each chunk activates; token by token, exactly top 2 per token.
  EXPECT_GE(chunked, whole);
  EXPECT_LE(chunked, 4 * whole);
  EXPECT_EQ(stepped, 64 * kSparseLayers * 2 * kExpertBytes);
  std::printf(
      "[ qwen3_moe ] 64-token prompt: expert bytes read in one pass %lld (%lld experts), in 4 "
      "chunks %lld (%lld), token by token %lld (%lld)\n",
      static_cast<long long>(whole), static_cast<long long>(whole / kExpertBytes),
      static_cast<long long>(chunked), static_cast<long long>(chunked / kExpertBytes),
      static_cast<long long>(stepped), static_cast<long long>(stepped / kExpertBytes));
}

// Decode steps of `batch` sequences (each after a 16-token prompt): expert bytes per
// generated token fall as the batch shares experts.
TEST(MoeTrafficTest, DecodeBytesPerTokenFallWithBatch) {
  const std::vector<int32_t> prompt = LongestPrompt();
  double previous = 1e30;
  for (int batch : {1, 4, 16}) {
    auto model = Load();
    ASSERT_NE(model, nullptr);
    std::vector<std::vector<int32_t>> tables(batch);
    std::vector<SequenceSlice> slices(batch);
    for (int i = 0; i < batch; ++i) {
      tables[i] = {2 * i, 2 * i + 1};
      slices[i] = {.tokens = std::span(prompt).subspan(i, 16), .block_table = tables[i]};
    }
    std::vector<float> logits;
    ASSERT_TRUE(model->Forward(slices, &logits).ok());
    const int64_t before = model->expert_weight_bytes_read();
    constexpr int kSteps = 8;
    for (int step = 0; step < kSteps; ++step) {
      for (int i = 0; i < batch; ++i) {
        slices[i].tokens = std::span(prompt).subspan(16 + i + step, 1);
        slices[i].start_position = 16 + step;
      }
      ASSERT_TRUE(model->Forward(slices, &logits).ok());
    }
    const double per_token =
        double(model->expert_weight_bytes_read() - before) / (kSteps * batch);
    std::printf("[ qwen3_moe ] decode batch %2d: %.0f expert bytes per generated token (%.2f "
                "experts per sparse layer)\n",
                batch, per_token, per_token / kExpertBytes / kSparseLayers);
    if (batch == 1) EXPECT_EQ(per_token, kSparseLayers * 2 * kExpertBytes);
    EXPECT_LE(per_token, previous);
    previous = per_token;
  }
}

TEST(MoeTrafficTest, WorkerReportsTheCount) {
  auto moe = CpuWorker::Create(FixtureDir("qwen3_moe"), {.block_size = 16, .num_blocks = 16});
  ASSERT_TRUE(moe.ok()) << moe.status();
  const std::vector<int32_t> tokens = {5, 6, 7}, table = {0};
  SequenceWork work;
  work.slice = {.tokens = tokens, .start_position = 0, .block_table = table};
  ASSERT_TRUE((*moe)->Execute(std::span(&work, 1)).ok());
  const int64_t read = (*moe)->ExpertWeightBytesRead();
  EXPECT_GE(read, kSparseLayers * 2 * kExpertBytes);
  EXPECT_LE(read, kSparseLayers * 6 * kExpertBytes);  // 3 tokens x top 2

  auto dense = CpuWorker::Create(FixtureDir("qwen3"), {.block_size = 16, .num_blocks = 16});
  ASSERT_TRUE(dense.ok()) << dense.status();
  ASSERT_TRUE((*dense)->Execute(std::span(&work, 1)).ok());
  EXPECT_EQ((*dense)->ExpertWeightBytesRead(), 0);
}

}  // namespace
}  // namespace strata::worker
