// The forward pass of Llama / Qwen2 / Qwen3 decoders on one CUDA device: the layer structure
// of CpuModel in bf16 with a float32 residual stream, over a paged bf16 KV cache.
//
// CudaModel only enqueues work on its stream: it owns no memory (the worker carves every
// buffer out of its plan's arenas and hands the pointers in) and never synchronizes, so a
// sequence of its calls can be captured into a CUDA graph. One thread (the worker's) calls it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/moe.h"
#include "kernels/cuda/ops.h"
#include "worker/device_weights.h"
#include "worker/model_config.h"

namespace strata::worker {

// Per-token activations of one forward pass, each sized for max_batch_tokens rows.
struct CudaActivations {
  float* residual = nullptr;  // [rows, hidden] float32
  bf16* normed = nullptr;     // [rows, hidden]
  bf16* qkv = nullptr;        // [rows, (heads + 2 kv_heads) * head_dim]
  bf16* attn = nullptr;       // [rows, heads * head_dim]
  bf16* proj = nullptr;       // [rows, hidden]: o_proj, then down_proj output
  bf16* gate_up = nullptr;    // [rows, 2 * intermediate]
  bf16* act = nullptr;        // [rows, intermediate]
  bf16* gathered = nullptr;   // [logits rows, hidden]: the rows that get logits
  // MoE models: the expert step's buffers, and the running count of experts activated
  // (summed over sparse layers and passes; device memory, read by the worker).
  kernels::cuda::MoeWorkspace moe;
  unsigned long long* moe_activated_experts = nullptr;
};

// Device arrays describing the batch's tokens, [rows] each.
struct CudaTokenInputs {
  const int32_t* ids = nullptr;
  const int32_t* positions = nullptr;
  const int64_t* slots = nullptr;  // KV cache slot per token; negative: not written
};

// How attention runs: through a plan uploaded into the workspace (any batch), or the
// fixed-shape decode launches of a CUDA graph (one query row per sequence; the worker has
// written the decode and reduce items into the workspace at the plan layout's offsets, and
// with int8_pages the page flags too).
struct AttentionDispatch {
  const kernels::cuda::AttentionPlan* plan = nullptr;
  int32_t decode_items = 0;
  int32_t reduce_items = 0;
  // Graph dispatch: the pages' int8 flags are in the workspace (layout page_precision) and
  // the decode launches read them. (A plan dispatch takes this from its plan.)
  bool int8_pages = false;
  // Heavy-hitter scores (plan dispatch only): after each layer's attention, the mass of
  // the listed sequences' last rows is added into `mass` (AccumulateAttentionMass).
  const int2* mass_items = nullptr;
  int32_t mass_item_count = 0;
  float* mass_scratch = nullptr;
  float* mass = nullptr;
  // Score statistics of the same items' last rows (adaptive_precision): when set, the same
  // passes write item i's three floats of layer l at stats[(i * layers + l) * 3]. Items
  // listed only for their statistics carry a negative mass offset.
  float* stats = nullptr;
};

class CudaModel {
 public:
  CudaModel(const ModelConfig& config, DeviceWeights weights,
            std::vector<kernels::cuda::PagedKvCache> kv_layers, kernels::cuda::Gemm* gemm,
            const float* inv_freq, CudaActivations activations, void* attention_workspace,
            const kernels::cuda::AttentionConfig& attention_config,
            const kernels::cuda::AttentionLimits& attention_limits, cudaStream_t stream);

  const ModelConfig& config() const { return config_; }
  const DeviceWeights& weights() const { return weights_; }
  const kernels::cuda::AttentionConfig& attention_config() const { return attention_config_; }
  const kernels::cuda::AttentionPlan::Layout& attention_layout() const { return layout_; }
  void* attention_workspace() const { return attention_workspace_; }
  const CudaActivations& activations() const { return act_; }

  // Embedding, every layer (writing each token's K/V into its slot) and the final norm over
  // `rows` tokens; the normalized hidden states end in activations().normed.
  void RunLayers(int64_t rows, const CudaTokenInputs& inputs, const AttentionDispatch& attention);

  // The same pass in pieces, for layered prefill: Embed the first `rows` tokens into the
  // residual stream; run layers [begin, end) over the first `rows` tokens (writing their
  // K/V); fold the pending MLP output of rows [row, row + rows) into their residual stream
  // (what a later slice resumes from); and the final norm over the first `rows` tokens.
  // The attention dispatch must describe exactly the sequences of those rows.
  void Embed(int64_t rows, const CudaTokenInputs& inputs);
  void RunLayerRange(int32_t begin, int32_t end, int64_t rows, const CudaTokenInputs& inputs,
                     const AttentionDispatch& attention);
  void FoldPendingMlp(int64_t row, int64_t rows);
  void FinalNorm(int64_t rows);

  // Converts blocks to int8 in place in every layer, K and V (kernels/cuda/kv_quant.h):
  // `blocks` is a device array of `count` distinct block ids written at full precision.
  void QuantizeKvBlocks(const int32_t* blocks, int32_t count);

  // out[i, :] = lm_head . normed[row_ids[i]] for i < rows (float32 [rows, vocab]); with
  // row_ids null, the first `rows` rows of normed.
  void Logits(const int32_t* row_ids, int64_t rows, float* out);
  // Runs every weight product of the layers (and the logits product into `logits`, at most
  // `logits_rows` rows) once per GEMM row bucket up to `rows`, so that serving never waits
  // for an algorithm query or a first kernel load (Gemm::Warm). The activations' contents
  // are meaningless afterwards.
  void WarmGemms(int64_t rows, int64_t logits_rows, float* logits);

 private:
  void RunLayer(int layer, int64_t rows, const CudaTokenInputs& inputs,
                const AttentionDispatch& attention);
  void Attention(int layer, int64_t rows, const AttentionDispatch& attention);
  // A sparse layer's MLP step (cuda_model_moe.cc): normed in, proj out.
  void RunExperts(const DeviceLayerWeights& w, int64_t rows);

  // The weight products of layer `w` over `rows` rows as the forward pass runs them (and
  // WarmGemms warms them): router for a sparse layer, gate_up and down for a dense one.
  struct LayerGemms {
    kernels::cuda::GemmArgs qkv, o, gate_up, down, router;
  };
  LayerGemms GemmsOf(const DeviceLayerWeights& w, int64_t rows) const;
  // lm_head over `rows` rows of `x` (normed or gathered) into float32 `out`.
  kernels::cuda::GemmArgs LogitsGemm(const bf16* x, int64_t rows, float* out) const;

  ModelConfig config_;
  DeviceWeights weights_;
  std::vector<kernels::cuda::PagedKvCache> kv_;
  kernels::cuda::Gemm* gemm_;
  const float* inv_freq_;
  CudaActivations act_;
  void* attention_workspace_;
  kernels::cuda::AttentionConfig attention_config_;
  kernels::cuda::AttentionPlan::Layout layout_;
  cudaStream_t stream_;
  int64_t q_width_, kv_width_, qkv_width_;
  float eps_, scale_;
};

}  // namespace strata::worker
