// Paged attention (plan + prefill/decode/generic kernels) against cpu::PagedAttention.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cuda/attention.h"
#include "tests/kernels/cuda/test_util.h"

namespace strata::kernels::cuda {
namespace {

using testing::AsBf16;
using testing::Bf16Bits;
using testing::DeviceBuffer;

struct SeqSpec {
  int64_t query_len, context_len;
};

struct Case {
  int32_t heads, kv_heads, head_dim, block_size;
  bool causal;
  std::vector<SeqSpec> seqs;
  int32_t max_partials = 0;
  int layers = 1;  // >1: the same plan runs over several caches
  // 1: some prefill tile must split its keys, 0: none may, -1: either.
  int expect_split = -1;
};

std::string Describe(const Case& c) {
  int64_t decode = 0, rows = 0, max_ctx = 0;
  for (const SeqSpec& s : c.seqs) {
    decode += s.query_len == 1;
    rows += s.query_len;
    max_ctx = std::max(max_ctx, s.context_len);
  }
  return absl::StrCat("h=", c.heads, "/", c.kv_heads, " d=", c.head_dim, " bs=", c.block_size,
                      c.causal ? "" : " noncausal", " seqs=", c.seqs.size(), " decode=", decode,
                      " rows=", rows, " ctx<=", max_ctx);
}

void RunCase(const Case& c, std::mt19937_64& rng) {
  const int64_t num_seqs = c.seqs.size();
  // Random, shuffled block tables over a cache with a few blocks to spare.
  std::vector<std::vector<int32_t>> tables(num_seqs);
  int64_t total_pages = 0, rows = 0;
  for (const SeqSpec& s : c.seqs) {
    total_pages += (s.context_len + c.block_size - 1) / c.block_size;
    rows += s.query_len;
  }
  const int64_t num_blocks = total_pages + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<cpu::AttentionSequence> sequences;
  int64_t next_page = 0, q_begin = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t pages = (c.seqs[s].context_len + c.block_size - 1) / c.block_size;
    tables[s].assign(ids.begin() + next_page, ids.begin() + next_page + pages);
    next_page += pages;
    sequences.push_back({q_begin, c.seqs[s].query_len, c.seqs[s].context_len, tables[s]});
    q_begin += c.seqs[s].query_len;
  }
  const int64_t width = int64_t{c.heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.kv_heads} * c.head_dim;
  const int64_t q_stride = width + 2 * kv_width;  // q inside a fused QKV row
  const int64_t cache_elems = num_blocks * c.block_size * kv_width;

  std::vector<float> q_all;
  DeviceBuffer<Bf16Bits> q(testing::RandomBf16(rows * q_stride, rng, 1.5f, &q_all));
  std::vector<float> q_ref(rows * width);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(q_all.begin() + r * q_stride, width, q_ref.begin() + r * width);
  }

  AttentionConfig config{c.heads, c.kv_heads, c.head_dim, c.block_size, c.causal};
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  STRATA_CUDA_CHECK(
      cudaDeviceGetAttribute(&config.sm_count, cudaDevAttrMultiProcessorCount, device));
  AttentionLimits limits{static_cast<int32_t>(num_seqs) + 2, rows + 5, total_pages + 7,
                         c.max_partials};
  AttentionPlan plan;
  ASSERT_TRUE(plan.Build(config, limits, sequences).ok());
  if (c.expect_split >= 0) {
    EXPECT_EQ(plan.num_split_prefill_tiles() > 0, c.expect_split == 1) << Describe(c);
  }
  EXPECT_LE(plan.num_partials(), MaxPartials(config, limits));
  DeviceBuffer<char> workspace(AttentionWorkspaceBytes(config, limits));
  workspace.Poison();
  plan.Upload(workspace.get(), nullptr);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

  for (int layer = 0; layer < c.layers; ++layer) {
    std::vector<float> k_ref, v_ref;
    DeviceBuffer<Bf16Bits> k(testing::RandomBf16(cache_elems, rng, 1.0f, &k_ref));
    DeviceBuffer<Bf16Bits> v(testing::RandomBf16(cache_elems, rng, 1.0f, &v_ref));
    std::vector<float> ref(rows * width), magnitude(rows * width);
    cpu::PagedKvLayer cpu_cache{k_ref.data(), v_ref.data(), c.block_size, c.kv_heads, c.head_dim};
    cpu::PagedAttention(q_ref.data(), cpu_cache, sequences, c.heads, scale, c.causal, ref.data());
    std::vector<float> v_abs = testing::Abs(v_ref);
    cpu_cache.v = v_abs.data();
    cpu::PagedAttention(q_ref.data(), cpu_cache, sequences, c.heads, scale, c.causal,
                        magnitude.data());

    PagedKvCache cache{AsBf16(k), AsBf16(v), num_blocks, c.block_size, c.kv_heads, c.head_dim};
    DeviceBuffer<Bf16Bits> out(rows * width);
    out.Poison();
    PagedAttention(plan, workspace.get(), AsBf16(q), q_stride, cache, scale, AsBf16(out), nullptr);
    std::string shape = Describe(c);
    if (plan.num_decode_items() > 0) {
      absl::StrAppend(&shape, " chunk=", plan.decode_chunk_tokens(),
                      " parts=", plan.num_partials());
    }
    if (plan.num_split_prefill_tiles() > 0) {
      absl::StrAppend(&shape, " split tiles=", plan.num_split_prefill_tiles(),
                      " prefill parts=", plan.prefill_partials());
    }
    if (c.layers > 1) absl::StrAppend(&shape, " layer=", layer);
    const bool prefill = std::any_of(c.seqs.begin(), c.seqs.end(),
                                     [](const SeqSpec& seq) { return seq.query_len > 1; });
    const bool generic = c.head_dim != 64 && c.head_dim != 128;
    const char* op = generic ? "attn_generic" : (prefill ? "attn_prefill" : "attn_decode");
    testing::ExpectAttentionClose(op, shape, testing::ToFloat(out.Download()), ref, magnitude);
  }
}

std::vector<SeqSpec> Decodes(std::initializer_list<int64_t> contexts) {
  std::vector<SeqSpec> seqs;
  for (int64_t ctx : contexts) seqs.push_back({1, ctx});
  return seqs;
}

TEST(CudaAttentionTest, DecodeSplitKAcrossShapes) {
  auto rng = testing::MakeRng();
  const std::vector<SeqSpec> contexts = Decodes({1, 17, 1000, 4096});
  for (int32_t block_size : {16, 32}) {
    for (auto [heads, kv_heads] : {std::pair{8, 8}, {32, 8}, {64, 8}, {32, 2}, {12, 4}}) {
      for (int32_t head_dim : {64, 128}) {
        RunCase({heads, kv_heads, head_dim, block_size, true, contexts}, rng);
      }
    }
  }
  // head_dim 256 (fast decode), 96 and 24 (generic path).
  RunCase({16, 8, 256, 16, true, contexts}, rng);
  RunCase({16, 4, 96, 16, true, contexts}, rng);
  RunCase({8, 2, 24, 32, true, Decodes({1, 17, 300})}, rng);
}

TEST(CudaAttentionTest, DecodeManySequencesAndFewPartials) {
  auto rng = testing::MakeRng();
  const int count = testing::Quick() ? 12 : 96;
  std::vector<SeqSpec> seqs;
  for (int i = 0; i < count; ++i) seqs.push_back({1, 1 + static_cast<int64_t>(rng() % 3000)});
  RunCase({32, 8, 128, 16, true, seqs, 0, /*layers=*/2}, rng);
  // A partial budget this small forces larger chunks (and direct writes).
  RunCase({32, 8, 128, 16, true, seqs, /*max_partials=*/16}, rng);
  RunCase({16, 16, 64, 32, true, seqs}, rng);
}

TEST(CudaAttentionTest, PrefillMixedBatches) {
  auto rng = testing::MakeRng();
  const std::vector<SeqSpec> mixed = {{17, 17},    {100, 300}, {1, 50},   {64, 64},
                                      {130, 1000}, {5, 4096},  {1, 4096}, {2, 2}};
  for (bool causal : {true, false}) {
    for (int32_t block_size : {16, 32}) {
      RunCase({32, 8, 128, block_size, causal, mixed}, rng);
      RunCase({8, 8, 64, block_size, causal, mixed}, rng);
    }
    RunCase({64, 8, 128, 16, causal, mixed}, rng);
    RunCase({12, 4, 64, 16, causal, mixed}, rng);   // group 3: tiles straddle tokens
    RunCase({16, 8, 256, 16, causal, mixed}, rng);  // generic prefill + fast decode
    RunCase({16, 4, 96, 32, causal, mixed}, rng);   // generic everything
  }
  // One long prompt, and a single-token prompt.
  RunCase({32, 8, 128, 16, true, {{testing::Quick() ? 300 : 2048, testing::Quick() ? 300 : 2048}}},
          rng);
  RunCase({32, 8, 128, 16, true, {{1, 1}}}, rng);
}

// Few tiles over long contexts (a later chunk of a long prompt, a layered cohort's layer):
// each tile's keys are shared out among blocks whose partial outputs a reduce merges.
TEST(CudaAttentionTest, PrefillSplitsKeysWhenTilesAreFew) {
  auto rng = testing::MakeRng();
  for (bool causal : {true, false}) {
    // 64 rows after 4032 cached tokens: 2 tiles x 8 kv heads.
    RunCase({32, 8, 128, 16, causal, {{64, 4096}}, 0, 1, /*expect_split=*/1}, rng);
    // Rows that end mid-tile, several sequences, and decodes sharing the partials.
    RunCase({32, 8, 128, 16, causal, {{37, 3000}, {1, 2500}, {130, 1200}, {1, 4096}}, 0, 1, 1},
            rng);
    RunCase({8, 8, 64, 32, causal, {{50, 2049}, {3, 700}}, 0, 1, 1}, rng);  // group 1
    RunCase({64, 8, 128, 16, causal, {{20, 1500}}, 0, 1, 1}, rng);          // group 8
  }
  // 907 rows after 1893 cached tokens: 29 tiles of 31-44 key steps, short of three waves of
  // blocks but even enough that the longest tile does not set the batch's time: no split.
  RunCase({32, 8, 128, 16, true, {{907, 2800}}, 0, 1, /*expect_split=*/0}, rng);
  // Group 3: tiles straddle query rows, so they never split.
  RunCase({12, 4, 64, 16, true, {{100, 3000}}, 0, 1, /*expect_split=*/0}, rng);
  // Partials for one split of every tile do not fit: no split, same result.
  RunCase({32, 8, 128, 16, true, {{64, 4096}}, /*max_partials=*/16, 1, /*expect_split=*/0}, rng);
  // A budget for some splits: a longer chunk, fewer splits per tile.
  RunCase({32, 8, 128, 16, true, {{64, 4096}}, /*max_partials=*/200, 2, /*expect_split=*/1}, rng);
}

TEST(CudaAttentionTest, PlanRejectsBatchesOverItsLimits) {
  std::vector<int32_t> table = {0, 1};
  std::vector<cpu::AttentionSequence> seqs = {{0, 4, 20, table}};
  AttentionConfig config{8, 2, 64, 16, true};
  AttentionPlan plan;
  EXPECT_TRUE(plan.Build(config, {1, 4, 2}, seqs).ok());
  EXPECT_FALSE(plan.Build(config, {1, 3, 2}, seqs).ok());  // query rows
  EXPECT_FALSE(plan.Build(config, {1, 4, 1}, seqs).ok());  // pages
  EXPECT_FALSE(plan.Build(config, {0, 4, 2}, seqs).ok());  // sequences
  seqs[0].context_len = 40;                                // table too short
  EXPECT_FALSE(plan.Build(config, {1, 4, 8}, seqs).ok());
  config.head_dim = 100;
  seqs[0].context_len = 20;
  EXPECT_FALSE(plan.Build(config, {1, 4, 2}, seqs).ok());
}

}  // namespace
}  // namespace strata::kernels::cuda
