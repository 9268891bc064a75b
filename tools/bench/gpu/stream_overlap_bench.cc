// Whether a layered cohort's compute-bound layer hides under the decodes' memory-bound pass
// when the two run on separate streams: the llama-3.1-8b projection GEMMs of a 16-row
// decode through all layers, and of one or two layers of a 2048-token cohort, timed alone,
// one after the other on one stream, and concurrently on two streams (each with its own
// Gemm and workspace; once with the decode stream at the highest priority). The weights are
// the shape's own, seeded random as stratad's model.random_weights uploads them.
// Then the same with the SMs split between the two streams by green contexts (the decode
// stream's partition first, the cohort's the rest), for several splits and cohort depths.
//
//   strata-stream-overlap-bench
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm.h"
#include "worker/device_weights.h"
#include "worker/memory_plan.h"
#include "worker/model_shapes.h"

namespace strata::kernels::cuda {
namespace {

constexpr int64_t kDecodeRows = 16, kCohortRows = 2048;

#define CU_CHECK(expr)                                                                     \
  do {                                                                                     \
    const CUresult cu_status = (expr);                                                     \
    const char* cu_name = nullptr;                                                         \
    cuGetErrorName(cu_status, &cu_name);                                                   \
    STRATA_CHECK(cu_status == CUDA_SUCCESS) << #expr << ": " << (cu_name ? cu_name : "?"); \
  } while (0)

// Two streams on disjoint SMs: `first` on at least `first_sms` of them, `second` on the rest.
struct SmSplit {
  cudaStream_t first = nullptr, second = nullptr;
  unsigned first_sms = 0, second_sms = 0;
  CUgreenCtx contexts[2] = {};

  ~SmSplit() {
    for (cudaStream_t s : {first, second}) {
      if (s != nullptr) CU_CHECK(cuStreamDestroy(s));
    }
    for (CUgreenCtx c : contexts) {
      if (c != nullptr) CU_CHECK(cuGreenCtxDestroy(c));
    }
  }
};

std::unique_ptr<SmSplit> SplitSms(unsigned first_sms) {
  CUdevice device;
  CU_CHECK(cuDeviceGet(&device, 0));
  CUdevResource all, parts[1], rest;
  CU_CHECK(cuDeviceGetDevResource(device, &all, CU_DEV_RESOURCE_TYPE_SM));
  unsigned groups = 1;
  CU_CHECK(cuDevSmResourceSplitByCount(parts, &groups, &all, &rest, 0, first_sms));
  STRATA_CHECK(groups == 1);
  auto split = std::make_unique<SmSplit>();
  split->first_sms = parts[0].sm.smCount;
  split->second_sms = rest.sm.smCount;
  CUdevResource* resources[2] = {&parts[0], &rest};
  cudaStream_t* streams[2] = {&split->first, &split->second};
  for (int i = 0; i < 2; ++i) {
    CUdevResourceDesc desc;
    CU_CHECK(cuDevResourceGenerateDesc(&desc, resources[i], 1));
    CU_CHECK(cuGreenCtxCreate(&split->contexts[i], desc, device, CU_GREEN_CTX_DEFAULT_STREAM));
    CUstream s;
    CU_CHECK(cuGreenCtxStreamCreate(&s, split->contexts[i], CU_STREAM_NON_BLOCKING, 0));
    *streams[i] = s;
  }
  return split;
}

// The four projections of layer `w` ([out, in] weights) for `rows` rows of x into y.
std::vector<GemmArgs> LayerGemms(const worker::DeviceLayerWeights& w, const worker::ModelConfig& c,
                                 const bf16* x, bf16* y, int64_t rows) {
  const int64_t hidden = c.hidden_size, inter = c.intermediate_size;
  const int64_t q_width = c.num_attention_heads * c.head_dim;
  const int64_t qkv_width = q_width + 2 * c.num_key_value_heads * c.head_dim;
  const struct {
    const bf16* w;
    int64_t n, k;
  } products[] = {{w.qkv, qkv_width, hidden},
                  {w.o, hidden, q_width},
                  {w.gate_up, 2 * inter, hidden},
                  {w.down, hidden, inter}};
  std::vector<GemmArgs> out;
  for (const auto& [weights, n, k] : products) {
    GemmArgs g;
    g.x = x, g.ldx = k, g.w = weights, g.y = y, g.ldy = n, g.m = rows, g.n = n, g.k = k;
    out.push_back(g);
  }
  return out;
}

int Main() {
  auto shape = worker::NamedModelShape("llama-3.1-8b");
  STRATA_CHECK(shape.ok()) << shape.status();
  const worker::ModelConfig& config = shape->config;
  cudaStream_t main_stream, cohort_stream, urgent_stream;
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&main_stream, cudaStreamNonBlocking));
  auto arena = worker::DeviceArena::Create(
      "weights", worker::WeightBytes(config, 2) + worker::WeightAlignmentSlack(config));
  STRATA_CHECK(arena.ok()) << arena.status();
  auto weights = worker::UploadWeights(nullptr, config, &*arena, main_stream);
  STRATA_CHECK(weights.ok()) << weights.status();
  // Inputs wide enough for every projection's x and y, filled from the weights' random
  // values (their contents do not change the GEMMs' time, only that they are not zeros).
  int64_t widest = 0;  // the widest x or y of a projection
  for (const GemmArgs& g : LayerGemms(weights->layers[0], config, nullptr, nullptr, 1)) {
    widest = std::max({widest, g.n, g.k});
  }
  bf16 *decode_x = nullptr, *decode_y = nullptr, *cohort_x = nullptr, *cohort_y = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&decode_x, kDecodeRows * widest * sizeof(bf16)));
  STRATA_CUDA_CHECK(cudaMalloc(&decode_y, kDecodeRows * widest * sizeof(bf16)));
  STRATA_CUDA_CHECK(cudaMalloc(&cohort_x, kCohortRows * widest * sizeof(bf16)));
  STRATA_CUDA_CHECK(cudaMalloc(&cohort_y, kCohortRows * widest * sizeof(bf16)));
  const bf16* random = weights->layers[0].gate_up;  // 2 * inter * hidden values
  STRATA_CHECK(kCohortRows * widest <= 2 * config.intermediate_size * config.hidden_size);
  STRATA_CUDA_CHECK(
      cudaMemcpy(decode_x, random, kDecodeRows * widest * sizeof(bf16), cudaMemcpyDeviceToDevice));
  STRATA_CUDA_CHECK(
      cudaMemcpy(cohort_x, random, kCohortRows * widest * sizeof(bf16), cudaMemcpyDeviceToDevice));

  auto decode_gemm = Gemm::Create();
  auto cohort_gemm = Gemm::Create();
  STRATA_CHECK(decode_gemm.ok() && cohort_gemm.ok());
  std::vector<GemmArgs> decode;
  for (const worker::DeviceLayerWeights& w : weights->layers) {
    for (const GemmArgs& g : LayerGemms(w, config, decode_x, decode_y, kDecodeRows)) {
      decode.push_back(g);
    }
  }
  const std::vector<GemmArgs> cohort_layer =
      LayerGemms(weights->layers[0], config, cohort_x, cohort_y, kCohortRows);

  int lowest = 0, highest = 0;
  STRATA_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&lowest, &highest));
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

  std::printf(
      "| cohort layers | decode pass ms | cohort ms | one stream ms | two streams ms | "
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

  // The decode pass on one partition, the cohort on the other, both from the same start.
  std::printf(
      "\nSMs split by green contexts (decode partition first):\n"
      "| decode SMs | cohort SMs | cohort layers | decode pass ms | cohort ms | "
      "concurrent ms | one stream, all SMs ms | hidden |\n"
      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (unsigned decode_sms : {32u, 48u, 64u, 80u}) {
    const std::unique_ptr<SmSplit> owned = SplitSms(decode_sms);
    const SmSplit& split = *owned;
    for (int layers : {1, 2, 4}) {
      const float d = time(split.first, [&] { run_decode(split.first); });
      const float c = time(split.second, [&] { run_cohort(split.second, layers); });
      const float both = time(split.first, [&] {
        STRATA_CUDA_CHECK(cudaStreamWaitEvent(split.second, start));
        run_cohort(split.second, layers);  // its few long GEMMs first, then the many short
        run_decode(split.first);
        STRATA_CUDA_CHECK(cudaEventRecord(cohort_done, split.second));
        STRATA_CUDA_CHECK(cudaStreamWaitEvent(split.first, cohort_done));
      });
      const float serial = time(main_stream, [&] {
        run_decode(main_stream);
        run_cohort(main_stream, layers);
      });
      // The share of the cohort's all-SM time that the split saves off the serial pass.
      const float alone = time(main_stream, [&] { run_cohort(main_stream, layers); });
      std::printf("| %u | %u | %d | %.3f | %.3f | %.3f | %.3f | %.0f%% |\n", split.first_sms,
                  split.second_sms, layers, d, c, both, serial, 100.0f * (serial - both) / alone);
    }
  }
  return 0;
}

}  // namespace
}  // namespace strata::kernels::cuda

int main() { return strata::kernels::cuda::Main(); }
