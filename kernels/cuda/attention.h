// Paged attention over variable-length batches on the GPU, with a plan/run split.
//
// A batch mixes sequences of any query length over their paged KV (GQA: query head h reads
// kv head h / (heads / kv_heads)). Once per batch, on the host, AttentionPlan::Build turns
// the sequences into CSR arrays (query rows, pages) and work lists:
//  - prefill: sequences with more than one query row, tiled 128 (query row, group head)
//    pairs x 64 keys, flash-attention style with bf16 tensor-core MMAs (head_dim 64, 128);
//    when the tiles are too few to fill the GPU and the longest would set the batch's time
//    (a chunk over a long prefix), each tile's keys are split among blocks whose partial
//    outputs the split reduce merges;
//  - decode: one-row sequences, split-K (flash-decoding): each sequence's context is cut
//    into chunks sized so that the whole batch fills the GPU, every chunk a thread block
//    per kv head that serves all query heads of its group, then a reduce kernel merges
//    the chunks' partial outputs by their log-sum-exp (head_dim 64, 128, 256);
//  - generic: the other head sizes (a multiple of 8, at most 512; prefill at 256), one
//    warp per (query row, head), a key at a time: correct but slow.
// Int8 KV pages (adaptive_precision, kv_quant.h): a sequence's block_precision flags
// (kKvInt8 per table entry) become one byte per page of the plan's page list, uploaded with
// it; the kernels then take their int8-reading variants, which dequantize those pages as
// they load them (bf16 pages of the same batch are read as usual). A batch without any
// int8 page uploads no flags and runs the bf16-only kernels, exactly as before.
// Upload() copies the plan into the caller's workspace; PagedAttention() then runs it,
// once per layer. Nothing allocates after start-up: size the workspace once with
// AttentionWorkspaceBytes() from the batch limits, and Build() rejects batches over them.
//
// Thread affinity: a plan and its workspace belong to one worker thread and stream. Upload
// copies from the plan's pageable host buffer, which cudaMemcpyAsync stages before it
// returns, so the plan may be rebuilt right after; stream order keeps the next batch's
// upload behind the kernels still reading the workspace.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda {

// The same description of one sequence as the CPU op: query rows
// q[query_begin, query_begin + query_len) are the last query_len of its context_len tokens.
using AttentionSequence = cpu::AttentionSequence;

struct AttentionConfig {
  int32_t heads = 0;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;
  int32_t block_size = 0;
  bool causal = true;      // query j sees tokens [0, context_len - query_len + j]; else all
  int32_t sm_count = 132;  // the device's multiprocessors (cudaDevAttrMultiProcessorCount)
};

// The largest batch the workspace is sized for.
struct AttentionLimits {
  int32_t max_sequences = 0;
  int64_t max_query_rows = 0;  // sum of query_len
  int64_t max_pages = 0;       // sum over sequences of ceil(context_len / block_size)
  // Partial (split) outputs, one per query row: [heads, head_dim] floats and their
  // log-sum-exps. Prefill tiles whose keys split take theirs first, decode splits the rest;
  // 0 picks MaxPartials' default.
  int32_t max_partials = 0;
};

// The partial outputs a plan may keep: limits.max_partials, or when 0, 8 per SM for decode
// splits plus up to 2048 rows (at most twice max_query_rows) for prefill key splits.
int32_t MaxPartials(const AttentionConfig& config, const AttentionLimits& limits);

size_t AttentionWorkspaceBytes(const AttentionConfig& config, const AttentionLimits& limits);

class AttentionPlan {
 public:
  // Plans `sequences` (block tables on the host). O(sequences + pages). Fails on a batch
  // outside `limits` or an inconsistent sequence (query_len > context_len, short table).
  absl::Status Build(const AttentionConfig& config, const AttentionLimits& limits,
                     std::span<const AttentionSequence> sequences);

  // Enqueues the copy of the plan's metadata into `workspace` (AttentionWorkspaceBytes
  // long, 256-byte aligned): only the used part of each array travels.
  void Upload(void* workspace, cudaStream_t stream) const;

  // Tokens per decode split chosen for this batch, and the partial outputs in use.
  int32_t decode_chunk_tokens() const { return decode_chunk_tokens_; }
  int32_t num_partials() const { return num_partials_; }
  // Prefill tiles whose keys were split, and the partial outputs they use.
  int32_t num_split_prefill_tiles() const { return num_split_tiles_; }
  int32_t prefill_partials() const { return prefill_partials_; }

  // Layout of the metadata; read by the launch code.
  struct Layout {
    size_t seq_q_begin = 0, seq_q_len = 0, seq_ctx_len = 0, seq_page_begin = 0;  // int32[S]
    size_t pages = 0;                                                            // int32[P]
    size_t page_precision = 0;  // uint8[P]: 1 where the page is int8 (kv_quant.h)
    // int4 {sequence, tile, split | splits << 16, first partial of the tile or -1}
    size_t prefill_items = 0;
    // int4 {sequence, first partial, splits, query row within the sequence}: one per
    // query row of a split prefill tile
    size_t prefill_reduce_items = 0;
    size_t decode_items = 0;   // int4 {sequence, token_begin, token_end, partial or -1}
    size_t reduce_items = 0;   // int4 {sequence, first partial, splits, 0}
    size_t generic_items = 0;  // int2 {sequence, query row within it}
    size_t partial_out = 0;    // float[max_partials, heads, head_dim] (byte offset)
    size_t partial_lse = 0;    // float[max_partials, heads] (byte offset)
    size_t metadata_bytes = 0;
  };
  static Layout MakeLayout(const AttentionConfig& config, const AttentionLimits& limits);

  const AttentionConfig& config() const { return config_; }
  const Layout& layout() const { return layout_; }
  int32_t num_prefill_items() const { return num_prefill_; }
  int32_t num_prefill_reduce_items() const { return num_prefill_reduce_; }
  int32_t num_decode_items() const { return num_decode_; }
  int32_t num_reduce_items() const { return num_reduce_; }
  int32_t num_generic_items() const { return num_generic_; }
  int32_t decode_head_chunks() const { return decode_head_chunks_; }
  // Whether some page of the batch is int8 (then the page flags are uploaded and used).
  bool int8_pages() const { return int8_pages_; }

 private:
  AttentionConfig config_;
  Layout layout_;
  std::vector<int32_t> host_;  // metadata_bytes / 4 words, in Layout order
  int32_t num_prefill_ = 0, num_decode_ = 0, num_reduce_ = 0, num_generic_ = 0;
  int32_t num_partials_ = 0;
  int32_t num_prefill_reduce_ = 0, num_split_tiles_ = 0, prefill_partials_ = 0;
  size_t num_seqs_ = 0, num_pages_ = 0;
  int32_t decode_chunk_tokens_ = 0;
  int32_t decode_head_chunks_ = 1;
  bool int8_pages_ = false;
};

// out[r, h, :] = softmax(q[r, h, :] . K^T * scale) V over each sequence's cache, as
// cpu::PagedAttention. q rows are q_row_stride elements apart ([rows, heads, head_dim]
// inside, e.g. the fused QKV output); out is [rows, heads, head_dim]. `workspace` is the
// one the plan was uploaded to; the cache must match the plan's config.
void PagedAttention(const AttentionPlan& plan, void* workspace, const bf16* q, int64_t q_row_stride,
                    const PagedKvCache& cache, float scale, bf16* out, cudaStream_t stream);

// Heavy-hitter scores (cache/eviction_policy.h): for each item {sequence index in the plan,
// offset}, mass[offset + b] += the softmax probability mass that KV block b of the
// sequence's context receives from its LAST query row, summed over heads; as
// cpu::PagedAttention with block_mass set and mass_rows = 1. Run after the layer's
// PagedAttention with the same plan, workspace, q and cache; `items` and `mass` are device
// arrays, `scratch` AttentionMassScratchBytes(config, num_items) long. Rereads the keys of
// the listed sequences (two passes); launches nothing for num_items == 0. Heads are summed
// with atomicAdd: the last bits may differ from run to run. An item whose offset is
// negative adds no mass (it is listed for its statistics only; `mass` may then be null).
// With `stats` set, the same passes also write the score statistics of each item's last
// row, as cpu::AttentionSequence::score_stats (softmax entropy in nats, the scaled scores'
// variance and excess kurtosis, averaged over heads): item i's three floats at
// stats[i * stats_stride], overwritten; deterministic (fixed summation order). Costs a
// small third launch, a block per item.
size_t AttentionMassScratchBytes(const AttentionConfig& config, int32_t max_items);
void AccumulateAttentionMass(const AttentionPlan& plan, const void* workspace, const bf16* q,
                             int64_t q_row_stride, const PagedKvCache& cache, float scale,
                             const int2* items, int32_t num_items, float* scratch, float* mass,
                             cudaStream_t stream, float* stats = nullptr,
                             int64_t stats_stride = 3);

}  // namespace strata::kernels::cuda
