// Shared by the CUDA kernel benchmarks: the device line they start with, and timing in
// milliseconds per call on the default stream, from CUDA events around a batch of calls,
// median of 7 timed batches after a warm-up batch.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace strata::kernels::cuda::bench {

// Prints the current device's name, SM count and L2 size; returns its properties.
inline cudaDeviceProp PrintDevice() {
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop;
  STRATA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::printf("device: %s, %d SMs, L2 %d MiB\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20);
  return prop;
}

inline float Median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Milliseconds per call of `fn(i)` for i in [0, calls).
template <typename Fn>
float TimeCalls(int calls, Fn fn) {
  cudaEvent_t start, stop;
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < calls; ++i) fn(i);  // warm-up
  std::vector<float> rounds;
  for (int round = 0; round < 7; ++round) {
    STRATA_CUDA_CHECK(cudaEventRecord(start));
    for (int i = 0; i < calls; ++i) fn(i);
    STRATA_CUDA_CHECK(cudaEventRecord(stop));
    STRATA_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    rounds.push_back(ms / calls);
  }
  STRATA_CUDA_CHECK(cudaEventDestroy(start));
  STRATA_CUDA_CHECK(cudaEventDestroy(stop));
  return Median(rounds);
}

}  // namespace strata::kernels::cuda::bench
