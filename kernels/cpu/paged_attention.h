// Attention over a paged KV cache on the CPU (reference implementation).
//
// Layout of one layer's cache: K and V are each [num_blocks, block_size, kv_heads, head_dim]
// float32; a block flagged int8 holds the in-place format of kernels/cpu/kv_quant.h instead
// and is dequantized on the fly, a block at a time, as attention reads it. Token t of a sequence lives in block block_table[t / block_size] at offset
// t % block_size; its "slot" is block * block_size + offset.
#pragma once

#include <cstdint>
#include <span>

namespace strata::kernels::cpu {

struct PagedKvLayer {
  float* k = nullptr;
  float* v = nullptr;
  int64_t block_size = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

// Copies rows of new keys and values ([rows, kv_heads, head_dim]) into their cache slots.
void WritePagedKv(const PagedKvLayer& cache, const float* k, const float* v,
                  std::span<const int64_t> slots);

// One sequence's share of a batched attention call. Its query rows are
// q[query_begin, query_begin + query_len); they are the last query_len of its
// context_len cached tokens (context_len includes them).
struct AttentionSequence {
  int64_t query_begin = 0;
  int64_t query_len = 0;
  int64_t context_len = 0;
  std::span<const int32_t> block_table;
  // Attention mass (heavy-hitter eviction scores): when not empty, one float per table
  // entry; block_mass[b] += the softmax probability mass that block b receives from the
  // last `mass_rows` query rows (clamped to query_len), summed over heads. Each counted
  // row adds `heads` in total (its probabilities sum to 1 per head).
  std::span<float> block_mass;
  int64_t mass_rows = 0;
  // Per table entry, kKvFloat or kKvInt8 (kv_quant.h); empty: every block is float32.
  std::span<const uint8_t> block_precision;
  // When not empty (3 floats): statistics of the LAST query row's scaled scores, averaged
  // over heads: the softmax entropy (nats), the scores' variance and excess kurtosis.
  // Costs one more pass over that row's keys.
  std::span<float> score_stats;
};

// out[r, h, :] = softmax(q[r, h, :] . K^T * scale) V over the sequence's cached tokens, the
// query of head h reading kv head h / (heads / kv_heads) (GQA). When `causal`, query j of a
// sequence sees tokens [0, context_len - query_len + j]; otherwise all context_len tokens.
// q and out are [rows, heads, head_dim]. Deterministic, including the mass sums.
void PagedAttention(const float* q, const PagedKvLayer& cache,
                    std::span<const AttentionSequence> sequences, int64_t heads, float scale,
                    bool causal, float* out);

}  // namespace strata::kernels::cpu
