// Few-row GEMM bandwidth on the device: the skinny kernel against cuBLASLt on the
// Llama-3.1-8B projection shapes, against a measured device-to-device copy. Each timed call
// reads its own copy of the weights (copies rotate through more than 4x the L2), so the
// figures are DRAM figures.
//
//   strata-cuda-gemm-bench
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "base/check.h"
#include "base/dtype.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemm_skinny.h"
#include "kernels/cuda/launch.h"
#include "tests/kernels/cuda/bench_util.h"

namespace strata::kernels::cuda {
namespace {

using bench::TimeCalls;

int Main() {
  bench::PrintDevice();
  // Random bf16 pool, large enough for several copies of the largest weight (lm_head, 1 GB).
  const size_t pool_bytes = size_t{4} << 30;
  char* pool = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&pool, pool_bytes));
  bench::FillRandomBf16(pool, pool_bytes, 0.02f, /*seed=*/1);
  const size_t copy_bytes = size_t{1} << 30;
  const float copy_ms = TimeCalls(5, [&](int) {
    STRATA_CUDA_CHECK(
        cudaMemcpyAsync(pool + copy_bytes, pool, copy_bytes, cudaMemcpyDeviceToDevice));
  });
  const double copy_gbs = 2.0 * copy_bytes / (copy_ms * 1e-3) / 1e9;
  std::printf("device-to-device cudaMemcpy: %.1f GB/s (read + write, 1 GiB)\n\n", copy_gbs);

  auto gemm = Gemm::Create();
  STRATA_CHECK(gemm.ok()) << gemm.status();
  const int64_t max_m = 16, max_n = 128256, max_k = 14336;
  bf16 *x = nullptr, *y = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&x, max_m * max_k * 2));
  STRATA_CUDA_CHECK(cudaMalloc(&y, max_m * max_n * 4));
  STRATA_CUDA_CHECK(cudaMemcpy(x, pool, max_m * max_k * 2, cudaMemcpyDeviceToDevice));

  struct Shape {
    const char* name;
    int64_t n, k;
    bool y_float;
  };
  const Shape shapes[] = {{"qkv", 6144, 4096, false},
                          {"o_proj", 4096, 4096, false},
                          {"gate_up", 28672, 4096, false},
                          {"down", 4096, 14336, false},
                          {"lm_head", 128256, 4096, true}};
  std::printf("GB/s = (weight + x + y bytes) / time; %% of the copy bandwidth in brackets\n");
  std::printf("%-8s %3s %22s %22s\n", "shape", "m", "skinny us (GB/s)", "cublas us (GB/s)");
  for (const Shape& s : shapes) {
    const size_t w_bytes = size_t(s.n) * s.k * 2;
    const int copies = static_cast<int>(std::min<size_t>(pool_bytes / w_bytes, 16));
    STRATA_CHECK(copies >= 2);
    for (int64_t m : {1, 2, 4, 8, 16}) {
      const double bytes =
          double(w_bytes) + double(m) * s.k * 2 + double(m) * s.n * (s.y_float ? 4 : 2);
      auto args_for = [&](int i) {
        GemmArgs args;
        args.x = x, args.ldx = s.k;
        args.w = reinterpret_cast<const bf16*>(pool + (i % copies) * w_bytes);
        args.y = y, args.ldy = s.n, args.y_float = s.y_float;
        args.m = m, args.n = s.n, args.k = s.k;
        return args;
      };
      auto cell = [&](float ms) {
        char text[64];
        std::snprintf(text, sizeof(text), "%.1f (%.0f, %.0f%%)", ms * 1e3,
                      bytes / (ms * 1e-3) / 1e9, 100 * bytes / (ms * 1e-3) / 1e9 / copy_gbs);
        return std::string(text);
      };
      std::string skinny = "-";
      if (m <= internal::kSkinnyMaxRows) {
        const float ms = TimeCalls(copies * 4, [&](int i) {
          const GemmArgs a = args_for(i);
          internal::LaunchSkinnyGemm({.x = a.x,
                                      .ldx = a.ldx,
                                      .w = a.w,
                                      .bias = nullptr,
                                      .y = a.y,
                                      .ldy = a.ldy,
                                      .y_float = a.y_float,
                                      .m = static_cast<int32_t>(m),
                                      .n = static_cast<int32_t>(s.n),
                                      .k = static_cast<int32_t>(s.k)},
                                     nullptr);
        });
        skinny = cell(ms);
      }
      (*gemm)->set_skinny_max_rows(0);
      const float ms_cublas =
          TimeCalls(copies * 4, [&](int i) { (*gemm)->Run(args_for(i), nullptr); });
      std::printf("%-8s %3lld %22s %22s\n", s.name, static_cast<long long>(m), skinny.c_str(),
                  cell(ms_cublas).c_str());
    }
  }
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  STRATA_CUDA_CHECK(cudaFree(x));
  STRATA_CUDA_CHECK(cudaFree(y));
  STRATA_CUDA_CHECK(cudaFree(pool));
  return 0;
}

}  // namespace
}  // namespace strata::kernels::cuda

int main() { return strata::kernels::cuda::Main(); }
