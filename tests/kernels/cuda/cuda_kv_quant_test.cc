// Int8 KV blocks on the GPU (kernels/cuda/kv_quant.h): the in-place quantize kernel
// against kernels/cpu/kv_quant on the same bf16 values, and the attention kernels (decode,
// prefill, generic, attention mass) over tables that mix int8 and bf16 pages against
// cpu::PagedAttention run on the dequantized values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/dtype.h"
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

// One quantized plane read back from the device bytes of its bf16 slot.
struct HostPlane {
  std::vector<int8_t> values;
  std::vector<float> scales;
};

HostPlane ReadPlane(const std::vector<Bf16Bits>& layer, int64_t block, int64_t block_size,
                    int64_t kv_heads, int64_t head_dim) {
  const int64_t n = KvPlaneValues(block_size, kv_heads, head_dim);
  const char* bytes = reinterpret_cast<const char*>(layer.data() + block * n);
  HostPlane p;
  p.values.resize(n);
  p.scales.resize(kv_heads);
  std::memcpy(p.values.data(), bytes, n);
  std::memcpy(p.scales.data(), bytes + KvInt8ScaleOffset(block_size, kv_heads, head_dim),
              kv_heads * sizeof(float));
  return p;
}

// Quantizes `blocks` of a random bf16 layer on the GPU and checks every plane against the
// CPU kernel on the same values (scales equal, int8 values equal but for rare ties, the
// round trip within half a step), and that other blocks are untouched.
void RunQuantizeCase(int64_t block_size, int64_t kv_heads, int64_t head_dim, int64_t num_blocks,
                     std::vector<int32_t> blocks, std::mt19937_64& rng) {
  SCOPED_TRACE(absl::StrCat("bs=", block_size, " kv_heads=", kv_heads, " d=", head_dim,
                            " blocks=", blocks.size()));
  const int64_t n = KvPlaneValues(block_size, kv_heads, head_dim);
  std::vector<float> k_ref, v_ref;
  std::vector<Bf16Bits> k_bits = testing::RandomBf16(num_blocks * n, rng, 1.0f, &k_ref);
  std::vector<Bf16Bits> v_bits = testing::RandomBf16(num_blocks * n, rng, 3.0f, &v_ref);
  // A loud head in K (x64 is exact in bf16), and an all-zero V plane (scale 0, values 0).
  for (int64_t i = 0; i < num_blocks * n; ++i) {
    if ((i / head_dim) % kv_heads == kv_heads - 1) {
      k_ref[i] *= 64.0f;
      k_bits[i] = FloatToBF16(k_ref[i]);
    }
  }
  std::fill_n(v_bits.begin() + blocks[0] * n, n, Bf16Bits{0});
  std::fill_n(v_ref.begin() + blocks[0] * n, n, 0.0f);
  DeviceBuffer<Bf16Bits> k(k_bits), v(v_bits);
  DeviceBuffer<int32_t> ids(blocks);
  PagedKvCache cache{AsBf16(k), AsBf16(v), num_blocks, static_cast<int32_t>(block_size),
                     static_cast<int32_t>(kv_heads), static_cast<int32_t>(head_dim)};
  QuantizeKvBlocks(cache, ids.get(), static_cast<int32_t>(blocks.size()), nullptr);
  STRATA_CUDA_CHECK(cudaGetLastError());
  const std::vector<Bf16Bits> k_got = k.Download(), v_got = v.Download();

  const cpu::KvBlockShape shape{block_size, kv_heads, head_dim};
  int64_t ties = 0;
  for (int kv = 0; kv < 2; ++kv) {
    const std::vector<float>& ref = kv == 0 ? k_ref : v_ref;
    const std::vector<Bf16Bits>& got = kv == 0 ? k_got : v_got;
    const std::vector<Bf16Bits>& before = kv == 0 ? k_bits : v_bits;
    for (int64_t b = 0; b < num_blocks; ++b) {
      const bool quantized = std::find(blocks.begin(), blocks.end(), b) != blocks.end();
      if (!quantized) {
        ASSERT_TRUE(std::equal(got.begin() + b * n, got.begin() + (b + 1) * n,
                               before.begin() + b * n))
            << "block " << b << " was not listed but changed";
        continue;
      }
      std::vector<float> cpu_block(ref.begin() + b * n, ref.begin() + (b + 1) * n);
      cpu::QuantizeBlockInPlace(cpu_block.data(), shape);
      const int8_t* cpu_values = cpu::QuantizedValues(cpu_block.data());
      const float* cpu_scales = cpu::QuantizedScales(cpu_block.data(), shape);
      const HostPlane plane = ReadPlane(got, b, block_size, kv_heads, head_dim);
      for (int64_t h = 0; h < kv_heads; ++h) {
        ASSERT_EQ(plane.scales[h], cpu_scales[h]) << "kv " << kv << " block " << b << " head " << h;
      }
      for (int64_t i = 0; i < n; ++i) {
        const int64_t h = (i / head_dim) % kv_heads;
        const float step = plane.scales[h];
        const float x = ref[b * n + i];
        ASSERT_LE(std::fabs(plane.values[i] * step - x), 0.5f * step * 1.0001f + 1e-30f)
            << "kv " << kv << " block " << b << " element " << i;
        if (plane.values[i] != cpu_values[i]) {
          ASSERT_LE(std::abs(plane.values[i] - cpu_values[i]), 1) << "element " << i;
          ++ties;
        }
      }
    }
  }
  // Both sides divide in IEEE float and round half to even: differences would be a bug.
  EXPECT_EQ(ties, 0);
}

TEST(CudaKvQuantTest, QuantizeMatchesTheCpuKernel) {
  auto rng = testing::MakeRng();
  RunQuantizeCase(16, 8, 128, 12, {3, 0, 11, 7}, rng);
  RunQuantizeCase(32, 2, 64, 6, {5, 1}, rng);
  RunQuantizeCase(16, 4, 256, 4, {2}, rng);
  RunQuantizeCase(16, 2, 24, 5, {4, 2, 0}, rng);  // the qwen3 test fixture's shape
  RunQuantizeCase(8, 1, 8, 3, {1}, rng);           // one chunk smaller than the threads
  RunQuantizeCase(16, 32, 128, 3, {0, 2}, rng);    // many heads: several chunks per plane
}

TEST(CudaKvQuantTest, NoBlocksLaunchesNothing) {
  QuantizeKvBlocks(PagedKvCache{}, nullptr, 0, nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
}

// Attention over mixed tables: about half of every sequence's full pages are quantized on
// the GPU and flagged; the reference attends over the same cache with those pages replaced
// by their dequantized values (float32, no flags).
struct MixedCase {
  int32_t heads, kv_heads, head_dim, block_size;
  bool causal;
  std::vector<std::pair<int64_t, int64_t>> seqs;  // {query_len, context_len}
  bool mass = false;  // also AccumulateAttentionMass (causal only)
};

void RunMixedCase(const MixedCase& c, std::mt19937_64& rng) {
  int64_t decode = 0, rows = 0, total_pages = 0;
  for (auto [q_len, ctx] : c.seqs) {
    decode += q_len == 1;
    rows += q_len;
    total_pages += (ctx + c.block_size - 1) / c.block_size;
  }
  const std::string shape = absl::StrCat(
      "h=", c.heads, "/", c.kv_heads, " d=", c.head_dim, " bs=", c.block_size,
      c.causal ? "" : " noncausal", " seqs=", c.seqs.size(), " decode=", decode, " rows=", rows,
      " int8 pages");
  SCOPED_TRACE(shape);
  const int64_t num_seqs = c.seqs.size();
  const int64_t num_blocks = total_pages + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<std::vector<int32_t>> tables(num_seqs);
  std::vector<std::vector<uint8_t>> precision(num_seqs);
  std::vector<int32_t> quantize;
  std::vector<std::vector<float>> cpu_mass(num_seqs);
  std::vector<int2> items;
  std::vector<int64_t> mass_offset(num_seqs, -1);
  int64_t next_page = 0, mass_size = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const auto [q_len, ctx] = c.seqs[s];
    const int64_t pages = (ctx + c.block_size - 1) / c.block_size;
    tables[s].assign(ids.begin() + next_page, ids.begin() + next_page + pages);
    next_page += pages;
    precision[s].assign(pages, cpu::kKvFloat);
    // Full pages only (a page being written stays bf16), about half of them, the first
    // always when there is a full one.
    for (int64_t p = 0; p < pages; ++p) {
      if ((p + 1) * c.block_size <= ctx && (p == 0 || rng() % 2 == 0)) {
        precision[s][p] = cpu::kKvInt8;
        quantize.push_back(tables[s][p]);
      }
    }
    if (c.mass) {
      cpu_mass[s].assign(pages, 0.0f);
      mass_offset[s] = mass_size;
      items.push_back({static_cast<int>(s), static_cast<int>(mass_size)});
      mass_size += pages;
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
  DeviceBuffer<int32_t> quantize_ids(quantize);
  QuantizeKvBlocks(cache, quantize_ids.get(), static_cast<int32_t>(quantize.size()), nullptr);
  const bool prefill = std::any_of(c.seqs.begin(), c.seqs.end(),
                                   [](const auto& seq) { return seq.first > 1; });
  const bool generic = c.head_dim != 64 && c.head_dim != 128 && (prefill || c.head_dim != 256);
  // The reference cache: quantized pages hold their dequantized values. The tensor-core
  // prefill multiplies bf16 tiles, so it rounds each dequantized value to bf16 first (the
  // decode and generic kernels keep it in float32); the reference does the same.
  const bool rounds_to_bf16 = prefill && !generic;
  const std::vector<Bf16Bits> k_bits = k.Download(), v_bits = v.Download();
  for (int32_t b : quantize) {
    for (int kv = 0; kv < 2; ++kv) {
      const HostPlane plane =
          ReadPlane(kv == 0 ? k_bits : v_bits, b, c.block_size, c.kv_heads, c.head_dim);
      float* dst = (kv == 0 ? k_ref : v_ref).data() + int64_t{b} * n;
      for (int64_t i = 0; i < n; ++i) {
        dst[i] = plane.values[i] * plane.scales[(i / c.head_dim) % c.kv_heads];
        if (rounds_to_bf16) dst[i] = BF16ToFloat(FloatToBF16(dst[i]));
      }
    }
  }
  std::vector<cpu::AttentionSequence> ref_seqs, gpu_seqs;
  int64_t q_begin = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const auto [q_len, ctx] = c.seqs[s];
    ref_seqs.push_back({q_begin, q_len, ctx, tables[s], cpu_mass[s], c.mass ? 1 : 0});
    gpu_seqs.push_back({q_begin, q_len, ctx, tables[s]});
    gpu_seqs.back().block_precision = precision[s];
    q_begin += q_len;
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  std::vector<float> ref(rows * width), magnitude(rows * width);
  cpu::PagedKvLayer cpu_cache{k_ref.data(), v_ref.data(), c.block_size, c.kv_heads, c.head_dim};
  cpu::PagedAttention(q_ref.data(), cpu_cache, ref_seqs, c.heads, scale, c.causal, ref.data());
  std::vector<float> v_abs = testing::Abs(v_ref);
  cpu_cache.v = v_abs.data();
  std::vector<cpu::AttentionSequence> magnitude_seqs = ref_seqs;
  for (cpu::AttentionSequence& seq : magnitude_seqs) seq.block_mass = {};  // counted once
  cpu::PagedAttention(q_ref.data(), cpu_cache, magnitude_seqs, c.heads, scale, c.causal,
                      magnitude.data());

  AttentionConfig config{c.heads, c.kv_heads, c.head_dim, c.block_size, c.causal};
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  STRATA_CUDA_CHECK(
      cudaDeviceGetAttribute(&config.sm_count, cudaDevAttrMultiProcessorCount, device));
  AttentionLimits limits{static_cast<int32_t>(num_seqs) + 2, rows + 5, total_pages + 7, 0};
  AttentionPlan plan;
  ASSERT_TRUE(plan.Build(config, limits, gpu_seqs).ok());
  ASSERT_EQ(plan.int8_pages(), !quantize.empty());
  DeviceBuffer<char> workspace(AttentionWorkspaceBytes(config, limits));
  workspace.Poison();
  plan.Upload(workspace.get(), nullptr);
  DeviceBuffer<Bf16Bits> out(rows * width);
  out.Poison();
  PagedAttention(plan, workspace.get(), AsBf16(q), q_stride, cache, scale, AsBf16(out), nullptr);
  const char* op =
      generic ? "attn_generic_int8" : (prefill ? "attn_prefill_int8" : "attn_decode_int8");
  testing::ExpectAttentionClose(op, shape, testing::ToFloat(out.Download()), ref, magnitude);

  if (!c.mass) return;
  DeviceBuffer<int2> device_items(items);
  DeviceBuffer<char> scratch(AttentionMassScratchBytes(config, static_cast<int32_t>(items.size())));
  scratch.Poison();
  DeviceBuffer<float> mass(std::vector<float>(mass_size, 0.0f));
  AccumulateAttentionMass(plan, workspace.get(), AsBf16(q), q_stride, cache, scale,
                          device_items.get(), static_cast<int32_t>(items.size()),
                          reinterpret_cast<float*>(scratch.get()), mass.get(), nullptr);
  const std::vector<float> got_mass = mass.Download();
  for (int64_t s = 0; s < num_seqs; ++s) {
    for (size_t b = 0; b < cpu_mass[s].size(); ++b) {
      const float g = got_mass[mass_offset[s] + b];
      ASSERT_TRUE(std::isfinite(g)) << "sequence " << s << " block " << b;
      EXPECT_NEAR(g, cpu_mass[s][b], 2e-4 * c.heads + 1e-3 * cpu_mass[s][b])
          << "sequence " << s << " block " << b;
    }
  }
}

TEST(CudaKvQuantTest, DecodeOverMixedPages) {
  auto rng = testing::MakeRng();
  const std::vector<std::pair<int64_t, int64_t>> decodes = {
      {1, 1}, {1, 17}, {1, 1000}, {1, 4096}, {1, 64}};
  for (int32_t block_size : {16, 32}) {
    for (auto [heads, kv_heads] : {std::pair{8, 8}, {32, 8}, {64, 8}, {12, 4}}) {
      for (int32_t head_dim : {64, 128}) {
        RunMixedCase({heads, kv_heads, head_dim, block_size, true, decodes}, rng);
      }
    }
  }
  RunMixedCase({16, 8, 256, 16, true, decodes}, rng);             // fast decode, d=256
  RunMixedCase({8, 2, 24, 16, true, {{1, 17}, {1, 300}}}, rng);   // generic decode
}

TEST(CudaKvQuantTest, PrefillOverMixedPages) {
  auto rng = testing::MakeRng();
  // Prefill chunks after int8 context (their own new pages stay bf16), mixed with decodes.
  const std::vector<std::pair<int64_t, int64_t>> mixed = {
      {17, 81}, {100, 300}, {1, 50}, {64, 128}, {130, 1000}, {5, 4096}, {2, 34}};
  for (bool causal : {true, false}) {
    for (int32_t block_size : {16, 32}) {
      RunMixedCase({32, 8, 128, block_size, causal, mixed}, rng);
      RunMixedCase({8, 8, 64, block_size, causal, mixed}, rng);
    }
    RunMixedCase({12, 4, 64, 16, causal, mixed}, rng);   // group 3
    RunMixedCase({16, 4, 96, 32, causal, mixed}, rng);   // generic everything
  }
}

TEST(CudaKvQuantTest, AttentionMassOverMixedPages) {
  auto rng = testing::MakeRng();
  const std::vector<std::pair<int64_t, int64_t>> mixed = {{1, 1000}, {1, 17}, {37, 80}, {1, 300}};
  RunMixedCase({32, 8, 128, 16, true, mixed, /*mass=*/true}, rng);
  RunMixedCase({8, 2, 24, 16, true, mixed, /*mass=*/true}, rng);
}

TEST(CudaKvQuantTest, PlanWithoutInt8PagesUploadsNoFlags) {
  std::vector<int32_t> table = {0, 1};
  std::vector<uint8_t> all_float = {0, 0};
  std::vector<cpu::AttentionSequence> seqs = {{0, 4, 20, table}};
  seqs[0].block_precision = all_float;
  AttentionConfig config{8, 2, 64, 16, true};
  AttentionPlan plan;
  ASSERT_TRUE(plan.Build(config, {1, 4, 2}, seqs).ok());
  EXPECT_FALSE(plan.int8_pages());
  std::vector<uint8_t> second_int8 = {0, 1};
  seqs[0].block_precision = second_int8;
  ASSERT_TRUE(plan.Build(config, {1, 4, 2}, seqs).ok());
  EXPECT_TRUE(plan.int8_pages());
}

}  // namespace
}  // namespace strata::kernels::cuda
