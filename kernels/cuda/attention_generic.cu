// Attention for head sizes without a tuned kernel: one warp per (query row, head), lanes
// striding the head dimension, keys one at a time with an online softmax. Correct for any
// even head_dim up to 512; slow (a warp reduction per key), meant as the fallback only.
// Int8 pages (kv_quant.h) are read as int8 values times their kv head's scale; without
// page flags (nullptr) every page is bf16.
#include <cmath>

#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kv_quant_device.cuh"

namespace strata::kernels::cuda::internal {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 512 / kWarpSize;

__global__ void GenericKernel(AttentionArgs args, const int2* items) {
  const int2 item = items[blockIdx.x];
  const int head = blockIdx.y * kWarps + threadIdx.x / kWarpSize;
  if (head >= args.heads) return;
  const int lane = threadIdx.x % kWarpSize;
  const int seq = item.x, j = item.y;
  const int head_dim = args.cache.head_dim, kv_head = head / args.group;
  const int q_len = args.seq_q_len[seq], ctx = args.seq_ctx_len[seq];
  const int64_t row = args.seq_q_begin[seq] + j;
  const int visible = args.causal ? ctx - q_len + j + 1 : ctx;
  const int32_t* pages = args.pages + args.seq_page_begin[seq];
  const int block_size = args.cache.block_size;
  const int64_t token_stride = int64_t{args.cache.kv_heads} * head_dim;

  float q[kMaxPerLane], acc[kMaxPerLane];
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int d = lane + i * kWarpSize;
    q[i] = d < head_dim
               ? __bfloat162float(args.q[row * args.q_stride + int64_t{head} * head_dim + d]) *
                     args.scale_log2
               : 0.0f;
    acc[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const uint8_t* page_int8 =
      args.page_int8 != nullptr ? args.page_int8 + args.seq_page_begin[seq] : nullptr;
  for (int t = 0; t < visible; ++t) {
    const int64_t page = pages[t / block_size];
    const int64_t slot = page * block_size + t % block_size;
    const int64_t at = (t % block_size) * token_stride + int64_t{kv_head} * head_dim;
    const bf16* k = args.cache.k + slot * token_stride + int64_t{kv_head} * head_dim;
    const bf16* v = args.cache.v + slot * token_stride + int64_t{kv_head} * head_dim;
    // Int8 page: values and scales of this token's K and V (the bf16 pointers unused).
    const bool int8 = page_int8 != nullptr && page_int8[t / block_size] != 0;
    Int8Plane k8{}, v8{};
    float k_scale = 0.0f, v_scale = 0.0f;
    if (int8) {
      k8 = Int8PlaneOf(args.cache.k, page, args.cache);
      v8 = Int8PlaneOf(args.cache.v, page, args.cache);
      k_scale = k8.scales[kv_head];
      v_scale = v8.scales[kv_head];
    }
    auto key = [&](int d) {
      return int8 ? k8.values[at + d] * k_scale : __bfloat162float(k[d]);
    };
    auto value = [&](int d) {
      return int8 ? v8.values[at + d] * v_scale : __bfloat162float(v[d]);
    };
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int d = lane + i * kWarpSize;
      if (d < head_dim) dot += q[i] * key(d);
    }
    dot = WarpSum(dot);
    const float m_new = fmaxf(m, dot);
    const float correction = exp2f(m - m_new), p = exp2f(dot - m_new);
    l = l * correction + p;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int d = lane + i * kWarpSize;
      if (d < head_dim) acc[i] = acc[i] * correction + p * value(d);
    }
    m = m_new;
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int d = lane + i * kWarpSize;
    if (d < head_dim) {
      args.out[(row * args.heads + head) * head_dim + d] = __float2bfloat16(acc[i] * inv);
    }
  }
}

}  // namespace

void LaunchGeneric(const AttentionArgs& args, const int2* items, int num_items,
                   cudaStream_t stream) {
  const dim3 grid(num_items, (args.heads + kWarps - 1) / kWarps);
  GenericKernel<<<grid, kWarps * kWarpSize, 0, stream>>>(args, items);
  STRATA_CUDA_CHECK_LAUNCH();
}

}  // namespace strata::kernels::cuda::internal
