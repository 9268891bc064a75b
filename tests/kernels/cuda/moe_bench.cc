// The MoE expert step on the device, qwen3-30b-a3b shape (hidden 2048, 128 experts of
// intermediate size 768, top 8): MoeExperts (routing, alignment, both grouped GEMMs and the
// combine) from one decode token to a full prefill budget, in ms, in expert TFLOP/s and in
// DRAM bandwidth over the activated experts' weights (the bound at decode sizes). For scale,
// cuBLASLt's dense GEMM of the gate/up product over all (token, slot) pairs with one weight
// (the same FLOPs without the grouping). One layer's experts (1.2 GB) exceed L2, and
// consecutive calls read the experts of different copies of the layer (eight, 16 experts
// apart, in weights for twice the experts), so a decode batch's few experts are not still
// in L2 from the call before: their weights come from DRAM. Router logits are random:
// routing is near uniform, as in a model with random weights. Route and align, and the two
// grouped GEMMs, are also timed alone.
//
//   strata-cuda-moe-bench [ROWS...]   (default: 1 to 8192 rows)
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <vector>

#include "base/check.h"
#include "base/dtype.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/moe.h"
#include "tests/kernels/cuda/bench_util.h"

namespace strata::kernels::cuda {
namespace {

using bench::TimeCalls;

constexpr int64_t kHidden = 2048, kInter = 768, kMaxRows = 8192;
constexpr int32_t kExperts = 128, kTopK = 8;

template <typename T>
T* DeviceAlloc(size_t count) {
  T* p = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
  return p;
}

int Main(int argc, char** argv) {
  bench::PrintDevice();
  std::mt19937_64 rng(1);
  // Twice the experts: call i reads experts 16 (i % 8) up, a different copy of the layer.
  bf16* gate_up = DeviceAlloc<bf16>(size_t{2 * kExperts} * 2 * kInter * kHidden);
  bf16* down = DeviceAlloc<bf16>(size_t{2 * kExperts} * kHidden * kInter);
  auto gate_up_of = [&](int call) { return gate_up + (call % 8) * 16 * 2 * kInter * kHidden; };
  auto down_of = [&](int call) { return down + (call % 8) * 16 * kHidden * kInter; };
  bf16* x = DeviceAlloc<bf16>(kMaxRows * kHidden);
  bf16* out = DeviceAlloc<bf16>(kMaxRows * kHidden);
  bench::FillRandomBf16(gate_up, size_t{2 * kExperts} * 2 * kInter * kHidden * 2, 0.02f, 1);
  bench::FillRandomBf16(down, size_t{2 * kExperts} * kHidden * kInter * 2, 0.02f, 2);
  bench::FillRandomBf16(x, kMaxRows * kHidden * 2, 1.0f, 3);
  const size_t ws_bytes = MoeWorkspaceBytes(kMaxRows, kExperts, kTopK, kInter, kHidden);
  char* ws_base = DeviceAlloc<char>(ws_bytes);
  const MoeWorkspace ws = MoeWorkspace::Carve(ws_base, kMaxRows, kExperts, kTopK, kInter, kHidden);
  {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> logits(kMaxRows * kExperts);
    for (float& v : logits) v = dist(rng);
    STRATA_CUDA_CHECK(
        cudaMemcpy(ws.router_logits, logits.data(), logits.size() * 4, cudaMemcpyHostToDevice));
  }
  auto gemm = Gemm::Create();
  STRATA_CHECK(gemm.ok()) << gemm.status();
  bf16* dense_y = DeviceAlloc<bf16>(size_t{kMaxRows} * kTopK * 2 * kInter);
  bf16* dense_x = DeviceAlloc<bf16>(size_t{kMaxRows} * kTopK * kHidden);
  bench::FillRandomBf16(dense_x, size_t{kMaxRows} * kTopK * kHidden * 2, 1.0f, 4);

  std::printf(
      "expert step (route, align, gate/up, down, combine); TFLOP/s over the experts' "
      "6 x hidden x inter FLOPs per pair; GB/s over the weights of the experts the "
      "routing activates (uniform: E (1 - (1 - top_k / E)^rows)); of the step, route + align "
      "as the step runs them (one launch up to 8 rows) and as two launches, and the two "
      "grouped GEMMs alone (their GB/s over the same weights)\n");
  std::printf("%6s %10s %10s %9s %9s %16s %14s %22s %24s\n", "rows", "pairs/exp", "step ms",
              "TFLOP/s", "GB/s", "route+align ms", "two launches", "grouped GEMMs ms (GB/s)",
              "dense gate/up ms (TF/s)");
  const double expert_bytes = 3.0 * kHidden * kInter * 2;
  // Row counts from the command line, or the default sweep.
  std::vector<int64_t> row_counts = {1, 2, 4, 8, 16, 32, 64, 256, 512, 1024, 2048, 4096, 8192};
  if (argc > 1) {
    row_counts.clear();
    for (int i = 1; i < argc; ++i) {
      const int64_t rows = std::atoll(argv[i]);
      STRATA_CHECK(rows >= 1 && rows <= kMaxRows) << "rows must be in [1, " << kMaxRows << "]";
      row_counts.push_back(rows);
    }
  }
  for (const int64_t rows : row_counts) {
    const double pairs = double(rows) * kTopK;
    const double flops = pairs * 6.0 * kHidden * kInter;
    const double activated =
        kExperts * (1.0 - std::pow(1.0 - double(kTopK) / kExperts, double(rows)));
    const int calls = rows >= 1024 ? 5 : 20;
    auto args_of = [&](int call) {
      return MoeExpertsArgs{.x = x,
                            .gate_up = gate_up_of(call),
                            .down = down_of(call),
                            .out = out,
                            .rows = rows,
                            .experts = kExperts,
                            .top_k = kTopK,
                            .inter = kInter,
                            .hidden = kHidden,
                            .normalize = true};
    };
    const float step = TimeCalls(calls, [&](int call) { MoeExperts(args_of(call), ws, nullptr); });
    const float route_align = TimeCalls(
        calls, [&](int) { MoeRouteAndAlign(rows, kExperts, kTopK, true, ws, nullptr, nullptr); });
    const float two_launches = TimeCalls(calls, [&](int) {
      MoeRoute(ws.router_logits, rows, kExperts, kTopK, true, ws.topk_ids, ws.topk_weights,
               nullptr);
      MoeAlign(ws.topk_ids, rows, kExperts, kTopK, ws, nullptr, nullptr);
    });
    // Over the tiles the route + align calls above left in ws.
    const float grouped =
        TimeCalls(calls, [&](int call) { MoeExpertGemms(args_of(call), ws, nullptr); });
    const float dense = TimeCalls(calls, [&](int) {
      (*gemm)->Run({.x = dense_x,
                    .ldx = kHidden,
                    .w = gate_up,
                    .y = dense_y,
                    .ldy = 2 * kInter,
                    .m = rows * kTopK,
                    .n = 2 * kInter,
                    .k = kHidden},
                   nullptr);
    });
    const double dense_flops = pairs * 2.0 * 2 * kInter * kHidden;
    std::printf("%6lld %10.2f %10.3f %9.1f %9.0f %16.3f %14.3f %13.3f (%6.0f) %15.3f (%6.1f)\n",
                static_cast<long long>(rows), pairs / kExperts, step, flops / step / 1e9,
                activated * expert_bytes / step / 1e6, route_align, two_launches, grouped,
                activated * expert_bytes / grouped / 1e6, dense, dense_flops / dense / 1e9);
  }
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  for (void* p : {static_cast<void*>(gate_up), static_cast<void*>(down), static_cast<void*>(x),
                  static_cast<void*>(out), static_cast<void*>(ws_base), static_cast<void*>(dense_y),
                  static_cast<void*>(dense_x)}) {
    STRATA_CUDA_CHECK(cudaFree(p));
  }
  return 0;
}

}  // namespace
}  // namespace strata::kernels::cuda

int main(int argc, char** argv) { return strata::kernels::cuda::Main(argc, argv); }
