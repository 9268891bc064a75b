// Attention mass per KV block (heavy-hitter scores) on the GPU against
// cpu::PagedAttention's block_mass with mass_rows = 1, and the score statistics of the
// same pass against its score_stats.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/kv_quant.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/kv_quant.h"
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

struct StatsCase {
  int32_t heads, kv_heads, head_dim, block_size;
  std::vector<std::pair<int64_t, int64_t>> seqs;  // {query_len, context_len}
  bool int8 = false;  // about half the full pages quantized to int8 on the GPU
};

// Score statistics of the last row (entropy, variance, excess kurtosis averaged over
// heads) against cpu::PagedAttention's score_stats (double precision) on the same values.
// Every sequence but the second is listed; the even ones also collect mass, the odd ones
// only their statistics (offset -1). The statistics land at layer 2 of a 5-layer
// [items, layers, 3] buffer; the other layers must stay untouched.
void RunStatsCase(const StatsCase& c, std::mt19937_64& rng) {
  SCOPED_TRACE(absl::StrCat("h=", c.heads, "/", c.kv_heads, " d=", c.head_dim,
                            " bs=", c.block_size, " seqs=", c.seqs.size(),
                            c.int8 ? " int8 pages" : ""));
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
  std::vector<std::vector<uint8_t>> precision(num_seqs);
  std::vector<int32_t> quantize;
  std::vector<std::vector<float>> cpu_mass(num_seqs), cpu_stats(num_seqs);
  std::vector<int2> items;
  std::vector<int64_t> item_of(num_seqs, -1);
  int64_t next_page = 0, mass_size = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const auto [q_len, ctx] = c.seqs[s];
    const int64_t pages = (ctx + c.block_size - 1) / c.block_size;
    tables[s].assign(ids.begin() + next_page, ids.begin() + next_page + pages);
    next_page += pages;
    precision[s].assign(pages, cpu::kKvFloat);
    for (int64_t p = 0; c.int8 && p < pages; ++p) {
      if ((p + 1) * c.block_size <= ctx && (p == 0 || rng() % 2 == 0)) {
        precision[s][p] = cpu::kKvInt8;
        quantize.push_back(tables[s][p]);
      }
    }
    if (s == 1) continue;
    item_of[s] = static_cast<int64_t>(items.size());
    cpu_stats[s].assign(3, 0.0f);
    if (s % 2 == 0) {
      cpu_mass[s].assign(pages, 0.0f);
      items.push_back({static_cast<int>(s), static_cast<int>(mass_size)});
      mass_size += pages;
    } else {
      items.push_back({static_cast<int>(s), -1});
    }
  }
  const int64_t width = int64_t{c.heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.kv_heads} * c.head_dim;
  const int64_t q_stride = width + 2 * kv_width;
  const int64_t n = int64_t{c.block_size} * kv_width;
  std::vector<float> q_all, k_ref, v_ref;
  DeviceBuffer<Bf16Bits> q(testing::RandomBf16(rows * q_stride, rng, 1.5f, &q_all));
  DeviceBuffer<Bf16Bits> k(testing::RandomBf16(num_blocks * n, rng, 1.0f, &k_ref));
  DeviceBuffer<Bf16Bits> v(testing::RandomBf16(num_blocks * n, rng, 1.0f, &v_ref));
  std::vector<float> q_ref(rows * width);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(q_all.begin() + r * q_stride, width, q_ref.begin() + r * width);
  }
  PagedKvCache cache{AsBf16(k), AsBf16(v), num_blocks, c.block_size, c.kv_heads, c.head_dim};
  if (!quantize.empty()) {
    // The reference reads the quantized pages' dequantized values (int8 times the kv head's
    // scale, in float32, as the mass kernels read them).
    DeviceBuffer<int32_t> quantize_ids(quantize);
    QuantizeKvBlocks(cache, quantize_ids.get(), static_cast<int32_t>(quantize.size()), nullptr);
    const std::vector<Bf16Bits> k_bits = k.Download(), v_bits = v.Download();
    const int64_t plane = KvPlaneValues(c.block_size, c.kv_heads, c.head_dim);
    const int64_t scale_offset = KvInt8ScaleOffset(c.block_size, c.kv_heads, c.head_dim);
    for (int32_t b : quantize) {
      for (int kv = 0; kv < 2; ++kv) {
        const char* bytes =
            reinterpret_cast<const char*>((kv == 0 ? k_bits : v_bits).data() + b * plane);
        std::vector<float> scales(c.kv_heads);
        std::memcpy(scales.data(), bytes + scale_offset, c.kv_heads * sizeof(float));
        float* dst = (kv == 0 ? k_ref : v_ref).data() + int64_t{b} * n;
        for (int64_t i = 0; i < n; ++i) {
          dst[i] = static_cast<int8_t>(bytes[i]) * scales[(i / c.head_dim) % c.kv_heads];
        }
      }
    }
  }
  std::vector<cpu::AttentionSequence> ref_seqs, gpu_seqs;
  int64_t q_begin = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const auto [q_len, ctx] = c.seqs[s];
    ref_seqs.push_back({q_begin, q_len, ctx, tables[s], cpu_mass[s], cpu_mass[s].empty() ? 0 : 1});
    ref_seqs.back().score_stats = cpu_stats[s];
    gpu_seqs.push_back({q_begin, q_len, ctx, tables[s]});
    gpu_seqs.back().block_precision = precision[s];
    q_begin += q_len;
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  std::vector<float> ref_out(rows * width);
  cpu::PagedKvLayer cpu_cache{k_ref.data(), v_ref.data(), c.block_size, c.kv_heads, c.head_dim};
  cpu::PagedAttention(q_ref.data(), cpu_cache, ref_seqs, c.heads, scale, /*causal=*/true,
                      ref_out.data());

  AttentionConfig config{c.heads, c.kv_heads, c.head_dim, c.block_size, true};
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  STRATA_CUDA_CHECK(
      cudaDeviceGetAttribute(&config.sm_count, cudaDevAttrMultiProcessorCount, device));
  AttentionLimits limits{static_cast<int32_t>(num_seqs), rows, total_pages, 0};
  AttentionPlan plan;
  ASSERT_TRUE(plan.Build(config, limits, gpu_seqs).ok());
  ASSERT_EQ(plan.int8_pages(), !quantize.empty());
  DeviceBuffer<char> workspace(AttentionWorkspaceBytes(config, limits));
  plan.Upload(workspace.get(), nullptr);

  constexpr int64_t kLayers = 5, kLayer = 2, kUntouched = 7;
  DeviceBuffer<int2> device_items(items);
  DeviceBuffer<char> scratch(AttentionMassScratchBytes(config, static_cast<int32_t>(items.size())));
  scratch.Poison();
  DeviceBuffer<float> mass(std::vector<float>(std::max<int64_t>(mass_size, 1), 0.0f));
  DeviceBuffer<float> stats(std::vector<float>(items.size() * kLayers * 3, kUntouched));
  AccumulateAttentionMass(plan, workspace.get(), AsBf16(q), q_stride, cache, scale,
                          device_items.get(), static_cast<int32_t>(items.size()),
                          reinterpret_cast<float*>(scratch.get()), mass.get(), nullptr,
                          stats.get() + 3 * kLayer, 3 * kLayers);
  STRATA_CUDA_CHECK(cudaGetLastError());
  const std::vector<float> got_mass = mass.Download();
  const std::vector<float> got = stats.Download();
  for (size_t i = 0; i < got.size(); ++i) {
    if ((i / 3) % kLayers != kLayer) {
      ASSERT_EQ(got[i], kUntouched) << "float " << i;
    }
  }
  const char* names[3] = {"entropy", "variance", "excess kurtosis"};
  int64_t offset = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    if (item_of[s] < 0) continue;
    for (int i = 0; i < 3; ++i) {
      const float g = got[(item_of[s] * kLayers + kLayer) * 3 + i];
      const float r = cpu_stats[s][i];
      ASSERT_TRUE(std::isfinite(g)) << "sequence " << s << " " << names[i];
      // Float32 sums on the GPU against double on the CPU over the same float32 scores
      // (up to rounding of the dot products): relative 2e-3, absolute 2e-3 near zero.
      EXPECT_NEAR(g, r, 2e-3 * (1.0 + std::abs(r))) << "sequence " << s << " " << names[i];
    }
    for (size_t b = 0; b < cpu_mass[s].size(); ++b) {
      EXPECT_NEAR(got_mass[offset + b], cpu_mass[s][b], 2e-4 * c.heads + 1e-3 * cpu_mass[s][b])
          << "sequence " << s << " block " << b;
    }
    offset += static_cast<int64_t>(cpu_mass[s].size());
  }
}

TEST(CudaAttentionMassTest, ScoreStatsMatchTheCpuReference) {
  auto rng = testing::MakeRng();
  const std::vector<std::pair<int64_t, int64_t>> mixed = {
      {1, 1000}, {1, 17}, {1, 4096}, {37, 37}, {13, 300}, {1, 1}, {64, 2000}};
  for (bool int8 : {false, true}) {
    RunStatsCase({32, 8, 128, 16, mixed, int8}, rng);
    RunStatsCase({8, 8, 64, 32, mixed, int8}, rng);
  }
  RunStatsCase({160, 8, 64, 16, {{1, 500}, {1, 3}, {20, 700}}}, rng);  // more heads than threads
  RunStatsCase({8, 2, 24, 32, {{1, 300}, {1, 5}, {9, 40}}, true}, rng);
  if (!testing::Quick()) RunStatsCase({32, 8, 128, 16, {{1, 32768}, {1, 8}, {1, 4000}}}, rng);
}

TEST(CudaAttentionMassTest, NoItemsLaunchesNothing) {
  AttentionPlan plan;
  AccumulateAttentionMass(plan, nullptr, nullptr, 0, {}, 1.0f, nullptr, 0, nullptr, nullptr,
                          nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace
}  // namespace strata::kernels::cuda
