#include "worker/cuda_model.h"

#include <cmath>

#include "base/check.h"
#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/kv_quant.h"

namespace strata::worker {

namespace cuda = kernels::cuda;

CudaModel::CudaModel(const ModelConfig& config, DeviceWeights weights,
                     std::vector<cuda::PagedKvCache> kv_layers, cuda::Gemm* gemm,
                     const float* inv_freq, CudaActivations activations, void* attention_workspace,
                     const cuda::AttentionConfig& attention_config,
                     const cuda::AttentionLimits& attention_limits, cudaStream_t stream)
    : config_(config),
      weights_(std::move(weights)),
      kv_(std::move(kv_layers)),
      gemm_(gemm),
      inv_freq_(inv_freq),
      act_(activations),
      attention_workspace_(attention_workspace),
      attention_config_(attention_config),
      layout_(cuda::AttentionPlan::MakeLayout(attention_config, attention_limits)),
      stream_(stream) {
  q_width_ = config_.num_attention_heads * config_.head_dim;
  kv_width_ = config_.num_key_value_heads * config_.head_dim;
  qkv_width_ = q_width_ + 2 * kv_width_;
  eps_ = static_cast<float>(config_.rms_norm_eps);
  scale_ = 1.0f / std::sqrt(static_cast<float>(config_.head_dim));
  STRATA_CHECK_EQ(static_cast<int64_t>(kv_.size()), config_.num_hidden_layers);
}

void CudaModel::RunLayers(int64_t rows, const CudaTokenInputs& inputs,
                          const AttentionDispatch& attention) {
  if (rows == 0) return;
  Embed(rows, inputs);
  RunLayerRange(0, static_cast<int32_t>(config_.num_hidden_layers), rows, inputs, attention);
  FinalNorm(rows);
}

void CudaModel::Embed(int64_t rows, const CudaTokenInputs& inputs) {
  if (rows == 0) return;
  cuda::EmbeddingGather(weights_.embed, config_.hidden_size, inputs.ids, rows, act_.residual,
                        stream_);
}

void CudaModel::RunLayerRange(int32_t begin, int32_t end, int64_t rows,
                              const CudaTokenInputs& inputs, const AttentionDispatch& attention) {
  if (rows == 0) return;
  for (int32_t layer = begin; layer < end; ++layer) RunLayer(layer, rows, inputs, attention);
}

void CudaModel::FoldPendingMlp(int64_t row, int64_t rows) {
  if (rows == 0) return;
  // AddRmsNorm adds proj into the residual stream; its normalized output (into normed's
  // rows of the same tokens) is scratch here.
  const int64_t hidden = config_.hidden_size;
  cuda::AddRmsNorm(act_.residual + row * hidden, act_.proj + row * hidden, weights_.final_norm,
                   rows, hidden, eps_, act_.normed + row * hidden, stream_);
}

void CudaModel::FinalNorm(int64_t rows) {
  if (rows == 0) return;
  // The last layer's MLP output is still in proj: add it and apply the final norm.
  cuda::AddRmsNorm(act_.residual, act_.proj, weights_.final_norm, rows, config_.hidden_size,
                   eps_, act_.normed, stream_);
}

void CudaModel::RunLayer(int layer, int64_t rows, const CudaTokenInputs& inputs,
                         const AttentionDispatch& attention) {
  const DeviceLayerWeights& w = weights_.layers[layer];
  const int64_t hidden = config_.hidden_size, inter = config_.intermediate_size;
  const LayerGemms gemms = GemmsOf(w, rows);
  // proj holds the previous layer's MLP output; nothing to add before layer 0.
  cuda::AddRmsNorm(act_.residual, layer == 0 ? nullptr : act_.proj, w.input_norm, rows, hidden,
                   eps_, act_.normed, stream_);
  gemm_->Run(gemms.qkv, stream_);
  cuda::RopeArgs rope;
  rope.q = act_.qkv;
  rope.q_stride = qkv_width_;
  rope.k = act_.qkv + q_width_;
  rope.k_stride = qkv_width_;
  rope.rows = rows;
  rope.heads = static_cast<int32_t>(config_.num_attention_heads);
  rope.kv_heads = static_cast<int32_t>(config_.num_key_value_heads);
  rope.head_dim = static_cast<int32_t>(config_.head_dim);
  rope.positions = inputs.positions;
  rope.inv_freq = inv_freq_;
  rope.q_norm = w.q_norm;
  rope.k_norm = w.k_norm;
  rope.norm_eps = eps_;
  rope.cache = kv_[layer];
  rope.v = act_.qkv + q_width_ + kv_width_;
  rope.v_stride = qkv_width_;
  rope.slots = inputs.slots;
  cuda::ApplyRope(rope, stream_);
  Attention(layer, rows, attention);
  gemm_->Run(gemms.o, stream_);
  cuda::AddRmsNorm(act_.residual, act_.proj, w.post_norm, rows, hidden, eps_, act_.normed, stream_);
  if (w.router != nullptr) {
    RunExperts(w, rows);
    return;
  }
  gemm_->Run(gemms.gate_up, stream_);
  cuda::SiluAndMul(act_.gate_up, rows, inter, act_.act, stream_);
  gemm_->Run(gemms.down, stream_);
}

void CudaModel::Attention(int layer, int64_t rows, const AttentionDispatch& attention) {
  if (attention.plan != nullptr) {
    cuda::PagedAttention(*attention.plan, attention_workspace_, act_.qkv, qkv_width_, kv_[layer],
                         scale_, act_.attn, stream_);
    if (attention.mass_item_count > 0) {
      cuda::AccumulateAttentionMass(*attention.plan, attention_workspace_, act_.qkv, qkv_width_,
                                    kv_[layer], scale_, attention.mass_items,
                                    attention.mass_item_count, attention.mass_scratch,
                                    attention.mass, stream_,
                                    attention.stats == nullptr ? nullptr
                                                               : attention.stats + 3 * layer,
                                    3 * config_.num_hidden_layers);
    }
    return;
  }
  // The graph's decode launches: the same kernels PagedAttention runs for one-row
  // sequences, with item counts fixed by the graph's shape.
  char* ws = static_cast<char*>(attention_workspace_);
  cuda::internal::AttentionArgs args;
  args.seq_q_begin = reinterpret_cast<const int32_t*>(ws + layout_.seq_q_begin);
  args.seq_q_len = reinterpret_cast<const int32_t*>(ws + layout_.seq_q_len);
  args.seq_ctx_len = reinterpret_cast<const int32_t*>(ws + layout_.seq_ctx_len);
  args.seq_page_begin = reinterpret_cast<const int32_t*>(ws + layout_.seq_page_begin);
  args.pages = reinterpret_cast<const int32_t*>(ws + layout_.pages);
  args.page_int8 = attention.int8_pages
                       ? reinterpret_cast<const uint8_t*>(ws + layout_.page_precision)
                       : nullptr;
  args.q = act_.qkv;
  args.q_stride = qkv_width_;
  args.cache = kv_[layer];
  args.out = act_.attn;
  args.partial_out = reinterpret_cast<float*>(ws + layout_.partial_out);
  args.partial_lse = reinterpret_cast<float*>(ws + layout_.partial_lse);
  args.scale_log2 = scale_ * 1.4426950408889634f;
  args.heads = attention_config_.heads;
  args.group = attention_config_.heads / attention_config_.kv_heads;
  args.causal = true;
  const int head_chunks =
      (args.group + cuda::internal::kDecodeMaxGroup - 1) / cuda::internal::kDecodeMaxGroup;
  cuda::internal::LaunchDecode(args, reinterpret_cast<const int4*>(ws + layout_.decode_items),
                               attention.decode_items, head_chunks, stream_);
  if (attention.reduce_items > 0) {
    cuda::internal::LaunchSplitReduce(args,
                                      reinterpret_cast<const int4*>(ws + layout_.reduce_items),
                                      attention.reduce_items, stream_);
  }
}

void CudaModel::QuantizeKvBlocks(const int32_t* blocks, int32_t count) {
  for (const cuda::PagedKvCache& layer : kv_) cuda::QuantizeKvBlocks(layer, blocks, count, stream_);
}

CudaModel::LayerGemms CudaModel::GemmsOf(const DeviceLayerWeights& w, int64_t rows) const {
  const int64_t hidden = config_.hidden_size, inter = config_.intermediate_size;
  return {.qkv = {.x = act_.normed, .ldx = hidden, .w = w.qkv, .bias = w.qkv_bias,
                  .y = act_.qkv, .ldy = qkv_width_, .m = rows, .n = qkv_width_, .k = hidden},
          .o = {.x = act_.attn, .ldx = q_width_, .w = w.o, .bias = w.o_bias, .y = act_.proj,
                .ldy = hidden, .m = rows, .n = hidden, .k = q_width_},
          .gate_up = {.x = act_.normed, .ldx = hidden, .w = w.gate_up, .bias = w.gate_up_bias,
                      .y = act_.gate_up, .ldy = 2 * inter, .m = rows, .n = 2 * inter,
                      .k = hidden},
          .down = {.x = act_.act, .ldx = inter, .w = w.down, .bias = w.down_bias,
                   .y = act_.proj, .ldy = hidden, .m = rows, .n = hidden, .k = inter},
          .router = {.x = act_.normed, .ldx = hidden, .w = w.router,
                     .y = act_.moe.router_logits, .ldy = config_.num_experts, .y_float = true,
                     .m = rows, .n = config_.num_experts, .k = hidden}};
}

cuda::GemmArgs CudaModel::LogitsGemm(const bf16* x, int64_t rows, float* out) const {
  return {.x = x, .ldx = config_.hidden_size, .w = weights_.lm_head, .y = out,
          .ldy = config_.vocab_size, .y_float = true, .m = rows, .n = config_.vocab_size,
          .k = config_.hidden_size};
}

void CudaModel::WarmGemms(int64_t rows, int64_t logits_rows, float* logits) {
  // Once for the first dense and the first sparse layer (a model may mix them; the other
  // layers repeat their shapes).
  bool dense_done = false, sparse_done = false;
  for (const DeviceLayerWeights& w : weights_.layers) {
    const bool sparse = w.router != nullptr;
    if (sparse ? sparse_done : dense_done) continue;
    (sparse ? sparse_done : dense_done) = true;
    const LayerGemms g = GemmsOf(w, rows);
    gemm_->Warm(g.qkv, stream_);
    gemm_->Warm(g.o, stream_);
    if (sparse) {
      gemm_->Warm(g.router, stream_);
    } else {
      gemm_->Warm(g.gate_up, stream_);
      gemm_->Warm(g.down, stream_);
    }
  }
  for (const bf16* x : {act_.normed, act_.gathered}) {  // Logits reads either
    gemm_->Warm(LogitsGemm(x, logits_rows, logits), stream_);
  }
}

void CudaModel::Logits(const int32_t* row_ids, int64_t rows, float* out) {
  if (rows == 0) return;
  const int64_t hidden = config_.hidden_size;
  const bf16* x = act_.normed;
  if (row_ids != nullptr) {
    // The normed rows serve as the "table" of a gather.
    cuda::EmbeddingGather(act_.normed, hidden, row_ids, rows, act_.gathered, stream_);
    x = act_.gathered;
  }
  gemm_->Run(LogitsGemm(x, rows, out), stream_);
}

}  // namespace strata::worker
