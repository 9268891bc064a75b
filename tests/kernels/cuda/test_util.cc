#include "tests/kernels/cuda/test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>

namespace strata::kernels::cuda::testing {
namespace {

struct OpStats {
  int64_t checks = 0, elements = 0, failures = 0;
  double max_abs = 0.0, max_scaled = 0.0, max_rel_l2 = 0.0;
};
std::map<std::string, OpStats>& Stats() {
  static std::map<std::string, OpStats> stats;
  return stats;
}

}  // namespace

uint64_t RunSeed() {
  static const uint64_t seed = []() -> uint64_t {
    if (const char* env = std::getenv("STRATA_TEST_SEED")) return std::strtoull(env, nullptr, 10);
    return (static_cast<uint64_t>(std::random_device()()) << 32) | std::random_device()();
  }();
  return seed;
}

std::mt19937_64 MakeRng() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name =
      info != nullptr ? std::string(info->test_suite_name()) + "." + info->name() : "";
  return std::mt19937_64(RunSeed() ^ std::hash<std::string>()(name));
}

bool Quick() {
  const char* env = std::getenv("STRATA_CUDA_TEST_QUICK");
  return env != nullptr && env[0] == '1';
}

std::vector<Bf16Bits> RandomBf16(size_t n, std::mt19937_64& rng, float scale,
                                 std::vector<float>* exact) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<Bf16Bits> bits(n);
  if (exact != nullptr) exact->resize(n);
  for (size_t i = 0; i < n; ++i) {
    bits[i] = FloatToBF16(dist(rng));
    if (exact != nullptr) (*exact)[i] = BF16ToFloat(bits[i]);
  }
  return bits;
}

std::vector<float> ToFloat(const std::vector<Bf16Bits>& bits) {
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = BF16ToFloat(bits[i]);
  return out;
}

std::vector<float> RandomFloat(size_t n, std::mt19937_64& rng, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

namespace {

// Counts the elements of got outside bound(i) of ref (NaN and infinity fail), prints one line
// and records the op's worst errors for PrintSummary.
template <typename Bound>
int64_t CheckElements(const std::string& op, const std::string& shape,
                      const std::vector<float>& got, const std::vector<float>& ref, Bound bound_of,
                      double max_rel_l2) {
  EXPECT_EQ(got.size(), ref.size()) << op << " " << shape;
  const size_t n = std::min(got.size(), ref.size());
  double ref_sq = 0.0, err_sq = 0.0;
  for (size_t i = 0; i < n; ++i) ref_sq += double(ref[i]) * ref[i];
  int64_t failures = 0;
  double max_abs = 0.0, max_scaled = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double err = std::fabs(double(got[i]) - ref[i]);
    const double bound = bound_of(i);
    // Written so that NaN fails: !(err <= bound) is true for NaN.
    const bool ok = std::isfinite(got[i]) && err <= bound;
    if (!ok) {
      if (failures < 5) {
        ADD_FAILURE() << op << " " << shape << ": element " << i << " got " << got[i] << " want "
                      << ref[i] << " (bound " << bound << ")";
      }
      ++failures;
    }
    if (std::isfinite(err)) {
      max_abs = std::max(max_abs, err);
      max_scaled = std::max(max_scaled, bound > 0 ? err / bound : 0.0);
      err_sq += err * err;
    }
  }
  const double rel_l2 = ref_sq > 0 ? std::sqrt(err_sq / ref_sq) : std::sqrt(err_sq);
  EXPECT_EQ(failures, 0) << op << " " << shape;
  EXPECT_LE(rel_l2, max_rel_l2) << op << " " << shape;
  std::printf("  %-16s %-44s n=%-9zu max_abs=%.3g rel_l2=%.3g worst/bound=%.2f%s\n", op.c_str(),
              shape.c_str(), n, max_abs, rel_l2, max_scaled, failures ? " FAIL" : "");
  OpStats& s = Stats()[op];
  ++s.checks;
  s.elements += n;
  s.failures += failures;
  s.max_abs = std::max(s.max_abs, max_abs);
  s.max_scaled = std::max(s.max_scaled, max_scaled);
  s.max_rel_l2 = std::max(s.max_rel_l2, rel_l2);
  return failures;
}

}  // namespace

int64_t ExpectClose(const std::string& op, const std::string& shape, const std::vector<float>& got,
                    const std::vector<float>& ref, Tolerance tol) {
  double ref_sq = 0.0;
  for (float r : ref) ref_sq += double(r) * r;
  const double atol = ref.empty() ? 0.0 : tol.atol_rms * std::sqrt(ref_sq / ref.size());
  return CheckElements(
      op, shape, got, ref, [&](size_t i) { return atol + tol.rtol * std::fabs(ref[i]); },
      std::numeric_limits<double>::infinity());
}

int64_t ExpectAttentionClose(const std::string& op, const std::string& shape,
                             const std::vector<float>& got, const std::vector<float>& ref,
                             const std::vector<float>& magnitude) {
  EXPECT_EQ(magnitude.size(), ref.size()) << op << " " << shape;
  constexpr double kUnit = 1.0 / 256;  // bf16's unit roundoff
  return CheckElements(
      op, shape, got, ref,
      [&](size_t i) {
        const double m = i < magnitude.size() ? magnitude[i] : 0.0;
        return 2 * kUnit * (m + std::fabs(ref[i]));
      },
      kAttentionRelL2);
}

std::vector<float> Abs(std::vector<float> values) {
  for (float& x : values) x = std::fabs(x);
  return values;
}

void PrintSummary() {
  std::printf("\nseed %llu: per-op summary\n", static_cast<unsigned long long>(RunSeed()));
  std::printf("  %-16s %7s %11s %9s %11s %11s %12s\n", "op", "checks", "elements", "failures",
              "max_abs", "max_rel_l2", "worst/bound");
  for (const auto& [op, s] : Stats()) {
    std::printf("  %-16s %7lld %11lld %9lld %11.3g %11.3g %12.2f\n", op.c_str(),
                static_cast<long long>(s.checks), static_cast<long long>(s.elements),
                static_cast<long long>(s.failures), s.max_abs, s.max_rel_l2, s.max_scaled);
  }
}

}  // namespace strata::kernels::cuda::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::printf("strata-cuda-ops-test seed %llu (set STRATA_TEST_SEED to repeat)\n",
              static_cast<unsigned long long>(strata::kernels::cuda::testing::RunSeed()));
  int device = 0;
  cudaDeviceProp prop;
  if (cudaGetDevice(&device) == cudaSuccess &&
      cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
    std::printf("device %d: %s, %d SMs\n", device, prop.name, prop.multiProcessorCount);
  } else {
    std::printf("no CUDA device: only host-side tests can pass\n");
  }
  const int result = RUN_ALL_TESTS();
  strata::kernels::cuda::testing::PrintSummary();
  return result;
}
