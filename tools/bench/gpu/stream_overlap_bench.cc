// Whether a layered cohort's compute-bound layer hides under the decodes' memory-bound pass
// when the two run on separate streams: the llama-3.1-8b projection GEMMs of a 16-row
// decode through all 32 layers, and of one or two layers of a 2048-token cohort, timed
// alone, one after the other on one stream, and concurrently on two streams (each with its
// own Gemm and workspace; once with the decode stream at the highest priority). Weights
// hold random bf16 values (zeros would flatter the tensor cores' power draw).
//
//   strata-stream-overlap-bench
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm.h"

namespace strata::kernels::cuda {
namespace {

constexpr int64_t kLayers = 32, kHidden = 4096, kQkv = 6144, kInter = 14336;
constexpr int64_t kDecodeRows = 16, kCohortRows = 2048;

// Fills `bytes` of device memory with random bf16 values in [-1, 1).
void FillRandom(void* device, size_t bytes) {
  const size_t first = std::min<size_t>(bytes, 8 << 20);
  std::vector<uint16_t> host(first / 2);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (uint16_t& v : host) v = FloatToBF16(dist(rng));
  STRATA_CUDA_CHECK(cudaMemcpy(device, host.data(), first, cudaMemcpyHostToDevice));
  for (size_t done = first; done < bytes;) {
    const size_t n = std::min(done, bytes - done);
    STRATA_CUDA_CHECK(cudaMemcpy(static_cast<char*>(device) + done, device, n,
                                 cudaMemcpyDeviceToDevice));
    done += n;
  }
}

// The four projections of one layer ([out, in]) for `rows` rows of x into y.
std::vector<GemmArgs> LayerGemms(const bf16* weights, const bf16* x, bf16* y, int64_t rows) {
  const int64_t shapes[4][2] = {{kQkv, kHidden}, {kHidden, kHidden}, {2 * kInter, kHidden},
                                {kHidden, kInter}};
  std::vector<GemmArgs> out;
  for (const auto& [n, k] : shapes) {
    GemmArgs g;
    g.x = x, g.ldx = k, g.w = weights, g.y = y, g.ldy = n, g.m = rows, g.n = n, g.k = k;
    out.push_back(g);
    weights += n * k;
  }
  return out;
}

int Main() {
  const int64_t per_layer = kHidden * kQkv + kHidden * kHidden + 2 * kInter * kHidden +
                            kHidden * kInter;
  bf16 *weights = nullptr, *decode_x = nullptr, *decode_y = nullptr, *cohort_x = nullptr,
       *cohort_y = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&weights, per_layer * kLayers * sizeof(bf16)));
  STRATA_CUDA_CHECK(cudaMalloc(&decode_x, kDecodeRows * kInter * sizeof(bf16)));
  STRATA_CUDA_CHECK(cudaMalloc(&decode_y, kDecodeRows * 2 * kInter * sizeof(bf16)));
  STRATA_CUDA_CHECK(cudaMalloc(&cohort_x, kCohortRows * kInter * sizeof(bf16)));
  STRATA_CUDA_CHECK(cudaMalloc(&cohort_y, kCohortRows * 2 * kInter * sizeof(bf16)));
  FillRandom(weights, per_layer * kLayers * sizeof(bf16));
  FillRandom(decode_x, kDecodeRows * kInter * sizeof(bf16));
  FillRandom(cohort_x, kCohortRows * kInter * sizeof(bf16));

  auto decode_gemm = Gemm::Create();
  auto cohort_gemm = Gemm::Create();
  STRATA_CHECK(decode_gemm.ok() && cohort_gemm.ok());
  std::vector<GemmArgs> decode, cohort_layer;
  for (int64_t l = 0; l < kLayers; ++l) {
    for (const GemmArgs& g : LayerGemms(weights + l * per_layer, decode_x, decode_y, kDecodeRows)) {
      decode.push_back(g);
    }
  }
  cohort_layer = LayerGemms(weights, cohort_x, cohort_y, kCohortRows);

  int lowest = 0, highest = 0;
  STRATA_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&lowest, &highest));
  cudaStream_t main_stream, cohort_stream, urgent_stream;
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&main_stream, cudaStreamNonBlocking));
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&cohort_stream, cudaStreamNonBlocking));
  STRATA_CUDA_CHECK(cudaStreamCreateWithPriority(&urgent_stream, cudaStreamNonBlocking, highest));
  cudaEvent_t start, stop, cohort_done;
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&stop));
  STRATA_CUDA_CHECK(cudaEventCreate(&cohort_done));

  auto run_decode = [&](cudaStream_t s) {
    for (const GemmArgs& g : decode) (*decode_gemm)->Run(g, s);
  };
  auto run_cohort = [&](cudaStream_t s, int layers) {
    for (int l = 0; l < layers; ++l) {
      for (const GemmArgs& g : cohort_layer) (*cohort_gemm)->Run(g, s);
    }
  };
  // Median ms from `start` on `s` to `stop` over 20 timed rounds after 5 warm-up rounds.
  auto time = [&](cudaStream_t s, const std::function<void()>& body) {
    std::vector<float> ms;
    for (int round = 0; round < 25; ++round) {
      STRATA_CUDA_CHECK(cudaDeviceSynchronize());
      STRATA_CUDA_CHECK(cudaEventRecord(start, s));
      body();
      STRATA_CUDA_CHECK(cudaEventRecord(stop, s));
      STRATA_CUDA_CHECK(cudaEventSynchronize(stop));
      float t = 0;
      STRATA_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
      if (round >= 5) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  // Both passes from the same start on two streams; `s` waits for the cohort's end.
  auto concurrent = [&](cudaStream_t s, int layers) {
    return time(s, [&] {
      STRATA_CUDA_CHECK(cudaStreamWaitEvent(cohort_stream, start));
      run_decode(s);
      run_cohort(cohort_stream, layers);
      STRATA_CUDA_CHECK(cudaEventRecord(cohort_done, cohort_stream));
      STRATA_CUDA_CHECK(cudaStreamWaitEvent(s, cohort_done));
    });
  };

  std::printf("| cohort layers | decode pass ms | cohort ms | one stream ms | two streams ms | "
              "two streams, decode high priority ms |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int layers : {1, 2}) {
    const float d = time(main_stream, [&] { run_decode(main_stream); });
    const float c = time(main_stream, [&] { run_cohort(main_stream, layers); });
    const float serial = time(main_stream, [&] {
      run_decode(main_stream);
      run_cohort(main_stream, layers);
    });
    const float two = concurrent(main_stream, layers);
    const float urgent = concurrent(urgent_stream, layers);
    std::printf("| %d | %.3f | %.3f | %.3f | %.3f | %.3f |\n", layers, d, c, serial, two, urgent);
  }
  return 0;
}

}  // namespace
}  // namespace strata::kernels::cuda

int main() { return strata::kernels::cuda::Main(); }
