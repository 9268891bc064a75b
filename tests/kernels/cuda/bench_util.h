// Shared by the CUDA kernel benchmarks: the device line they start with, random bf16 device
// buffers, and timing in milliseconds per call on the default stream, from CUDA events
// around a batch of calls, median of 7 timed batches after a warm-up batch.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "base/dtype.h"
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

// Fills `bytes` of device memory with bf16 normal(0, scale) values: one random block of up
// to 64 MiB from `seed`, copied on the device over the rest (values repeat every 64 MiB,
// which the timed kernels do not see).
inline void FillRandomBf16(void* device, size_t bytes, float scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<uint16_t> block(std::min(bytes, size_t{64} << 20) / 2);
  for (uint16_t& x : block) x = FloatToBF16(dist(rng));
  const size_t block_bytes = block.size() * 2;
  char* at = static_cast<char*>(device);
  STRATA_CUDA_CHECK(cudaMemcpy(at, block.data(), block_bytes, cudaMemcpyHostToDevice));
  for (size_t done = block_bytes; done < bytes; done += block_bytes) {
    STRATA_CUDA_CHECK(
        cudaMemcpy(at + done, at, std::min(block_bytes, bytes - done), cudaMemcpyDeviceToDevice));
  }
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
