// What one forward pass runs: for each sequence, a run of new tokens appended after the
// tokens already in its KV blocks. Prefills (many tokens) and decodes (one token) of
// different lengths mix freely in one batch.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace strata::worker {

enum class LogitsMode {
  kNone,  // no logits (a prefill chunk that is not the prompt's end)
  kLast,  // one row, at the last new token (the position sampled next)
  kAll,   // a row per new token (reference checks, prompt logprobs)
};

struct SequenceSlice {
  std::span<const int32_t> tokens;       // new tokens, run now
  int64_t start_position = 0;            // K/V entries of this sequence already cached
  std::span<const int32_t> block_table;  // covers start_position + tokens.size() tokens
  LogitsMode logits = LogitsMode::kLast;
  // Tokens evicted before the cached ones (budget policies): the RoPE position of new
  // token i is position_offset + start_position + i; its K/V index is start_position + i.
  int64_t position_offset = 0;
  // When not empty (heavy_hitter eviction): one float per block-table entry, to which the
  // forward pass adds the attention mass each KV block receives from the slice's LAST new
  // token (its softmax probabilities, summed over heads and layers; each layer adds
  // `heads`). Only the last row counts so that CPU and GPU agree at one query row per
  // sequence per step (decode steps, and the end of each prefill chunk).
  std::span<float> attention_mass;
  // adaptive_precision eviction. block_precision: per block-table entry, 0 float or 1 int8
  // (kernels/cpu/kv_quant.h's in-place format; empty: all full precision); attention
  // dequantizes int8 entries as it reads them. quantize_blocks: block ids of this table,
  // flagged int8 already, whose every layer's K and V the worker converts to int8 in place
  // before this pass (they are full and were written as full precision).
  // attention_stats: when not empty, 3 floats per layer that the pass overwrites with the
  // statistics of the slice's last row (kernels/cpu/paged_attention.h score_stats).
  std::span<const uint8_t> block_precision;
  std::span<const int32_t> quantize_blocks;
  std::span<float> attention_stats;
  // Layered prefill: only layers [layer_begin, layer_end) run for these tokens now. With
  // layer_begin > 0 their hidden states come from the worker's carry for `sequence_id`
  // (left by the previous slice of the same tokens); with layer_end short of the model's
  // depth they are carried for the next one and no logits are produced. Slices over
  // every layer come first in a batch; the partial ones after them share one range.
  int64_t sequence_id = 0;
  int32_t layer_begin = 0;
  int32_t layer_end = kAllLayers;
  static constexpr int32_t kAllLayers = 1 << 30;
};

// Logits rows come back in sequence order: kLast adds one row, kAll tokens.size() rows.
inline int64_t LogitsRows(std::span<const SequenceSlice> sequences) {
  int64_t rows = 0;
  for (const SequenceSlice& s : sequences) {
    rows += s.logits == LogitsMode::kAll ? static_cast<int64_t>(s.tokens.size())
                                         : (s.logits == LogitsMode::kLast ? 1 : 0);
  }
  return rows;
}

}  // namespace strata::worker
