// strata-bench-kv-swap: how fast the CUDA worker's KV tier copier moves blocks between the
// device cache and the pinned host tier, against the pinned host<->device copy bandwidth of
// one contiguous cudaMemcpyAsync measured in the same run.
//
//   strata-bench-kv-swap [--layers 32] [--kv-width 1024] [--block-size 16] [--blocks 2048]
//                        [--repeats 5]
//
// Defaults are the llama-3.1-8b shape (32 layers, 8 KV heads x 128, bf16): one block of 16
// tokens is 2 MiB over all layers, K and V. Swap-out copies blocks in a shuffled order to
// shuffled host blocks (as preemption does); each figure is the median of --repeats.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "worker/kv_tier_copier.h"

namespace {

using strata::worker::KvBlockCopy;
using strata::worker::KvTierCopier;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double TimeSeconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t layers = 32, kv_width = 1024, block_size = 16, blocks = 2048, repeats = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int64_t* target = flag == "--layers"       ? &layers
                      : flag == "--kv-width"   ? &kv_width
                      : flag == "--block-size" ? &block_size
                      : flag == "--blocks"     ? &blocks
                      : flag == "--repeats"    ? &repeats
                                               : nullptr;
    if (target == nullptr || !absl::SimpleAtoi(argv[i + 1], target)) {
      std::fprintf(stderr, "unknown flag or bad value: %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
  const int64_t plane_bytes = block_size * kv_width * 2;  // one layer's K (or V) of a block
  const int64_t block_bytes = plane_bytes * 2 * layers;
  const int64_t total = block_bytes * blocks;

  std::vector<KvTierCopier::LayerCache> caches(layers);
  for (auto& c : caches) {
    STRATA_CUDA_CHECK(cudaMalloc(&c.k, plane_bytes * blocks));
    STRATA_CUDA_CHECK(cudaMalloc(&c.v, plane_bytes * blocks));
    STRATA_CUDA_CHECK(cudaMemset(c.k, 1, plane_bytes * blocks));
    STRATA_CUDA_CHECK(cudaMemset(c.v, 2, plane_bytes * blocks));
  }
  auto copier = KvTierCopier::Create(caches, plane_bytes, static_cast<int32_t>(blocks),
                                     static_cast<int32_t>(blocks));
  if (!copier.ok()) {
    std::fprintf(stderr, "%s\n", std::string(copier.status().message()).c_str());
    return 1;
  }

  // Baseline: one contiguous pinned copy of the same number of bytes, each direction.
  void* device = nullptr;
  void* host = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&device, total));
  STRATA_CUDA_CHECK(cudaHostAlloc(&host, total, cudaHostAllocDefault));
  cudaStream_t stream;
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::vector<double> d2h, h2d, out, in;
  std::mt19937 rng(7);
  std::vector<int32_t> src(blocks), dst(blocks);
  std::iota(src.begin(), src.end(), 0);
  std::iota(dst.begin(), dst.end(), 0);
  for (int64_t r = 0; r <= repeats; ++r) {  // the first round warms up
    const double t_d2h = TimeSeconds([&] {
      STRATA_CUDA_CHECK(cudaMemcpyAsync(host, device, total, cudaMemcpyDeviceToHost, stream));
      STRATA_CUDA_CHECK(cudaStreamSynchronize(stream));
    });
    const double t_h2d = TimeSeconds([&] {
      STRATA_CUDA_CHECK(cudaMemcpyAsync(device, host, total, cudaMemcpyHostToDevice, stream));
      STRATA_CUDA_CHECK(cudaStreamSynchronize(stream));
    });
    std::shuffle(src.begin(), src.end(), rng);
    std::shuffle(dst.begin(), dst.end(), rng);
    std::vector<KvBlockCopy> swap_out, swap_in;
    for (int64_t b = 0; b < blocks; ++b) {
      swap_out.push_back({strata::worker::KvCopyDirection::kDeviceToHost, src[b], dst[b]});
      swap_in.push_back({strata::worker::KvCopyDirection::kHostToDevice, dst[b], src[b]});
    }
    const double t_out = TimeSeconds([&] {
      STRATA_CHECK((*copier)->Start({}, swap_out).ok());
      STRATA_CHECK((*copier)->Wait().ok());
    });
    const double t_in = TimeSeconds([&] {
      STRATA_CHECK((*copier)->Start(swap_in, {}).ok());
      STRATA_CHECK((*copier)->Wait().ok());
    });
    if (r == 0) continue;
    d2h.push_back(t_d2h), h2d.push_back(t_h2d), out.push_back(t_out), in.push_back(t_in);
  }
  cudaDeviceProp prop;
  STRATA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const double gb = total / 1e9;
  std::printf("# KV tier copies on %s: %lld blocks of %.2f MiB (%lld layers, K+V), %.2f GB\n\n",
              prop.name, static_cast<long long>(blocks), block_bytes / 1048576.0,
              static_cast<long long>(layers), gb);
  std::printf("| direction | pinned memcpy GB/s | block copier GB/s | fraction |\n");
  std::printf("| --- | --- | --- | --- |\n");
  std::printf("| device -> host (swap out) | %.1f | %.1f | %.0f%% |\n", gb / Median(d2h),
              gb / Median(out), 100.0 * Median(d2h) / Median(out));
  std::printf("| host -> device (swap in) | %.1f | %.1f | %.0f%% |\n", gb / Median(h2d),
              gb / Median(in), 100.0 * Median(h2d) / Median(in));
  return 0;
}
