// Helpers of the CUDA op tests: device buffers, bf16 data, fresh random inputs (one seed
// per run, printed by main) and comparisons that never let NaN pass.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "kernels/cuda/cuda_check.h"

namespace strata::kernels::cuda::testing {

// The run's seed (STRATA_TEST_SEED, or drawn fresh) and a generator derived from it and
// the test's name, so one test can be re-run alone with the same inputs.
uint64_t RunSeed();
std::mt19937_64 MakeRng();
// STRATA_CUDA_TEST_QUICK=1 (under compute-sanitizer): smaller shapes.
bool Quick();

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count_ > 0) STRATA_CUDA_CHECK(cudaMalloc(&data_, count_ * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { Upload(host); }
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
    return *this;
  }
  void Upload(const std::vector<T>& host) {
    EXPECT_EQ(host.size(), count_);
    if (count_ > 0) {
      STRATA_CUDA_CHECK(cudaMemcpy(data_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice));
    }
  }
  std::vector<T> Download() const {
    std::vector<T> host(count_);
    STRATA_CUDA_CHECK(cudaDeviceSynchronize());
    if (count_ > 0) {
      STRATA_CUDA_CHECK(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost));
    }
    return host;
  }
  // All bits set: NaN for float and bf16, -1 for integers.
  void Poison() {
    if (count_ > 0) STRATA_CUDA_CHECK(cudaMemset(data_, 0xff, count_ * sizeof(T)));
  }
  T* get() const { return data_; }
  size_t size() const { return count_; }

 private:
  T* data_ = nullptr;
  size_t count_ = 0;
};

// bf16 on the host as raw bits (base/dtype.h conversions).
using Bf16Bits = uint16_t;
inline __nv_bfloat16* AsBf16(const DeviceBuffer<Bf16Bits>& b) {
  return reinterpret_cast<__nv_bfloat16*>(b.get());
}

// Normal(0, scale) values rounded to bf16; `exact` gets the same values as float.
std::vector<Bf16Bits> RandomBf16(size_t n, std::mt19937_64& rng, float scale,
                                 std::vector<float>* exact);
std::vector<float> ToFloat(const std::vector<Bf16Bits>& bits);
std::vector<float> RandomFloat(size_t n, std::mt19937_64& rng, float scale);

// Element-wise |got - ref| <= atol + rtol * |ref|, with atol = atol_rms * rms(ref); a NaN
// or infinity in got fails. Prints one line per call and remembers the op's worst error
// for the summary main prints at the end. Returns the number of failing elements.
struct Tolerance {
  double rtol;
  double atol_rms;
};
inline constexpr Tolerance kBf16Tolerance{1e-2, 1e-2};       // one bf16 rounding of the output
inline constexpr Tolerance kBf16ChainTolerance{2e-2, 2e-2};  // bf16 intermediates too
int64_t ExpectClose(const std::string& op, const std::string& shape, const std::vector<float>& got,
                    const std::vector<float>& ref, Tolerance tol);

// Attention outputs against a float reference, by their error model. An output is
// sum_i p_i v_i over probabilities p that the kernels may round to bf16 before the product
// (the tensor-core prefill does; l is summed from the float p), and it is rounded to bf16
// once at the end. Each rounding errs by at most u = 2^-8 relative, so
//   |got - ref| <= u * sum_i p_i |v_i| + u * |ref|  (+ float32 accumulation, far smaller),
// where `magnitude` is sum_i p_i |v_i|: the reference attention over |V|. The element-wise
// bound is twice that worst case; the relative L2 error must stay at the level of one bf16
// rounding (kAttentionRelL2), which a systematic error of any size exceeds.
inline constexpr double kAttentionRelL2 = 3e-3;
int64_t ExpectAttentionClose(const std::string& op, const std::string& shape,
                             const std::vector<float>& got, const std::vector<float>& ref,
                             const std::vector<float>& magnitude);
// |x| element-wise: the V cache the magnitude reference attends over.
std::vector<float> Abs(std::vector<float> values);
void PrintSummary();

}  // namespace strata::kernels::cuda::testing
