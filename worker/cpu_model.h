// The float32 CPU implementation of Llama / Qwen2 / Qwen3 decoder models over a paged KV
// cache held in host memory. Used by the CPU worker and as the reference for CUDA.
// Not thread-safe: one caller (the worker's thread) at a time.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cpu/moe.h"
#include "worker/forward_batch.h"
#include "worker/model_config.h"
#include "worker/model_weights.h"

namespace strata::worker {

struct KvCacheShape {
  int32_t num_blocks = 0;
  int32_t block_size = 16;
};

class CpuModel {
 public:
  // Loads config.json and the safetensors weights of a Hugging Face model directory.
  static absl::StatusOr<std::unique_ptr<CpuModel>> Load(const std::string& model_dir,
                                                        KvCacheShape kv_shape,
                                                        int32_t logits_chunk_rows);
  CpuModel(ModelConfig config, ModelWeights weights, KvCacheShape kv_shape,
           int32_t logits_chunk_rows);

  const ModelConfig& config() const { return config_; }
  const KvCacheShape& kv_shape() const { return kv_shape_; }
  // Bytes of KV cache per token (all layers, K and V).
  int64_t KvBytesPerToken() const;
  // Floats of one block in one layer's K (or V) cache, and that block's storage.
  int64_t KvBlockFloats() const;
  std::span<float> KvBlock(int layer, bool value, int32_t block);

  // Runs the batch: writes each new token's K/V into its block, and fills `logits` with
  // LogitsRows(sequences) rows of vocab_size floats. InvalidArgument on a bad batch
  // (token id outside the vocabulary, block table too short, block id out of range).
  absl::Status Forward(std::span<const SequenceSlice> sequences, std::vector<float>* logits);

  // Expert weights read by every Forward so far (MoE models; 0 otherwise): per sparse layer
  // and pass, the distinct experts the batch activated times the float32 bytes of one expert.
  int64_t expert_weight_bytes_read() const { return expert_weight_bytes_read_; }

  // Forgets the hidden states carried for `sequence_id` between layered-prefill slices.
  void DiscardCarried(int64_t sequence_id) { carried_.erase(sequence_id); }
  size_t num_carried() const { return carried_.size(); }

 private:
  absl::Status Validate(std::span<const SequenceSlice> sequences) const;
  // A sparse layer's MLP step: normed_ in, proj_ out.
  void RunExperts(const LayerWeights& w, int64_t rows);
  void RunLayer(int layer, int64_t rows, std::span<const SequenceSlice> sequences);

  ModelConfig config_;
  ModelWeights weights_;
  KvCacheShape kv_shape_;
  int32_t logits_chunk_rows_;
  std::vector<float> inv_freq_;
  // Per layer: K then V, each [num_blocks, block_size, kv_heads, head_dim].
  std::vector<std::vector<float>> kv_cache_;

  // Scratch, grown on demand and reused across calls.
  std::vector<float> residual_, normed_, qkv_, q_, k_, v_, attn_, proj_, gate_up_, act_;
  std::vector<int64_t> positions_, slots_;
  // Layered prefill: per sequence, the residual stream of its slice's tokens after the
  // last layer it ran (the MLP output added), waiting for the slice's next layers.
  std::unordered_map<int64_t, std::vector<float>> carried_;
  kernels::cpu::MoeScratch moe_scratch_;
  int64_t expert_weight_bytes_read_ = 0;
};

}  // namespace strata::worker
