// Host side of paged attention: the per-batch plan, its upload and the per-layer dispatch.
#include <algorithm>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "kernels/cpu/kv_quant.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/cuda_check.h"

namespace strata::kernels::cuda {
namespace {

using internal::kDecodeMaxGroup;
using internal::kDecodeMinChunk;
using internal::kDecodeWaves;
using internal::kPrefillMinSplitKeyTiles;
using internal::kPrefillTileKeys;
using internal::kPrefillTileRows;
using internal::kPrefillWaves;

size_t RoundUp(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

absl::Status ValidateConfig(const AttentionConfig& c) {
  if (c.heads <= 0 || c.kv_heads <= 0 || c.heads % c.kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: heads ", c.heads, " not a multiple of kv_heads ", c.kv_heads));
  }
  if (c.head_dim <= 0 || c.head_dim % 8 != 0 || c.head_dim > 512) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: head_dim ", c.head_dim, " must be a multiple of 8, <= 512"));
  }
  if (c.block_size <= 0 || c.sm_count <= 0) {
    return absl::InvalidArgumentError("attention: block_size and sm_count must be positive");
  }
  return absl::OkStatus();
}

// Key steps per split of the batch's prefill tiles ({key steps, query rows} each, longest
// first), or 0 for none. Splits pay a partial per query row and split and a reduce, so
// they are taken only when the tiles x kv heads leave the GPU's resident blocks short of
// kPrefillWaves waves and the longest tile would set the batch's time: the chunk then aims
// at that many waves of blocks, never below kPrefillMinSplitKeyTiles steps, and doubles
// until the tiles' partials fit.
int64_t PrefillSplitSteps(const AttentionConfig& config, int32_t max_partials,
                          std::span<const std::pair<int64_t, int64_t>> tiles) {
  const int group = config.heads / config.kv_heads;
  if (tiles.empty() || kPrefillTileRows % group != 0) return 0;  // tiles hold whole rows
  const int64_t resident = int64_t{config.sm_count} * internal::PrefillBlocksPerSm(config.head_dim);
  const int64_t target = resident * kPrefillWaves;
  if (static_cast<int64_t>(tiles.size()) * config.kv_heads >= target) return 0;
  int64_t steps = 0;
  for (const auto& [tile_steps, rows] : tiles) steps += tile_steps;
  // Unsplit, the batch takes about as long as its longest tile, or its even share of the
  // resident blocks' steps if that is longer. Splits pay partials and a reduce, so they are
  // taken only when the longest tile runs half as long again as that share.
  const int64_t longest = tiles.front().first;
  const int64_t even_share = (steps * config.kv_heads + resident - 1) / resident;
  if (2 * longest <= 3 * even_share) return 0;
  int64_t chunk =
      std::max<int64_t>(kPrefillMinSplitKeyTiles, (steps * config.kv_heads + target - 1) / target);
  auto partials = [&](int64_t c) {
    int64_t total = 0;
    for (const auto& [tile_steps, rows] : tiles) {
      const int64_t splits = (tile_steps + c - 1) / c;
      if (splits > 1) total += splits * rows;
    }
    return total;
  };
  while (chunk < longest && partials(chunk) > max_partials) chunk *= 2;
  return chunk < longest ? chunk : 0;
}

}  // namespace

int32_t MaxPartials(const AttentionConfig& config, const AttentionLimits& limits) {
  if (limits.max_partials > 0) return limits.max_partials;
  return 8 * config.sm_count +
         static_cast<int32_t>(std::min<int64_t>(2 * limits.max_query_rows, 2048));
}

AttentionPlan::Layout AttentionPlan::MakeLayout(const AttentionConfig& config,
                                                const AttentionLimits& limits) {
  const int64_t group = config.kv_heads > 0 ? config.heads / config.kv_heads : 1;
  const int64_t sequences = limits.max_sequences;
  const int64_t partials = MaxPartials(config, limits);
  const int64_t prefill_items =
      (limits.max_query_rows * group + kPrefillTileRows - 1) / kPrefillTileRows + sequences;
  Layout layout;
  size_t words = 0;
  auto take = [&words](int64_t count, size_t align_words) {
    words = RoundUp(words, align_words);
    const size_t at = words * sizeof(int32_t);
    words += static_cast<size_t>(count);
    return at;
  };
  layout.seq_q_begin = take(sequences, 4);
  layout.seq_q_len = take(sequences, 4);
  layout.seq_ctx_len = take(sequences, 4);
  layout.seq_page_begin = take(sequences, 4);
  layout.pages = take(limits.max_pages, 4);
  layout.page_precision = take((limits.max_pages + 3) / 4, 4);
  layout.prefill_items = take(4 * (prefill_items + partials), 4);
  layout.prefill_reduce_items = take(4 * (partials / 2 + 1), 4);
  layout.decode_items = take(4 * (sequences + partials), 4);
  layout.reduce_items = take(4 * sequences, 4);
  layout.generic_items = take(2 * limits.max_query_rows, 4);
  layout.metadata_bytes = RoundUp(words * sizeof(int32_t), 256);
  layout.partial_out = layout.metadata_bytes;
  layout.partial_lse =
      layout.partial_out +
      RoundUp(static_cast<size_t>(partials) * config.heads * config.head_dim * sizeof(float), 256);
  return layout;
}

size_t AttentionWorkspaceBytes(const AttentionConfig& config, const AttentionLimits& limits) {
  const AttentionPlan::Layout layout = AttentionPlan::MakeLayout(config, limits);
  return layout.partial_lse +
         RoundUp(static_cast<size_t>(MaxPartials(config, limits)) * config.heads * sizeof(float),
                 256);
}

absl::Status AttentionPlan::Build(const AttentionConfig& config, const AttentionLimits& limits,
                                  std::span<const AttentionSequence> sequences) {
  if (absl::Status status = ValidateConfig(config); !status.ok()) return status;
  config_ = config;
  layout_ = MakeLayout(config, limits);
  const int32_t num_seqs = static_cast<int32_t>(sequences.size());
  if (num_seqs > limits.max_sequences) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: ", num_seqs, " sequences, limit ", limits.max_sequences));
  }
  // Only the used prefix of each array is written and uploaded.
  host_.resize(layout_.metadata_bytes / sizeof(int32_t));
  auto at = [this](size_t byte_offset) { return host_.data() + byte_offset / sizeof(int32_t); };
  int32_t* q_begin = at(layout_.seq_q_begin);
  int32_t* q_len = at(layout_.seq_q_len);
  int32_t* ctx_len = at(layout_.seq_ctx_len);
  int32_t* page_begin = at(layout_.seq_page_begin);
  int32_t* pages = at(layout_.pages);
  uint8_t* page_int8 = reinterpret_cast<uint8_t*>(at(layout_.page_precision));
  int8_pages_ = false;

  const int group = config.heads / config.kv_heads;
  const bool fast_prefill = internal::PrefillFastPath(config.head_dim);
  const bool fast_decode = internal::DecodeFastPath(config.head_dim);
  struct Tile {
    int32_t seq, tile;
    int64_t cost;  // keys the tile's last row sees
  };
  std::vector<Tile> tiles;
  std::vector<int32_t> decode_seqs;
  int64_t total_rows = 0, total_pages = 0;
  num_generic_ = 0;
  int32_t* generic = at(layout_.generic_items);
  for (int32_t s = 0; s < num_seqs; ++s) {
    const AttentionSequence& seq = sequences[s];
    const int64_t needed_pages = (seq.context_len + config.block_size - 1) / config.block_size;
    if (seq.query_len < 0 || seq.query_len > seq.context_len ||
        static_cast<int64_t>(seq.block_table.size()) < needed_pages) {
      return absl::InvalidArgumentError(
          absl::StrCat("attention: sequence ", s, " has query_len ", seq.query_len,
                       ", context_len ", seq.context_len, ", ", seq.block_table.size(), " blocks"));
    }
    total_rows += seq.query_len;
    if (total_rows > limits.max_query_rows || total_pages + needed_pages > limits.max_pages) {
      return absl::InvalidArgumentError(
          absl::StrCat("attention: batch over its limits (query rows ", limits.max_query_rows,
                       ", pages ", limits.max_pages, ")"));
    }
    q_begin[s] = static_cast<int32_t>(seq.query_begin);
    q_len[s] = static_cast<int32_t>(seq.query_len);
    ctx_len[s] = static_cast<int32_t>(seq.context_len);
    page_begin[s] = static_cast<int32_t>(total_pages);
    std::copy_n(seq.block_table.begin(), needed_pages, pages + total_pages);
    // Page flags: written from the first int8 page of the batch on (zeros before it).
    const auto flagged = static_cast<int64_t>(
        std::min<size_t>(seq.block_precision.size(), static_cast<size_t>(needed_pages)));
    if (!int8_pages_ &&
        std::any_of(seq.block_precision.begin(), seq.block_precision.begin() + flagged,
                    [](uint8_t p) { return p == cpu::kKvInt8; })) {
      std::fill_n(page_int8, total_pages, uint8_t{0});
      int8_pages_ = true;
    }
    if (int8_pages_) {
      for (int64_t i = 0; i < needed_pages; ++i) {
        page_int8[total_pages + i] = i < flagged && seq.block_precision[i] == cpu::kKvInt8;
      }
    }
    total_pages += needed_pages;
    if (seq.query_len == 0) continue;
    if (seq.query_len == 1 && fast_decode) {
      decode_seqs.push_back(s);
    } else if (fast_prefill) {
      const int64_t rows = seq.query_len * group;
      for (int64_t t = 0; t * kPrefillTileRows < rows; ++t) {
        const int64_t last_token = (std::min(rows, (t + 1) * kPrefillTileRows) - 1) / group;
        const int64_t keys =
            config.causal ? seq.context_len - seq.query_len + last_token + 1 : seq.context_len;
        tiles.push_back({s, static_cast<int32_t>(t), keys});
      }
    } else {
      for (int64_t j = 0; j < seq.query_len; ++j) {
        generic[2 * num_generic_] = s;
        generic[2 * num_generic_ + 1] = static_cast<int32_t>(j);
        ++num_generic_;
      }
    }
  }
  // The longest tiles start first so that short ones fill the tail.
  std::stable_sort(tiles.begin(), tiles.end(),
                   [](const Tile& a, const Tile& b) { return a.cost > b.cost; });
  const int32_t max_partials = MaxPartials(config, limits);
  std::vector<std::pair<int64_t, int64_t>> shapes;  // {key steps, query rows} per tile
  for (const Tile& t : tiles) {
    const int64_t packed = std::min<int64_t>(
        kPrefillTileRows, int64_t{q_len[t.seq]} * group - int64_t{t.tile} * kPrefillTileRows);
    shapes.push_back({(t.cost + kPrefillTileKeys - 1) / kPrefillTileKeys, packed / group});
  }
  const int64_t split_steps = PrefillSplitSteps(config, max_partials, shapes);
  num_prefill_ = num_prefill_reduce_ = num_split_tiles_ = 0;
  num_partials_ = 0;
  int32_t* prefill = at(layout_.prefill_items);
  int32_t* prefill_reduce = at(layout_.prefill_reduce_items);
  for (size_t i = 0; i < tiles.size(); ++i) {
    const Tile& t = tiles[i];
    const auto [steps, rows] = shapes[i];
    const int32_t splits =
        split_steps > 0 ? static_cast<int32_t>((steps + split_steps - 1) / split_steps) : 1;
    const int32_t first = splits > 1 ? num_partials_ : -1;
    for (int32_t split = 0; split < splits; ++split) {
      int32_t* item = prefill + 4 * num_prefill_++;
      item[0] = t.seq, item[1] = t.tile, item[2] = split | splits << 16, item[3] = first;
    }
    if (splits == 1) continue;
    ++num_split_tiles_;
    // A split tile holds whole query rows (PrefillSplitSteps).
    const auto row_begin = static_cast<int32_t>(int64_t{t.tile} * kPrefillTileRows / group);
    for (int32_t row = row_begin; row < row_begin + rows; ++row) {
      int32_t* r = prefill_reduce + 4 * num_prefill_reduce_++;
      r[0] = t.seq, r[1] = num_partials_, r[2] = splits, r[3] = row;
      num_partials_ += splits;
    }
  }
  prefill_partials_ = num_partials_;

  num_seqs_ = static_cast<size_t>(num_seqs);
  num_pages_ = static_cast<size_t>(total_pages);

  // Decode splits: chunks sized so that (chunks x kv heads x head chunks) fills the GPU's
  // resident blocks kDecodeWaves times over, never under kDecodeMinChunk tokens, and
  // doubled until the partial outputs fit their workspace. A sequence's splits are equal.
  decode_head_chunks_ = (group + kDecodeMaxGroup - 1) / kDecodeMaxGroup;
  num_decode_ = num_reduce_ = 0;
  decode_chunk_tokens_ = 0;
  if (!decode_seqs.empty()) {
    const int64_t units = int64_t{config.kv_heads} * decode_head_chunks_;
    int64_t total_tokens = 0;
    for (int32_t s : decode_seqs) total_tokens += ctx_len[s];
    const int64_t target_blocks = int64_t{config.sm_count} * kDecodeWaves *
                                  internal::DecodeBlocksPerSm(config.head_dim, group);
    int64_t chunk = std::max<int64_t>(kDecodeMinChunk,
                                      (total_tokens * units + target_blocks - 1) / target_blocks);
    const int32_t decode_partials = max_partials - prefill_partials_;
    auto count_partials = [&](int64_t c) {
      int64_t partials = 0;
      for (int32_t s : decode_seqs) {
        const int64_t splits = (ctx_len[s] + c - 1) / c;
        if (splits > 1) partials += splits;
      }
      return partials;
    };
    while (count_partials(chunk) > decode_partials) chunk *= 2;
    decode_chunk_tokens_ = static_cast<int32_t>(chunk);
    int32_t* decode = at(layout_.decode_items);
    int32_t* reduce = at(layout_.reduce_items);
    for (int32_t s : decode_seqs) {
      const int64_t ctx = ctx_len[s];
      const int32_t splits = static_cast<int32_t>((ctx + chunk - 1) / chunk);
      if (splits > 1) {
        int32_t* r = reduce + 4 * num_reduce_++;
        r[0] = s, r[1] = num_partials_, r[2] = splits, r[3] = 0;
      }
      for (int32_t i = 0; i < splits; ++i) {
        int32_t* d = decode + 4 * num_decode_++;
        d[0] = s;
        d[1] = static_cast<int32_t>(ctx * i / splits);
        d[2] = static_cast<int32_t>(ctx * (i + 1) / splits);
        d[3] = splits > 1 ? num_partials_++ : -1;
      }
    }
  }
  return absl::OkStatus();
}

void AttentionPlan::Upload(void* workspace, cudaStream_t stream) const {
  // Copy only the used prefix of each array.
  auto copy = [&](size_t offset, size_t words) {
    if (words == 0) return;
    STRATA_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(workspace) + offset,
                                      host_.data() + offset / sizeof(int32_t),
                                      words * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
  };
  copy(layout_.seq_q_begin, num_seqs_);
  copy(layout_.seq_q_len, num_seqs_);
  copy(layout_.seq_ctx_len, num_seqs_);
  copy(layout_.seq_page_begin, num_seqs_);
  copy(layout_.pages, num_pages_);
  if (int8_pages_) copy(layout_.page_precision, (num_pages_ + 3) / 4);
  copy(layout_.prefill_items, 4 * static_cast<size_t>(num_prefill_));
  copy(layout_.prefill_reduce_items, 4 * static_cast<size_t>(num_prefill_reduce_));
  copy(layout_.decode_items, 4 * static_cast<size_t>(num_decode_));
  copy(layout_.reduce_items, 4 * static_cast<size_t>(num_reduce_));
  copy(layout_.generic_items, 2 * static_cast<size_t>(num_generic_));
}

void PagedAttention(const AttentionPlan& plan, void* workspace, const bf16* q, int64_t q_row_stride,
                    const PagedKvCache& cache, float scale, bf16* out, cudaStream_t stream) {
  const AttentionConfig& config = plan.config();
  const AttentionPlan::Layout& layout = plan.layout();
  STRATA_CHECK(cache.kv_heads == config.kv_heads && cache.head_dim == config.head_dim &&
               cache.block_size == config.block_size)
      << "cache shape differs from the plan's";
  STRATA_CHECK(q_row_stride % 8 == 0 && reinterpret_cast<uintptr_t>(q) % 16 == 0);
  char* ws = static_cast<char*>(workspace);
  internal::AttentionArgs args;
  args.seq_q_begin = reinterpret_cast<const int32_t*>(ws + layout.seq_q_begin);
  args.seq_q_len = reinterpret_cast<const int32_t*>(ws + layout.seq_q_len);
  args.seq_ctx_len = reinterpret_cast<const int32_t*>(ws + layout.seq_ctx_len);
  args.seq_page_begin = reinterpret_cast<const int32_t*>(ws + layout.seq_page_begin);
  args.pages = reinterpret_cast<const int32_t*>(ws + layout.pages);
  args.page_int8 =
      plan.int8_pages() ? reinterpret_cast<const uint8_t*>(ws + layout.page_precision) : nullptr;
  args.q = q;
  args.q_stride = q_row_stride;
  args.cache = cache;
  args.out = out;
  args.partial_out = reinterpret_cast<float*>(ws + layout.partial_out);
  args.partial_lse = reinterpret_cast<float*>(ws + layout.partial_lse);
  args.scale_log2 = scale * 1.4426950408889634f;
  args.heads = config.heads;
  args.group = config.heads / config.kv_heads;
  args.causal = config.causal;
  if (plan.num_prefill_items() > 0) {
    internal::LaunchPrefill(args, reinterpret_cast<const int4*>(ws + layout.prefill_items),
                            plan.num_prefill_items(), stream);
  }
  if (plan.num_prefill_reduce_items() > 0) {
    internal::LaunchSplitReduce(args,
                                reinterpret_cast<const int4*>(ws + layout.prefill_reduce_items),
                                plan.num_prefill_reduce_items(), stream);
  }
  if (plan.num_decode_items() > 0) {
    internal::LaunchDecode(args, reinterpret_cast<const int4*>(ws + layout.decode_items),
                           plan.num_decode_items(), plan.decode_head_chunks(), stream);
  }
  if (plan.num_reduce_items() > 0) {
    internal::LaunchSplitReduce(args, reinterpret_cast<const int4*>(ws + layout.reduce_items),
                                plan.num_reduce_items(), stream);
  }
  if (plan.num_generic_items() > 0) {
    internal::LaunchGeneric(args, reinterpret_cast<const int2*>(ws + layout.generic_items),
                            plan.num_generic_items(), stream);
  }
}

}  // namespace strata::kernels::cuda
