// Attention mass per KV block (heavy-hitter scores) on the GPU against
// cpu::PagedAttention's block_mass with mass_rows = 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cuda/attention.h"
#include "tests/kernels/cuda/test_util.h"

namespace strata::kernels::cuda {
namespace {

using testing::AsBf16;
using testing::Bf16Bits;
using testing::DeviceBuffer;

struct MassCase {
  int32_t heads, kv_heads, head_dim, block_size;
  std::vector<std::pair<int64_t, int64_t>> seqs;  // {query_len, context_len}
};

// Every sequence but the second asks for mass (the second checks that others pay nothing
// and see no writes); masses start at 0.25 to check that they accumulate.
void RunMassCase(const MassCase& c, std::mt19937_64& rng) {
  SCOPED_TRACE(absl::StrCat("h=", c.heads, "/", c.kv_heads, " d=", c.head_dim,
                            " bs=", c.block_size, " seqs=", c.seqs.size()));
  const int64_t num_seqs = c.seqs.size();
  int64_t total_pages = 0, rows = 0;
  for (auto [q_len, ctx] : c.seqs) {
    total_pages += (ctx + c.block_size - 1) / c.block_size;
    rows += q_len;
  }
  const int64_t num_blocks = total_pages + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<std::vector<int32_t>> tables(num_seqs);
  std::vector<std::vector<float>> cpu_mass(num_seqs);
  std::vector<cpu::AttentionSequence> sequences;
  std::vector<int2> items;
  std::vector<int64_t> mass_offset(num_seqs, -1);
  int64_t next_page = 0, q_begin = 0, mass_size = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const auto [q_len, ctx] = c.seqs[s];
    const int64_t pages = (ctx + c.block_size - 1) / c.block_size;
    tables[s].assign(ids.begin() + next_page, ids.begin() + next_page + pages);
    next_page += pages;
    const bool counted = s != 1;
    if (counted) {
      cpu_mass[s].assign(pages, 0.25f);
      mass_offset[s] = mass_size;
      items.push_back({static_cast<int>(s), static_cast<int>(mass_size)});
      mass_size += pages;
    }
    sequences.push_back({q_begin, q_len, ctx, tables[s], cpu_mass[s], counted ? 1 : 0});
    q_begin += q_len;
  }
  const int64_t width = int64_t{c.heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.kv_heads} * c.head_dim;
  const int64_t q_stride = width + 2 * kv_width;
  const int64_t cache_elems = num_blocks * c.block_size * kv_width;
  std::vector<float> q_all, k_ref, v_ref;
  DeviceBuffer<Bf16Bits> q(testing::RandomBf16(rows * q_stride, rng, 1.5f, &q_all));
  DeviceBuffer<Bf16Bits> k(testing::RandomBf16(cache_elems, rng, 1.0f, &k_ref));
  DeviceBuffer<Bf16Bits> v(testing::RandomBf16(cache_elems, rng, 1.0f, &v_ref));
  std::vector<float> q_ref(rows * width);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(q_all.begin() + r * q_stride, width, q_ref.begin() + r * width);
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  std::vector<float> ref_out(rows * width);
  cpu::PagedKvLayer cpu_cache{k_ref.data(), v_ref.data(), c.block_size, c.kv_heads, c.head_dim};
  cpu::PagedAttention(q_ref.data(), cpu_cache, sequences, c.heads, scale, /*causal=*/true,
                      ref_out.data());

  AttentionConfig config{c.heads, c.kv_heads, c.head_dim, c.block_size, true};
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  STRATA_CUDA_CHECK(
      cudaDeviceGetAttribute(&config.sm_count, cudaDevAttrMultiProcessorCount, device));
  AttentionLimits limits{static_cast<int32_t>(num_seqs), rows, total_pages, 0};
  AttentionPlan plan;
  ASSERT_TRUE(plan.Build(config, limits, sequences).ok());
  DeviceBuffer<char> workspace(AttentionWorkspaceBytes(config, limits));
  plan.Upload(workspace.get(), nullptr);
  PagedKvCache cache{AsBf16(k), AsBf16(v), num_blocks, c.block_size, c.kv_heads, c.head_dim};
  DeviceBuffer<Bf16Bits> out(rows * width);
  PagedAttention(plan, workspace.get(), AsBf16(q), q_stride, cache, scale, AsBf16(out), nullptr);

  DeviceBuffer<int2> device_items(items);
  DeviceBuffer<char> scratch(AttentionMassScratchBytes(config, static_cast<int32_t>(items.size())));
  scratch.Poison();
  DeviceBuffer<float> mass(std::vector<float>(mass_size, 0.25f));
  AccumulateAttentionMass(plan, workspace.get(), AsBf16(q), q_stride, cache, scale,
                          device_items.get(), static_cast<int32_t>(items.size()),
                          reinterpret_cast<float*>(scratch.get()), mass.get(), nullptr);
  STRATA_CUDA_CHECK(cudaGetLastError());
  const std::vector<float> got = mass.Download();
  for (int64_t s = 0; s < num_seqs; ++s) {
    if (mass_offset[s] < 0) continue;
    double total = 0;
    for (size_t b = 0; b < cpu_mass[s].size(); ++b) {
      const float g = got[mass_offset[s] + b];
      ASSERT_TRUE(std::isfinite(g)) << "sequence " << s << " block " << b;
      EXPECT_NEAR(g, cpu_mass[s][b], 2e-4 * c.heads + 1e-3 * cpu_mass[s][b])
          << "sequence " << s << " block " << b;
      total += g - 0.25;
    }
    EXPECT_NEAR(total, c.heads, 1e-3 * c.heads) << "sequence " << s;
  }
}

TEST(CudaAttentionMassTest, MatchesTheCpuReference) {
  auto rng = testing::MakeRng();
  // Decodes of many lengths, prefill chunks (only their last row counts), one token.
  const std::vector<std::pair<int64_t, int64_t>> mixed = {
      {1, 1000}, {1, 17}, {1, 4096}, {37, 37}, {13, 300}, {1, 1}, {64, 2000}};
  for (int32_t block_size : {16, 32}) {
    RunMassCase({32, 8, 128, block_size, mixed}, rng);
    RunMassCase({8, 8, 64, block_size, mixed}, rng);
  }
  RunMassCase({16, 8, 256, 16, mixed}, rng);
  RunMassCase({16, 4, 96, 16, mixed}, rng);  // a head size only the generic path serves
  RunMassCase({8, 2, 24, 32, {{1, 300}, {1, 5}, {9, 40}}}, rng);
  if (!testing::Quick()) RunMassCase({32, 8, 128, 16, {{1, 32768}, {1, 8}}}, rng);
}

TEST(CudaAttentionMassTest, NoItemsLaunchesNothing) {
  AttentionPlan plan;
  AccumulateAttentionMass(plan, nullptr, nullptr, 0, {}, 1.0f, nullptr, 0, nullptr, nullptr,
                          nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace
}  // namespace strata::kernels::cuda
