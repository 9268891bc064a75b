#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/paged_attention.h"

namespace strata::kernels::cpu {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(CpuOpsTest, LinearMatchesNaiveProduct) {
  std::mt19937 rng(1);
  const int m = 5, k = 37, n = 11;
  auto x = Random(m * k, rng), w = Random(n * k, rng), b = Random(n, rng);
  std::vector<float> y(m * n);
  Linear(x.data(), m, k, w.data(), n, b.data(), y.data());
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double expected = b[j];
      for (int t = 0; t < k; ++t) expected += double(x[i * k + t]) * w[j * k + t];
      EXPECT_NEAR(y[i * n + j], expected, 1e-4);
    }
  }
}

TEST(CpuOpsTest, RmsNormAndFusedResidual) {
  std::mt19937 rng(2);
  const int rows = 3, dim = 16;
  auto x = Random(rows * dim, rng), w = Random(dim, rng), r = Random(rows * dim, rng);
  std::vector<float> out(rows * dim), fused(rows * dim), residual = r;
  RmsNorm(x.data(), w.data(), rows, dim, 1e-6f, out.data());
  for (int i = 0; i < rows; ++i) {
    double ss = 0;
    for (int j = 0; j < dim; ++j) ss += x[i * dim + j] * x[i * dim + j];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-6);
    for (int j = 0; j < dim; ++j) EXPECT_NEAR(out[i * dim + j], x[i * dim + j] * inv * w[j], 1e-5);
  }
  AddRmsNorm(residual.data(), x.data(), w.data(), rows, dim, 1e-6f, fused.data());
  std::vector<float> sum(rows * dim), expected(rows * dim);
  for (int i = 0; i < rows * dim; ++i) sum[i] = r[i] + x[i];
  RmsNorm(sum.data(), w.data(), rows, dim, 1e-6f, expected.data());
  for (int i = 0; i < rows * dim; ++i) {
    EXPECT_FLOAT_EQ(residual[i], sum[i]);
    EXPECT_FLOAT_EQ(fused[i], expected[i]);
  }
}

TEST(CpuOpsTest, RopeRotatesHalvesAndPreservesNorm) {
  std::mt19937 rng(3);
  const int rows = 4, heads = 2, dim = 8;
  auto x = Random(rows * heads * dim, rng);
  auto original = x;
  std::vector<int64_t> positions = {0, 1, 7, 1000};
  std::vector<float> inv_freq = {1.0f, 0.1f, 0.01f, 0.001f};
  ApplyRope(x.data(), rows, heads, dim, positions, inv_freq);
  for (int i = 0; i < rows; ++i) {
    for (int h = 0; h < heads; ++h) {
      const float* a = original.data() + (i * heads + h) * dim;
      const float* b = x.data() + (i * heads + h) * dim;
      for (int d = 0; d < dim / 2; ++d) {
        const double angle = double(float(positions[i]) * inv_freq[d]);
        EXPECT_NEAR(b[d], a[d] * std::cos(angle) - a[d + 4] * std::sin(angle), 1e-4);
        EXPECT_NEAR(b[d + 4], a[d + 4] * std::cos(angle) + a[d] * std::sin(angle), 1e-4);
      }
    }
  }
}

TEST(CpuOpsTest, SiluAndMul) {
  std::vector<float> gate_up = {1.0f, -2.0f, 3.0f, 0.5f};  // one row, inter = 2
  std::vector<float> out(2);
  SiluAndMul(gate_up.data(), 1, 2, out.data());
  EXPECT_NEAR(out[0], 1.0 / (1 + std::exp(-1.0)) * 3.0, 1e-6);
  EXPECT_NEAR(out[1], -2.0 / (1 + std::exp(2.0)) * 0.5, 1e-6);
}

// Dense causal attention over contiguous K/V, the definition the paged kernel must match.
void DenseAttention(const float* q, const float* k, const float* v, int64_t query_len,
                    int64_t context_len, int64_t heads, int64_t kv_heads, int64_t dim, float scale,
                    bool causal, float* out) {
  for (int64_t j = 0; j < query_len; ++j) {
    const int64_t visible = causal ? context_len - query_len + j + 1 : context_len;
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kvh = h / (heads / kv_heads);
      std::vector<double> s(visible);
      for (int64_t t = 0; t < visible; ++t) {
        double dot = 0;
        for (int64_t d = 0; d < dim; ++d) {
          dot += q[(j * heads + h) * dim + d] * k[(t * kv_heads + kvh) * dim + d];
        }
        s[t] = dot * scale;
      }
      const double m = *std::max_element(s.begin(), s.end());
      double z = 0;
      for (double& e : s) z += (e = std::exp(e - m));
      for (int64_t d = 0; d < dim; ++d) {
        double acc = 0;
        for (int64_t t = 0; t < visible; ++t) acc += s[t] * v[(t * kv_heads + kvh) * dim + d];
        out[(j * heads + h) * dim + d] = static_cast<float>(acc / z);
      }
    }
  }
}

class PagedAttentionTest : public testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(PagedAttentionTest, MatchesDenseAttentionOnShuffledBlocks) {
  const auto [block_size, causal] = GetParam();
  std::mt19937 rng(4 + block_size);
  const int64_t heads = 4, kv_heads = 2, dim = 16, num_blocks = 64;
  // Three sequences: a prefill from scratch, a chunk continuing a prefill, a decode.
  struct Case {
    int64_t cached, new_tokens;
  };
  const std::vector<Case> cases = {{0, 37}, {20, 13}, {70, 1}};
  std::vector<int32_t> free_blocks(num_blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  std::vector<float> k_cache(num_blocks * block_size * kv_heads * dim, NAN);
  std::vector<float> v_cache(k_cache.size(), NAN);
  PagedKvLayer cache{k_cache.data(), v_cache.data(), block_size, kv_heads, dim};
  std::vector<std::vector<int32_t>> tables;
  std::vector<std::vector<float>> dense_k, dense_v;
  std::vector<AttentionSequence> seqs;
  std::vector<float> q;
  int64_t rows = 0;
  for (const Case& c : cases) {
    const int64_t total = c.cached + c.new_tokens;
    std::vector<int32_t> table;
    for (int64_t b = 0; b < (total + block_size - 1) / block_size; ++b) {
      table.push_back(free_blocks.back());
      free_blocks.pop_back();
    }
    auto k = Random(total * kv_heads * dim, rng), v = Random(total * kv_heads * dim, rng);
    std::vector<int64_t> slots;
    for (int64_t t = 0; t < total; ++t) {
      slots.push_back(int64_t{table[t / block_size]} * block_size + t % block_size);
    }
    WritePagedKv(cache, k.data(), v.data(), slots);
    auto qs = Random(c.new_tokens * heads * dim, rng);
    q.insert(q.end(), qs.begin(), qs.end());
    tables.push_back(table);
    dense_k.push_back(k);
    dense_v.push_back(v);
    seqs.push_back({rows, c.new_tokens, total, {}});
    rows += c.new_tokens;
  }
  for (size_t s = 0; s < seqs.size(); ++s) seqs[s].block_table = tables[s];
  std::vector<float> out(rows * heads * dim, NAN);
  const float scale = 0.25f;
  PagedAttention(q.data(), cache, seqs, heads, scale, causal, out.data());
  for (size_t s = 0; s < seqs.size(); ++s) {
    std::vector<float> expected(seqs[s].query_len * heads * dim);
    DenseAttention(q.data() + seqs[s].query_begin * heads * dim, dense_k[s].data(),
                   dense_v[s].data(), seqs[s].query_len, seqs[s].context_len, heads, kv_heads, dim,
                   scale, causal, expected.data());
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_NEAR(out[seqs[s].query_begin * heads * dim + i], expected[i], 1e-5)
          << "sequence " << s << " element " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, PagedAttentionTest,
                         testing::Combine(testing::Values(8, 16, 32), testing::Bool()));

// Brute-force attention mass: for the last `mass_rows` query rows, every head's softmax
// probabilities summed per KV block (block = token / block_size).
std::vector<double> DenseMass(const float* q, const float* k, int64_t query_len,
                              int64_t context_len, int64_t mass_rows, int64_t heads,
                              int64_t kv_heads, int64_t dim, int64_t block_size, float scale,
                              bool causal) {
  std::vector<double> mass((context_len + block_size - 1) / block_size, 0.0);
  for (int64_t j = query_len - mass_rows; j < query_len; ++j) {
    const int64_t visible = causal ? context_len - query_len + j + 1 : context_len;
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kvh = h / (heads / kv_heads);
      std::vector<double> p(visible);
      for (int64_t t = 0; t < visible; ++t) {
        double dot = 0;
        for (int64_t d = 0; d < dim; ++d) {
          dot += q[(j * heads + h) * dim + d] * k[(t * kv_heads + kvh) * dim + d];
        }
        p[t] = dot * scale;
      }
      const double m = *std::max_element(p.begin(), p.end());
      double z = 0;
      for (double& e : p) z += (e = std::exp(e - m));
      for (int64_t t = 0; t < visible; ++t) mass[t / block_size] += p[t] / z;
    }
  }
  return mass;
}

class PagedAttentionMassTest : public testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(PagedAttentionMassTest, MatchesBruteForceAndLeavesTheOutputAlone) {
  const auto [block_size, causal] = GetParam();
  std::mt19937 rng(11 + block_size);
  const int64_t heads = 4, kv_heads = 2, dim = 16, num_blocks = 64;
  // {cached, new tokens, rows counted}: a prefill counting every row, a chunk counting its
  // last row, a decode, and a sequence that asks for none.
  struct Case {
    int64_t cached, new_tokens, mass_rows;
  };
  const std::vector<Case> cases = {{0, 37, 37}, {20, 13, 1}, {70, 1, 1}, {9, 3, 0}};
  std::vector<int32_t> free_blocks(num_blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  std::vector<float> k_cache(num_blocks * block_size * kv_heads * dim, NAN);
  std::vector<float> v_cache(k_cache.size(), NAN);
  PagedKvLayer cache{k_cache.data(), v_cache.data(), block_size, kv_heads, dim};
  std::vector<std::vector<int32_t>> tables;
  std::vector<std::vector<float>> dense_k, masses;
  std::vector<AttentionSequence> seqs;
  std::vector<float> q;
  int64_t rows = 0;
  for (const Case& c : cases) {
    const int64_t total = c.cached + c.new_tokens;
    std::vector<int32_t> table;
    for (int64_t b = 0; b < (total + block_size - 1) / block_size; ++b) {
      table.push_back(free_blocks.back());
      free_blocks.pop_back();
    }
    table.push_back(free_blocks.back());  // a spare entry past the context: mass stays 0
    free_blocks.pop_back();
    auto k = Random(total * kv_heads * dim, rng, 2.0f), v = Random(total * kv_heads * dim, rng);
    std::vector<int64_t> slots;
    for (int64_t t = 0; t < total; ++t) {
      slots.push_back(int64_t{table[t / block_size]} * block_size + t % block_size);
    }
    WritePagedKv(cache, k.data(), v.data(), slots);
    auto qs = Random(c.new_tokens * heads * dim, rng);
    q.insert(q.end(), qs.begin(), qs.end());
    tables.push_back(table);
    dense_k.push_back(k);
    // Mass accumulates: start from 0.5 per entry (none for the sequence that asks none).
    masses.push_back(c.mass_rows > 0 ? std::vector<float>(table.size(), 0.5f)
                                     : std::vector<float>());
    seqs.push_back({rows, c.new_tokens, total, {}, {}, c.mass_rows});
    rows += c.new_tokens;
  }
  for (size_t s = 0; s < seqs.size(); ++s) {
    seqs[s].block_table = tables[s];
    seqs[s].block_mass = masses[s];
  }
  const float scale = 0.25f;
  std::vector<float> out(rows * heads * dim, NAN), plain_out(out.size(), NAN);
  PagedAttention(q.data(), cache, seqs, heads, scale, causal, out.data());
  std::vector<AttentionSequence> plain = seqs;
  for (AttentionSequence& s : plain) s.block_mass = {};
  PagedAttention(q.data(), cache, plain, heads, scale, causal, plain_out.data());
  EXPECT_EQ(out, plain_out);  // collecting mass changes nothing else, bit for bit
  for (size_t s = 0; s < seqs.size(); ++s) {
    SCOPED_TRACE(::testing::Message() << "sequence " << s);
    if (cases[s].mass_rows == 0) continue;
    const std::vector<double> expected =
        DenseMass(q.data() + seqs[s].query_begin * heads * dim, dense_k[s].data(),
                  seqs[s].query_len, seqs[s].context_len, cases[s].mass_rows, heads, kv_heads,
                  dim, block_size, scale, causal);
    double total = 0;
    for (size_t b = 0; b < masses[s].size(); ++b) {
      const double want = 0.5 + (b < expected.size() ? expected[b] : 0.0);
      EXPECT_NEAR(masses[s][b], want, 1e-6 * std::max(1.0, want)) << "block " << b;  // float sums
      total += masses[s][b] - 0.5;
    }
    // Every counted row gives each head a probability distribution: heads per row.
    EXPECT_NEAR(total, double(cases[s].mass_rows * heads), 1e-5 * cases[s].mass_rows * heads);
  }
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, PagedAttentionMassTest,
                         testing::Combine(testing::Values(8, 16, 32), testing::Bool()));

}  // namespace
}  // namespace strata::kernels::cpu
