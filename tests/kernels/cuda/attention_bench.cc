// Decode attention bandwidth (and prefill throughput) on the device, against a measured
// device-to-device copy. Llama-3-8B-like shape: 32 query heads, 8 kv heads, head_dim 128,
// block size 16, bf16 cache. Each timed call reads its own layer's cache (layers rotate
// through a 2 x 2 GiB pool) so that small batches are not served from L2.
//
//   strata-cuda-attention-bench
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "base/check.h"
#include "base/dtype.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "tests/kernels/cuda/bench_util.h"

namespace strata::kernels::cuda {
namespace {

constexpr int32_t kHeads = 32, kKvHeads = 8, kHeadDim = 128, kBlockSize = 16;
constexpr size_t kPoolBytes = size_t{2} << 30;  // per K and per V

using bench::TimeCalls;

int Main() {
  const int sms = bench::PrintDevice().multiProcessorCount;

  // Pools filled with random bf16 (a 64 MiB random block, replicated).
  bf16 *k_pool = nullptr, *v_pool = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&k_pool, kPoolBytes));
  STRATA_CUDA_CHECK(cudaMalloc(&v_pool, kPoolBytes));
  bench::FillRandomBf16(k_pool, kPoolBytes, 1.0f, /*seed=*/1);
  STRATA_CUDA_CHECK(cudaMemcpy(v_pool, k_pool, kPoolBytes, cudaMemcpyDeviceToDevice));

  // The ceiling: a 1 GiB device-to-device copy, counting bytes read and written.
  const size_t copy_bytes = size_t{1} << 30;
  const float copy_ms = TimeCalls(5, [&](int) {
    STRATA_CUDA_CHECK(cudaMemcpyAsync(v_pool, k_pool, copy_bytes, cudaMemcpyDeviceToDevice));
  });
  const double copy_gbs = 2.0 * copy_bytes / (copy_ms * 1e-3) / 1e9;
  std::printf("device-to-device cudaMemcpy: %.1f GB/s (read + write, 1 GiB)\n\n", copy_gbs);

  std::printf("decode attention, h=%d/%d d=%d block=%d\n", kHeads, kKvHeads, kHeadDim, kBlockSize);
  std::printf("%6s %6s %7s %6s %10s %10s %9s %8s\n", "batch", "ctx", "layers", "chunk", "us/call",
              "KV MB", "GB/s", "of copy");
  std::mt19937_64 rng(2);
  bf16* q = nullptr;
  bf16* out = nullptr;
  const size_t max_rows = 8192;
  STRATA_CUDA_CHECK(cudaMalloc(&q, max_rows * kHeads * kHeadDim * 2));
  STRATA_CUDA_CHECK(cudaMalloc(&out, max_rows * kHeads * kHeadDim * 2));
  STRATA_CUDA_CHECK(
      cudaMemcpy(q, k_pool, max_rows * kHeads * kHeadDim * 2, cudaMemcpyDeviceToDevice));
  const size_t block_bytes = size_t{kBlockSize} * kKvHeads * kHeadDim * 2;
  const int64_t pool_blocks = kPoolBytes / block_bytes;

  // max_partials: 0 the plan's default; 1 leaves prefill tiles unsplit.
  auto run_batch = [&](const std::vector<std::pair<int64_t, int64_t>>& seqs, bool decode,
                       int32_t max_partials = 0) {
    int64_t pages = 0, rows = 0;
    for (auto [q_len, ctx] : seqs) pages += (ctx + kBlockSize - 1) / kBlockSize, rows += q_len;
    const int layers = static_cast<int>(std::clamp<int64_t>(pool_blocks / pages, 1, 32));
    const int64_t layer_blocks = pool_blocks / layers;
    std::vector<int32_t> ids(layer_blocks);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<cpu::AttentionSequence> sequences;
    int64_t page = 0, row = 0;
    for (auto [q_len, ctx] : seqs) {
      const int64_t n = (ctx + kBlockSize - 1) / kBlockSize;
      sequences.push_back({row, q_len, ctx, std::span<const int32_t>(ids.data() + page, n)});
      page += n, row += q_len;
    }
    AttentionConfig config{kHeads, kKvHeads, kHeadDim, kBlockSize, true, sms};
    AttentionLimits limits{static_cast<int32_t>(seqs.size()), rows, pages, max_partials};
    AttentionPlan plan;
    STRATA_CHECK(plan.Build(config, limits, sequences).ok());
    void* workspace = nullptr;
    STRATA_CUDA_CHECK(cudaMalloc(&workspace, AttentionWorkspaceBytes(config, limits)));
    plan.Upload(workspace, nullptr);
    const float ms = TimeCalls(layers * (decode ? 8 : 1), [&](int i) {
      const int64_t layer = i % layers;
      PagedKvCache cache{k_pool + layer * layer_blocks * (block_bytes / 2),
                         v_pool + layer * layer_blocks * (block_bytes / 2),
                         layer_blocks,
                         kBlockSize,
                         kKvHeads,
                         kHeadDim};
      PagedAttention(plan, workspace, q, int64_t{kHeads} * kHeadDim, cache,
                     1.0f / std::sqrt(float(kHeadDim)), out, nullptr);
    });
    STRATA_CUDA_CHECK(cudaDeviceSynchronize());
    STRATA_CUDA_CHECK(cudaFree(workspace));
    return std::tuple{ms, layers, plan.decode_chunk_tokens(), plan.num_split_prefill_tiles()};
  };

  for (int64_t batch : {1, 32, 256}) {
    for (int64_t ctx : {512, 4096}) {
      std::vector<std::pair<int64_t, int64_t>> seqs(batch, {1, ctx});
      const auto [ms, layers, chunk, split] = run_batch(seqs, true);
      const double bytes = double(batch) * ctx * kKvHeads * kHeadDim * 2 * 2;
      const double gbs = bytes / (ms * 1e-3) / 1e9;
      std::printf("%6lld %6lld %7d %6d %10.1f %10.1f %9.1f %7.0f%%\n",
                  static_cast<long long>(batch), static_cast<long long>(ctx), layers, chunk,
                  ms * 1e3, bytes / 1e6, gbs, 100.0 * gbs / copy_gbs);
    }
  }

  std::printf("\nprefill attention (causal), h=%d/%d d=%d\n", kHeads, kKvHeads, kHeadDim);
  std::printf("%8s %6s %10s %9s\n", "seqs", "len", "us/call", "TFLOP/s");
  for (auto [count, len] :
       {std::pair<int64_t, int64_t>{1, 8192}, {1, 4096}, {4, 1024}, {16, 512}}) {
    std::vector<std::pair<int64_t, int64_t>> seqs(count, {len, len});
    const auto [ms, layers, chunk, split] = run_batch(seqs, false);
    // QK^T and PV over the causal triangle: 4 * heads * d * len * (len + 1) / 2 per sequence.
    const double flops = 4.0 * kHeads * kHeadDim * count * len * (len + 1) / 2.0;
    std::printf("%8lld %6lld %10.1f %9.1f\n", static_cast<long long>(count),
                static_cast<long long>(len), ms * 1e3, flops / (ms * 1e-3) / 1e12);
  }
  // A later chunk of a long prompt (a layered cohort's layer): few query tiles over a long
  // prefix, where the tiles split their keys (attention_plan.cc).
  std::printf("\nprefill chunk after a cached prefix (causal), h=%d/%d d=%d\n", kHeads, kKvHeads,
              kHeadDim);
  std::printf("%8s %6s %11s %9s %11s %9s %11s\n", "queries", "ctx", "us/call", "TFLOP/s",
              "split tiles", "unsplit us", "TFLOP/s");
  for (auto [len, ctx] : {std::pair<int64_t, int64_t>{824, 4941},
                          {907, 2800},
                          {1536, 5632},
                          {256, 8192},
                          {2048, 8192}}) {
    std::vector<std::pair<int64_t, int64_t>> seqs = {{len, ctx}};
    // The plan's default partial budget (the worker's), then none for prefill splits.
    const auto [ms, layers, chunk, split] = run_batch(seqs, false);
    const auto [unsplit_ms, layers1, chunk1, split1] = run_batch(seqs, false, 1);
    // Query j sees ctx - len + j + 1 keys.
    const double pairs = double(len) * (ctx - len) + double(len) * (len + 1) / 2.0;
    const double flops = 4.0 * kHeads * kHeadDim * pairs;
    std::printf("%8lld %6lld %11.1f %9.1f %11d %9.1f %11.1f\n", static_cast<long long>(len),
                static_cast<long long>(ctx), ms * 1e3, flops / (ms * 1e-3) / 1e12, split,
                unsplit_ms * 1e3, flops / (unsplit_ms * 1e-3) / 1e12);
  }
  STRATA_CUDA_CHECK(cudaFree(q));
  STRATA_CUDA_CHECK(cudaFree(out));
  STRATA_CUDA_CHECK(cudaFree(k_pool));
  STRATA_CUDA_CHECK(cudaFree(v_pool));
  return 0;
}

}  // namespace
}  // namespace strata::kernels::cuda

int main() { return strata::kernels::cuda::Main(); }
