// Int8 KV blocks held in place (kernels/cpu/kv_quant.h) and attention reading them.
#include "kernels/cpu/kv_quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/paged_attention.h"

namespace strata::kernels::cpu {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(KvQuantTest, RoundTripIsWithinHalfAStepPerHead) {
  std::mt19937 rng(3);
  const KvBlockShape shape{16, 4, 32};
  std::vector<float> block = Random(shape.values(), rng);
  for (int64_t i = 0; i < shape.values(); ++i) {
    if ((i / shape.head_dim) % shape.kv_heads == 2) block[i] *= 40.0f;  // a loud head
  }
  const std::vector<float> original = block;
  QuantizeBlockInPlace(block.data(), shape);
  std::vector<float> back(shape.values());
  DequantizeBlock(block.data(), shape, back.data());
  for (int64_t head = 0; head < shape.kv_heads; ++head) {
    float absmax = 0.0f;
    for (int64_t i = 0; i < shape.values(); ++i) {
      if ((i / shape.head_dim) % shape.kv_heads == head) absmax = std::max(absmax, std::fabs(original[i]));
    }
    const float step = absmax / 127.0f;
    EXPECT_FLOAT_EQ(QuantizedScales(block.data(), shape)[head], step);
    for (int64_t i = 0; i < shape.values(); ++i) {
      if ((i / shape.head_dim) % shape.kv_heads != head) continue;
      ASSERT_LE(std::fabs(back[i] - original[i]), 0.5f * step * 1.0001f) << "element " << i;
    }
  }
  // The quiet heads keep their own fine scale: the loud head does not coarsen them.
  EXPECT_LT(QuantizedScales(block.data(), shape)[0], QuantizedScales(block.data(), shape)[2] / 10);
}

TEST(KvQuantTest, ZeroBlockStaysZero) {
  const KvBlockShape shape{8, 2, 8};
  std::vector<float> block(shape.values(), 0.0f);
  QuantizeBlockInPlace(block.data(), shape);
  std::vector<float> back(shape.values(), 1.0f);
  DequantizeBlock(block.data(), shape, back.data());
  for (float x : back) EXPECT_EQ(x, 0.0f);
}

// A sequence whose blocks are a mix of float and int8 attends exactly like the same
// sequence with every int8 block dequantized first, and its score statistics match a
// brute-force computation over those dequantized keys.
class MixedPrecisionAttentionTest : public testing::TestWithParam<int> {};

TEST_P(MixedPrecisionAttentionTest, MatchesDequantizeFirstReference) {
  const int64_t block_size = GetParam();
  std::mt19937 rng(9 + block_size);
  const int64_t heads = 4, kv_heads = 2, dim = 16, num_blocks = 24;
  const KvBlockShape shape{block_size, kv_heads, dim};
  const int64_t block_floats = shape.values();
  const int64_t context = 5 * block_size + 3, query_len = 3;
  std::vector<int32_t> table = {7, 2, 19, 11, 4, 0};
  const std::vector<uint8_t> precision = {0, 1, 1, 0, 1, 0};  // the last (partial) stays float
  std::vector<float> k_cache = Random(num_blocks * block_floats, rng);
  std::vector<float> v_cache = Random(num_blocks * block_floats, rng, 2.0f);
  for (size_t i = 0; i < table.size(); ++i) {
    if (precision[i] == 0) continue;
    QuantizeBlockInPlace(k_cache.data() + table[i] * block_floats, shape);
    QuantizeBlockInPlace(v_cache.data() + table[i] * block_floats, shape);
  }
  // The reference cache: every int8 block written back as the floats it stands for.
  std::vector<float> k_ref = k_cache, v_ref = v_cache;
  for (size_t i = 0; i < table.size(); ++i) {
    if (precision[i] == 0) continue;
    DequantizeBlock(k_cache.data() + table[i] * block_floats, shape,
                    k_ref.data() + table[i] * block_floats);
    DequantizeBlock(v_cache.data() + table[i] * block_floats, shape,
                    v_ref.data() + table[i] * block_floats);
  }
  const std::vector<float> q = Random(query_len * heads * dim, rng);
  const float scale = 0.25f;
  std::vector<float> mass(table.size(), 0.0f), mass_ref(table.size(), 0.0f);
  std::vector<float> stats(3, NAN), stats_ref(3, NAN);
  AttentionSequence mixed{0, query_len, context, table, mass, 1, precision, stats};
  AttentionSequence dense{0, query_len, context, table, mass_ref, 1, {}, stats_ref};
  std::vector<float> out(query_len * heads * dim), out_ref(out.size());
  PagedAttention(q.data(), {k_cache.data(), v_cache.data(), block_size, kv_heads, dim},
                 std::span(&mixed, 1), heads, scale, /*causal=*/true, out.data());
  PagedAttention(q.data(), {k_ref.data(), v_ref.data(), block_size, kv_heads, dim},
                 std::span(&dense, 1), heads, scale, /*causal=*/true, out_ref.data());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], out_ref[i], 1e-5) << i;
  for (size_t b = 0; b < mass.size(); ++b) ASSERT_NEAR(mass[b], mass_ref[b], 1e-5) << b;
  for (int i = 0; i < 3; ++i) ASSERT_NEAR(stats[i], stats_ref[i], 1e-4) << i;

  // Brute-force statistics of the last row over the dequantized keys.
  double entropy = 0, variance = 0, kurtosis = 0;
  for (int64_t h = 0; h < heads; ++h) {
    const int64_t kvh = h / (heads / kv_heads);
    std::vector<double> s(context);
    for (int64_t t = 0; t < context; ++t) {
      const float* k = k_ref.data() + table[t / block_size] * block_floats +
                       ((t % block_size) * kv_heads + kvh) * dim;
      double dot = 0;
      for (int64_t d = 0; d < dim; ++d) dot += q[((query_len - 1) * heads + h) * dim + d] * k[d];
      s[t] = dot * scale;
    }
    const double m = *std::max_element(s.begin(), s.end());
    double z = 0, mean = 0;
    for (double x : s) z += std::exp(x - m), mean += x / context;
    double m2 = 0, m4 = 0;
    for (double x : s) {
      const double p = std::exp(x - m) / z;
      entropy -= p * std::log(p) / heads;
      m2 += (x - mean) * (x - mean) / context;
      m4 += std::pow(x - mean, 4) / context;
    }
    variance += m2 / heads;
    kurtosis += (m4 / (m2 * m2) - 3.0) / heads;
  }
  EXPECT_NEAR(stats[0], entropy, 1e-4);
  EXPECT_NEAR(stats[1], variance, 1e-4);
  EXPECT_NEAR(stats[2], kurtosis, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, MixedPrecisionAttentionTest, testing::Values(8, 16, 32));

// Attention over int8 blocks stays close to attention over the float blocks they came from.
TEST(MixedPrecisionAttentionTest, Int8IsCloseToFloat) {
  std::mt19937 rng(21);
  const int64_t block_size = 16, heads = 4, kv_heads = 2, dim = 32, blocks = 8;
  const KvBlockShape shape{block_size, kv_heads, dim};
  std::vector<float> k = Random(blocks * shape.values(), rng);
  std::vector<float> v = Random(blocks * shape.values(), rng);
  std::vector<float> kq = k, vq = v;
  std::vector<int32_t> table(blocks);
  std::iota(table.begin(), table.end(), 0);
  std::vector<uint8_t> precision(blocks, 1);
  precision.back() = 0;
  for (int64_t b = 0; b + 1 < blocks; ++b) {
    QuantizeBlockInPlace(kq.data() + b * shape.values(), shape);
    QuantizeBlockInPlace(vq.data() + b * shape.values(), shape);
  }
  const std::vector<float> q = Random(heads * dim, rng, 0.5f);
  const int64_t context = blocks * block_size;
  AttentionSequence full{0, 1, context, table};
  AttentionSequence int8{0, 1, context, table, {}, 0, precision};
  std::vector<float> out(heads * dim), out_q(heads * dim);
  PagedAttention(q.data(), {k.data(), v.data(), block_size, kv_heads, dim}, std::span(&full, 1),
                 heads, 1.0f / std::sqrt(float(dim)), true, out.data());
  PagedAttention(q.data(), {kq.data(), vq.data(), block_size, kv_heads, dim},
                 std::span(&int8, 1), heads, 1.0f / std::sqrt(float(dim)), true, out_q.data());
  double err = 0, norm = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    err += (out[i] - out_q[i]) * (out[i] - out_q[i]);
    norm += out[i] * out[i];
  }
  EXPECT_LT(std::sqrt(err / norm), 0.02);  // int8 with per-head scales: ~1% relative
}

}  // namespace
}  // namespace strata::kernels::cpu
