// CudaModel's sparse MoE step: the router GEMM (float32 logits) through Gemm, then the
// expert kernels of kernels/cuda/moe.h.
#include "worker/cuda_model.h"

namespace strata::worker {

namespace cuda = kernels::cuda;

void CudaModel::RunExperts(const DeviceLayerWeights& w, int64_t rows) {
  const int64_t hidden = config_.hidden_size;
  gemm_->Run(GemmsOf(w, rows).router, stream_);
  cuda::MoeExperts({.x = act_.normed,
                    .gate_up = w.expert_gate_up,
                    .down = w.expert_down,
                    .out = act_.proj,
                    .rows = rows,
                    .experts = static_cast<int32_t>(config_.num_experts),
                    .top_k = static_cast<int32_t>(config_.num_experts_per_tok),
                    .inter = config_.moe_intermediate_size,
                    .hidden = hidden,
                    .normalize = config_.norm_topk_prob,
                    .activated_experts = act_.moe_activated_experts},
                   act_.moe, stream_);
}

}  // namespace strata::worker
