#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/kv_quant.h"

namespace strata::kernels::cpu {
namespace {

constexpr int64_t kMaxBlockSize = 256;
constexpr int64_t kMaxHeadDim = 512;

// One kv head's rows of one block: `count` vectors of head_dim floats, `stride` apart.
// An int8 block is dequantized into `scratch` (count x head_dim), so no float copy of it
// outlives the read.
struct HeadRows {
  const float* base = nullptr;
  int64_t stride = 0;
};

HeadRows ReadHeadRows(const PagedKvLayer& cache, const float* layer_base, int64_t block,
                      bool int8, int64_t kv_head, int64_t count, std::vector<float>& scratch) {
  const int64_t dim = cache.head_dim;
  const int64_t token_stride = cache.kv_heads * dim;
  const float* block_base = layer_base + block * cache.block_size * token_stride;
  if (!int8) return {block_base + kv_head * dim, token_stride};
  const KvBlockShape shape{cache.block_size, cache.kv_heads, dim};
  const int8_t* q = QuantizedValues(block_base) + kv_head * dim;
  const float scale = QuantizedScales(block_base, shape)[kv_head];
  scratch.resize(count * dim);
  for (int64_t t = 0; t < count; ++t) {
    for (int64_t d = 0; d < dim; ++d) scratch[t * dim + d] = q[t * token_stride + d] * scale;
  }
  return {scratch.data(), dim};
}

bool IsInt8(std::span<const uint8_t> precision, int64_t index) {
  return static_cast<size_t>(index) < precision.size() && precision[index] == kKvInt8;
}

// Online-softmax attention of one query vector over `visible` cached tokens. When `mass`
// is set, mass[b] = the softmax probability of block b (its tokens' probabilities summed)
// for the ceil(visible / block_size) blocks visible.
void AttendOne(const float* query, const PagedKvLayer& cache, const AttentionSequence& seq,
               int64_t visible, int64_t kv_head, float scale, float* out, float* mass) {
  const int64_t dim = cache.head_dim;
  float scores[kMaxBlockSize];
  float accumulator[kMaxHeadDim] = {};
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  thread_local std::vector<float> k_scratch, v_scratch;
  // Per block: its own max score (mass) and sum of exp(score - that max) (written to mass).
  thread_local std::vector<float> block_max_scores;
  if (mass != nullptr) block_max_scores.resize((visible + cache.block_size - 1) / cache.block_size);
  for (int64_t start = 0; start < visible; start += cache.block_size) {
    const int64_t index = start / cache.block_size;
    const int64_t block = seq.block_table[index];
    const bool int8 = IsInt8(seq.block_precision, index);
    const int64_t count = std::min(cache.block_size, visible - start);
    const HeadRows keys = ReadHeadRows(cache, cache.k, block, int8, kv_head, count, k_scratch);
    const HeadRows values = ReadHeadRows(cache, cache.v, block, int8, kv_head, count, v_scratch);
    float block_max = running_max;
    float local_max = -std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < count; ++t) {
      const float* k = keys.base + t * keys.stride;
      float dot = 0.0f;
      for (int64_t d = 0; d < dim; ++d) dot += query[d] * k[d];
      scores[t] = dot * scale;
      block_max = std::max(block_max, scores[t]);
      local_max = std::max(local_max, scores[t]);
    }
    const float correction = std::exp(running_max - block_max);
    running_sum *= correction;
    for (int64_t d = 0; d < dim; ++d) accumulator[d] *= correction;
    float local_sum = 0.0f;
    for (int64_t t = 0; t < count; ++t) {
      const float p = std::exp(scores[t] - block_max);
      running_sum += p;
      if (mass != nullptr) local_sum += std::exp(scores[t] - local_max);
      const float* v = values.base + t * values.stride;
      for (int64_t d = 0; d < dim; ++d) accumulator[d] += p * v[d];
    }
    running_max = block_max;
    if (mass != nullptr) {
      block_max_scores[index] = local_max;
      mass[index] = local_sum;
    }
  }
  const float inv = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
  for (int64_t d = 0; d < dim; ++d) out[d] = accumulator[d] * inv;
  if (mass != nullptr) {
    for (size_t b = 0; b < block_max_scores.size(); ++b) {
      mass[b] *= std::exp(block_max_scores[b] - running_max) * inv;
    }
  }
}

// Entropy of softmax(scores), the scores' variance and excess kurtosis for one query
// vector over `visible` tokens (see AttentionSequence::score_stats).
void ScoreStats(const float* query, const PagedKvLayer& cache, const AttentionSequence& seq,
                int64_t visible, int64_t kv_head, float scale, double stats[3]) {
  const int64_t dim = cache.head_dim;
  std::vector<double> scores(visible);
  std::vector<float> scratch;
  for (int64_t start = 0; start < visible; start += cache.block_size) {
    const int64_t index = start / cache.block_size;
    const int64_t count = std::min(cache.block_size, visible - start);
    const HeadRows keys = ReadHeadRows(cache, cache.k, seq.block_table[index],
                                       IsInt8(seq.block_precision, index), kv_head, count, scratch);
    for (int64_t t = 0; t < count; ++t) {
      double dot = 0.0;
      for (int64_t d = 0; d < dim; ++d) dot += double{query[d]} * keys.base[t * keys.stride + d];
      scores[start + t] = dot * scale;
    }
  }
  double max = -std::numeric_limits<double>::infinity(), mean = 0.0;
  for (double x : scores) max = std::max(max, x), mean += x;
  mean /= visible;
  double sum = 0.0, weighted = 0.0, m2 = 0.0, m4 = 0.0;
  for (double x : scores) {
    const double p = std::exp(x - max);
    sum += p;
    weighted += p * (x - max);
    const double c = (x - mean) * (x - mean);
    m2 += c;
    m4 += c * c;
  }
  m2 /= visible;
  m4 /= visible;
  stats[0] += std::log(sum) - weighted / sum;  // -sum p log p, p = e^(x - max) / sum
  stats[1] += m2;
  stats[2] += m2 > 0.0 ? m4 / (m2 * m2) - 3.0 : 0.0;
}

}  // namespace

void WritePagedKv(const PagedKvLayer& cache, const float* k, const float* v,
                  std::span<const int64_t> slots) {
  const int64_t row = cache.kv_heads * cache.head_dim;
  for (size_t i = 0; i < slots.size(); ++i) {
    std::memcpy(cache.k + slots[i] * row, k + i * row, row * sizeof(float));
    std::memcpy(cache.v + slots[i] * row, v + i * row, row * sizeof(float));
  }
}

void PagedAttention(const float* q, const PagedKvLayer& cache,
                    std::span<const AttentionSequence> sequences, int64_t heads, float scale,
                    bool causal, float* out) {
  STRATA_CHECK_LE(cache.block_size, kMaxBlockSize);
  STRATA_CHECK_LE(cache.head_dim, kMaxHeadDim);
  STRATA_CHECK_EQ(heads % cache.kv_heads, 0);
  const int64_t group = heads / cache.kv_heads;
  const int64_t dim = cache.head_dim;
  // Flatten (sequence, query row) pairs so the parallel loop balances long prefills. Rows
  // that count towards a mass output get a scratch slice per head, summed in order below.
  struct MassRow {
    int32_t sequence = -1;
    int64_t scratch = 0;  // offset of its [heads, blocks] slice
  };
  std::vector<std::pair<int32_t, int32_t>> work;
  std::vector<MassRow> mass_rows;
  int64_t scratch_size = 0;
  for (size_t s = 0; s < sequences.size(); ++s) {
    const AttentionSequence& seq = sequences[s];
    STRATA_CHECK_LE(seq.query_len, seq.context_len);
    const int64_t blocks = (seq.context_len + cache.block_size - 1) / cache.block_size;
    STRATA_CHECK_LE(blocks, static_cast<int64_t>(seq.block_table.size()));
    const int64_t counted =
        seq.block_mass.empty() ? 0 : std::clamp<int64_t>(seq.mass_rows, 0, seq.query_len);
    if (counted > 0) STRATA_CHECK_LE(blocks, static_cast<int64_t>(seq.block_mass.size()));
    for (int64_t j = 0; j < seq.query_len; ++j) {
      work.emplace_back(s, j);
      mass_rows.push_back({});
      if (j >= seq.query_len - counted) {
        mass_rows.back() = {static_cast<int32_t>(s), scratch_size};
        scratch_size += heads * blocks;
      }
    }
  }
  std::vector<float> scratch(scratch_size, 0.0f);
  const int64_t items = static_cast<int64_t>(work.size()) * heads;
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t item = 0; item < items; ++item) {
    const auto [s, j] = work[item / heads];
    const int64_t h = item % heads;
    const AttentionSequence& seq = sequences[s];
    const int64_t row = seq.query_begin + j;
    const int64_t visible = causal ? seq.context_len - seq.query_len + j + 1 : seq.context_len;
    const MassRow& m = mass_rows[item / heads];
    const int64_t blocks = (seq.context_len + cache.block_size - 1) / cache.block_size;
    float* mass = m.sequence < 0 ? nullptr : scratch.data() + m.scratch + h * blocks;
    AttendOne(q + (row * heads + h) * dim, cache, seq, visible, h / group, scale,
              out + (row * heads + h) * dim, mass);
  }
  // Score statistics of each sequence's last row (prefill only; off the parallel loop).
  for (const AttentionSequence& seq : sequences) {
    if (seq.score_stats.empty() || seq.query_len == 0) continue;
    STRATA_CHECK_GE(seq.score_stats.size(), 3u);
    const int64_t row = seq.query_begin + seq.query_len - 1;
    double stats[3] = {};
    for (int64_t h = 0; h < heads; ++h) {
      ScoreStats(q + (row * heads + h) * dim, cache, seq, seq.context_len, h / group, scale,
                 stats);
    }
    for (int i = 0; i < 3; ++i) seq.score_stats[i] = static_cast<float>(stats[i] / heads);
  }
  for (const MassRow& m : mass_rows) {
    if (m.sequence < 0) continue;
    const AttentionSequence& seq = sequences[m.sequence];
    const int64_t blocks = (seq.context_len + cache.block_size - 1) / cache.block_size;
    for (int64_t h = 0; h < heads; ++h) {
      const float* mass = scratch.data() + m.scratch + h * blocks;
      for (int64_t b = 0; b < blocks; ++b) seq.block_mass[b] += mass[b];
    }
  }
}

}  // namespace strata::kernels::cpu
