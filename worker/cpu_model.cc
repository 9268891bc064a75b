#include "worker/cpu_model.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "base/status_macros.h"
#include "kernels/cpu/kv_quant.h"
#include "kernels/cpu/moe.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/paged_attention.h"
#include "worker/layer_split.h"
#include "worker/memory_plan.h"
#include "worker/rope.h"

namespace strata::worker {

namespace cpu = kernels::cpu;

absl::StatusOr<std::unique_ptr<CpuModel>> CpuModel::Load(const std::string& model_dir,
                                                         KvCacheShape kv_shape,
                                                         int32_t logits_chunk_rows) {
  STRATA_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> checkpoint, Checkpoint::Open(model_dir));
  STRATA_ASSIGN_OR_RETURN(ModelWeights weights, LoadModelWeights(*checkpoint, config));
  return std::make_unique<CpuModel>(std::move(config), std::move(weights), kv_shape,
                                    logits_chunk_rows);
}

CpuModel::CpuModel(ModelConfig config, ModelWeights weights, KvCacheShape kv_shape,
                   int32_t logits_chunk_rows)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      kv_shape_(kv_shape),
      logits_chunk_rows_(logits_chunk_rows),
      inv_freq_(RopeInverseFrequencies(config_)) {
  STRATA_CHECK_GT(logits_chunk_rows_, 0);
  const int64_t per_layer = int64_t{kv_shape_.num_blocks} * kv_shape_.block_size *
                            config_.num_key_value_heads * config_.head_dim;
  kv_cache_.resize(config_.num_hidden_layers);
  for (auto& layer : kv_cache_) layer.assign(2 * per_layer, 0.0f);
}

int64_t CpuModel::KvBytesPerToken() const {
  return 2 * config_.num_hidden_layers * config_.num_key_value_heads * config_.head_dim *
         int64_t{sizeof(float)};
}

int64_t CpuModel::KvBlockFloats() const {
  return int64_t{kv_shape_.block_size} * config_.num_key_value_heads * config_.head_dim;
}

std::span<float> CpuModel::KvBlock(int layer, bool value, int32_t block) {
  const int64_t per_kv = int64_t{kv_shape_.num_blocks} * KvBlockFloats();
  float* base = kv_cache_[layer].data() + (value ? per_kv : 0);
  return {base + int64_t{block} * KvBlockFloats(), static_cast<size_t>(KvBlockFloats())};
}

absl::Status CpuModel::Validate(std::span<const SequenceSlice> sequences) const {
  for (size_t s = 0; s < sequences.size(); ++s) {
    const SequenceSlice& seq = sequences[s];
    for (int32_t token : seq.tokens) {
      if (token < 0 || token >= config_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": token id ", token,
                                                       " outside the vocabulary [0, ",
                                                       config_.vocab_size, ")"));
      }
    }
    const int64_t total = seq.start_position + static_cast<int64_t>(seq.tokens.size());
    const int64_t blocks = (total + kv_shape_.block_size - 1) / kv_shape_.block_size;
    if (static_cast<int64_t>(seq.block_table.size()) < blocks) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": block table holds ",
                                                     seq.block_table.size(), " blocks, ", blocks,
                                                     " needed for ", total, " tokens"));
    }
    if (!seq.attention_mass.empty() && static_cast<int64_t>(seq.attention_mass.size()) < blocks) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": attention mass holds ",
                                                     seq.attention_mass.size(), " entries, ",
                                                     blocks, " needed"));
    }
    for (int32_t block : seq.block_table) {
      if (block < 0 || block >= kv_shape_.num_blocks) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": block id ", block, " out of range"));
      }
    }
    if (!seq.block_precision.empty() && static_cast<int64_t>(seq.block_precision.size()) < blocks) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": block precision holds ",
                                                     seq.block_precision.size(), " entries, ",
                                                     blocks, " needed"));
    }
    for (int32_t block : seq.quantize_blocks) {
      if (block < 0 || block >= kv_shape_.num_blocks) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": block id ", block, " to quantize out of range"));
      }
    }
    if (!seq.attention_stats.empty() &&
        static_cast<int64_t>(seq.attention_stats.size()) < 3 * config_.num_hidden_layers) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": attention stats hold ",
                                                     seq.attention_stats.size(), " floats, ",
                                                     3 * config_.num_hidden_layers, " needed"));
    }
  }
  return absl::OkStatus();
}

absl::Status CpuModel::Forward(std::span<const SequenceSlice> sequences,
                               std::vector<float>* logits) {
  STRATA_RETURN_IF_ERROR(Validate(sequences));
  const auto num_layers = static_cast<int32_t>(config_.num_hidden_layers);
  STRATA_ASSIGN_OR_RETURN(
      const LayerSplit split,
      SplitLayers(
          sequences.size(), [&](size_t i) -> const SequenceSlice& { return sequences[i]; },
          num_layers));
  const int64_t hidden = config_.hidden_size;
  if (split.partial_resumes()) {
    for (size_t i = split.full_sequences; i < sequences.size(); ++i) {
      const SequenceSlice& s = sequences[i];
      auto it = carried_.find(s.sequence_id);
      if (it == carried_.end() ||
          it->second.size() != s.tokens.size() * static_cast<size_t>(hidden)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sequence ", i, ": no hidden states carried for ", s.tokens.size(),
            " tokens of sequence ", s.sequence_id, " to resume at layer ", s.layer_begin));
      }
    }
  }
  // Blocks the budget just turned to int8: every layer's K and V, before anything reads them.
  const cpu::KvBlockShape block_shape{kv_shape_.block_size, config_.num_key_value_heads,
                                      config_.head_dim};
  for (const SequenceSlice& s : sequences) {
    for (int32_t block : s.quantize_blocks) {
      for (int32_t layer = 0; layer < num_layers; ++layer) {
        cpu::QuantizeBlockInPlace(KvBlock(layer, false, block).data(), block_shape);
        cpu::QuantizeBlockInPlace(KvBlock(layer, true, block).data(), block_shape);
      }
    }
  }
  int64_t rows = 0;
  for (const SequenceSlice& s : sequences) rows += s.tokens.size();
  positions_.clear();
  slots_.clear();
  std::vector<int32_t> tokens;
  tokens.reserve(rows);
  for (const SequenceSlice& s : sequences) {
    tokens.insert(tokens.end(), s.tokens.begin(), s.tokens.end());
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      const int64_t position = s.start_position + static_cast<int64_t>(i);
      positions_.push_back(s.position_offset + position);
      slots_.push_back(int64_t{s.block_table[position / kv_shape_.block_size]} *
                           kv_shape_.block_size +
                       position % kv_shape_.block_size);
    }
  }
  residual_.resize(rows * hidden);
  normed_.resize(rows * hidden);
  proj_.assign(rows * hidden, 0.0f);
  // Rows entering at layer 0 start from their embeddings, resumed ones from their carry.
  const int64_t embedded = split.partial_resumes() ? split.full_rows : rows;
  cpu::EmbeddingGather(weights_.embed.data(), hidden,
                       std::span<const int32_t>(tokens).first(embedded), residual_.data());
  for (size_t i = split.full_sequences, row = split.full_rows;
       split.partial_resumes() && i < sequences.size(); row += sequences[i++].tokens.size()) {
    auto carried = carried_.extract(sequences[i].sequence_id);
    std::ranges::copy(carried.mapped(), residual_.begin() + row * hidden);
  }
  // Each layer runs over the prefix of slices (and rows) active at it.
  for (int32_t layer = 0; layer < num_layers; ++layer) {
    const int64_t active_rows = split.rows_at(layer);
    if (active_rows > 0) RunLayer(layer, active_rows, sequences.first(split.sequences_at(layer)));
  }
  // Rows that stop short of the last layer fold their last MLP output into the residual
  // and are carried to their next slice.
  if (split.partial_carries()) {
    for (size_t i = split.full_sequences, row = split.full_rows; i < sequences.size();
         row += sequences[i++].tokens.size()) {
      const int64_t n = static_cast<int64_t>(sequences[i].tokens.size());
      std::vector<float>& carry = carried_[sequences[i].sequence_id];
      carry.resize(n * hidden);
      for (int64_t j = 0; j < n * hidden; ++j) {
        carry[j] = residual_[row * hidden + j] + proj_[row * hidden + j];
      }
    }
  }
  // The last layer's MLP output is still in proj_: add it and apply the final norm.
  cpu::AddRmsNorm(residual_.data(), proj_.data(), weights_.final_norm.data(), split.final_rows(),
                  hidden, config_.rms_norm_eps, normed_.data());

  // Gather the rows that need logits, then project them in bounded chunks.
  std::vector<int64_t> wanted;
  int64_t row = 0;
  for (const SequenceSlice& s : sequences) {
    const int64_t n = s.tokens.size();
    if (s.logits == LogitsMode::kAll) {
      for (int64_t i = 0; i < n; ++i) wanted.push_back(row + i);
    } else if (s.logits == LogitsMode::kLast && n > 0) {
      wanted.push_back(row + n - 1);
    }
    row += n;
  }
  const int64_t vocab = config_.vocab_size;
  logits->resize(wanted.size() * vocab);
  std::vector<float> gathered(std::min<int64_t>(wanted.size(), logits_chunk_rows_) * hidden);
  for (size_t begin = 0; begin < wanted.size(); begin += logits_chunk_rows_) {
    const size_t count = std::min<size_t>(logits_chunk_rows_, wanted.size() - begin);
    for (size_t i = 0; i < count; ++i) {
      std::memcpy(gathered.data() + i * hidden, normed_.data() + wanted[begin + i] * hidden,
                  hidden * sizeof(float));
    }
    cpu::Linear(gathered.data(), count, hidden, weights_.output_projection().data(), vocab, nullptr,
                logits->data() + begin * vocab);
  }
  return absl::OkStatus();
}

void CpuModel::RunLayer(int layer, int64_t rows, std::span<const SequenceSlice> sequences) {
  const LayerWeights& w = weights_.layers[layer];
  const int64_t hidden = config_.hidden_size, inter = config_.intermediate_size;
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  const int64_t dim = config_.head_dim;
  const int64_t q_width = heads * dim, kv_width = kv_heads * dim;
  const int64_t qkv_width = q_width + 2 * kv_width;
  const float eps = static_cast<float>(config_.rms_norm_eps);

  // proj_ holds the previous layer's MLP output (zeros before layer 0).
  cpu::AddRmsNorm(residual_.data(), proj_.data(), w.input_norm.data(), rows, hidden, eps,
                  normed_.data());

  qkv_.resize(rows * qkv_width);
  cpu::Linear(normed_.data(), rows, hidden, w.qkv.data(), qkv_width,
              w.qkv_bias.empty() ? nullptr : w.qkv_bias.data(), qkv_.data());
  q_.resize(rows * q_width);
  k_.resize(rows * kv_width);
  v_.resize(rows * kv_width);
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = qkv_.data() + r * qkv_width;
    std::memcpy(q_.data() + r * q_width, src, q_width * sizeof(float));
    std::memcpy(k_.data() + r * kv_width, src + q_width, kv_width * sizeof(float));
    std::memcpy(v_.data() + r * kv_width, src + q_width + kv_width, kv_width * sizeof(float));
  }
  if (config_.qk_norm) {
    cpu::RmsNorm(q_.data(), w.q_norm.data(), rows * heads, dim, eps, q_.data());
    cpu::RmsNorm(k_.data(), w.k_norm.data(), rows * kv_heads, dim, eps, k_.data());
  }
  // The first `rows` tokens are the ones active at this layer (layered prefill).
  const auto positions = std::span<const int64_t>(positions_).first(rows);
  cpu::ApplyRope(q_.data(), rows, heads, dim, positions, inv_freq_);
  cpu::ApplyRope(k_.data(), rows, kv_heads, dim, positions, inv_freq_);

  const int64_t per_kv = int64_t{kv_shape_.num_blocks} * kv_shape_.block_size * kv_width;
  cpu::PagedKvLayer cache{kv_cache_[layer].data(), kv_cache_[layer].data() + per_kv,
                          kv_shape_.block_size, kv_heads, dim};
  cpu::WritePagedKv(cache, k_.data(), v_.data(), std::span<const int64_t>(slots_).first(rows));
  std::vector<cpu::AttentionSequence> attention;
  int64_t begin = 0;
  for (const SequenceSlice& s : sequences) {
    const int64_t n = s.tokens.size();
    // Heavy-hitter scores: the last new row's mass (see SequenceSlice::attention_mass).
    attention.push_back({begin, n, s.start_position + n, s.block_table, s.attention_mass,
                         s.attention_mass.empty() ? 0 : 1, s.block_precision,
                         s.attention_stats.empty() ? std::span<float>()
                                                   : s.attention_stats.subspan(3 * layer, 3)});
    begin += n;
  }
  attn_.resize(rows * q_width);
  cpu::PagedAttention(q_.data(), cache, attention, heads, 1.0f / std::sqrt(float(dim)),
                      /*causal=*/true, attn_.data());
  cpu::Linear(attn_.data(), rows, q_width, w.o.data(), hidden,
              w.o_bias.empty() ? nullptr : w.o_bias.data(), proj_.data());

  cpu::AddRmsNorm(residual_.data(), proj_.data(), w.post_norm.data(), rows, hidden, eps,
                  normed_.data());
  if (w.sparse()) {
    RunExperts(w, rows);
    return;
  }
  gate_up_.resize(rows * 2 * inter);
  cpu::Linear(normed_.data(), rows, hidden, w.gate_up.data(), 2 * inter,
              w.gate_up_bias.empty() ? nullptr : w.gate_up_bias.data(), gate_up_.data());
  act_.resize(rows * inter);
  cpu::SiluAndMul(gate_up_.data(), rows, inter, act_.data());
  cpu::Linear(act_.data(), rows, inter, w.down.data(), hidden,
              w.down_bias.empty() ? nullptr : w.down_bias.data(), proj_.data());
}

void CpuModel::RunExperts(const LayerWeights& w, int64_t rows) {
  const cpu::MoeWeights moe{.router = w.router.data(),
                            .gate_up = w.expert_gate_up.data(),
                            .down = w.expert_down.data(),
                            .experts = config_.num_experts,
                            .top_k = config_.num_experts_per_tok,
                            .inter = config_.moe_intermediate_size,
                            .norm_topk_prob = config_.norm_topk_prob};
  const int64_t activated = cpu::MoeFeedForward(normed_.data(), rows, config_.hidden_size, moe,
                                                &moe_scratch_, proj_.data());
  expert_weight_bytes_read_ += activated * ExpertWeightBytes(config_, sizeof(float));
}

}  // namespace strata::worker
