// Shared between the attention plan/dispatch (host) and the attention kernels (.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda::internal {

constexpr int kPrefillTileRows = 128;  // packed (query row, group head) pairs per tile
constexpr int kPrefillTileKeys = 64;  // keys per step of a prefill tile
// Prefill key splits: a tile's keys split when tiles x kv heads fall short of this many
// waves of resident blocks and the longest tile would run 1.5x the even share of their
// steps (PrefillSplitSteps), into chunks of at least kPrefillMinSplitKeyTiles steps.
constexpr int kPrefillWaves = 3;
constexpr int kPrefillMinSplitKeyTiles = 8;
constexpr int kDecodeMaxGroup = 8;    // query heads one decode block serves
constexpr int kDecodeMinChunk = 128;  // smallest decode split, in tokens
constexpr int kDecodeWaves = 2;       // decode splits aim at this many full waves

// Device views of the uploaded plan and of the call's tensors.
struct AttentionArgs {
  const int32_t* seq_q_begin;
  const int32_t* seq_q_len;
  const int32_t* seq_ctx_len;
  const int32_t* seq_page_begin;
  const int32_t* pages;
  // Per page of `pages`: 1 when the page holds the int8 format of kv_quant.h, else 0;
  // nullptr when every page is bf16 (the kernels then take their bf16-only variants).
  const uint8_t* page_int8;
  const bf16* q;
  int64_t q_stride;
  PagedKvCache cache;
  bf16* out;
  float* partial_out;  // [max_partials, heads, head_dim]
  float* partial_lse;  // [max_partials, heads], log2 domain
  float scale_log2;    // scale * log2(e): scores go through exp2
  int32_t heads;
  int32_t group;  // heads / kv_heads
  bool causal;
};

// Whether the tensor-core prefill kernel serves head_dim on the current device (else the
// generic kernel takes prefill rows).
bool PrefillFastPath(int head_dim);
bool DecodeFastPath(int head_dim);
// Resident decode blocks per multiprocessor for this shape (occupancy query, cached).
int DecodeBlocksPerSm(int head_dim, int group);
// Resident prefill blocks per multiprocessor (bf16 pages; occupancy query, cached).
int PrefillBlocksPerSm(int head_dim);

// items: int4 {sequence, tile, split | splits << 16, first partial or -1}; grid (items,
// kv_heads). A split tile covers its share of the tile's key steps and writes a partial
// per (query row, split) at first + row_in_tile * splits + split.
void LaunchPrefill(const AttentionArgs& args, const int4* items, int num_items,
                   cudaStream_t stream);
// items: int4 {sequence, token_begin, token_end, partial or -1}; grid
// (items, kv_heads * head_chunks).
void LaunchDecode(const AttentionArgs& args, const int4* items, int num_items, int head_chunks,
                  cudaStream_t stream);
// Merges split outputs into out's row seq_q_begin[sequence] + row. items: int4
// {sequence, first partial, splits, row}; grid (items, heads). Serves decode and prefill.
void LaunchSplitReduce(const AttentionArgs& args, const int4* items, int num_items,
                       cudaStream_t stream);
// items: int2 {sequence, query row within it}; any head_dim (even, <= 512).
void LaunchGeneric(const AttentionArgs& args, const int2* items, int num_items,
                   cudaStream_t stream);

}  // namespace strata::kernels::cuda::internal
