// The GEMM (cuBLASLt, and the skinny kernel for few rows) against cpu::Linear.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/ops.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemm_skinny.h"
#include "kernels/cuda/launch.h"
#include "tests/kernels/cuda/test_util.h"

namespace strata::kernels::cuda {
namespace {

using testing::AsBf16;
using testing::Bf16Bits;
using testing::DeviceBuffer;

struct GemmCase {
  int64_t m, n, k;
  int64_t x_pad = 0, y_pad = 0;  // extra elements per row (strided views)
};

// Runs every (bias, output type) combination of one shape through `gemm` and checks it
// against cpu::Linear on fresh inputs; poisoned outputs, padding never written. Returns how
// many of the runs took the skinny path.
int CheckCase(Gemm& gemm, const GemmCase& c, std::mt19937_64& rng) {
  const int64_t ldx = c.k + c.x_pad, ldy = c.n + c.y_pad;
  std::vector<float> x_f, w_f, b_f;
  DeviceBuffer<Bf16Bits> x(testing::RandomBf16(c.m * ldx, rng, 1.0f, &x_f));
  DeviceBuffer<Bf16Bits> w(testing::RandomBf16(c.n * c.k, rng, 1.0f, &w_f));
  DeviceBuffer<Bf16Bits> bias(testing::RandomBf16(c.n, rng, 1.0f, &b_f));
  std::vector<float> packed(c.m * c.k);
  for (int64_t r = 0; r < c.m; ++r) {
    std::copy_n(x_f.begin() + r * ldx, c.k, packed.begin() + r * c.k);
  }
  int skinny = 0;
  for (bool with_bias : {false, true}) {
    std::vector<float> ref(c.m * c.n);
    cpu::Linear(packed.data(), c.m, c.k, w_f.data(), c.n, with_bias ? b_f.data() : nullptr,
                ref.data());
    for (bool y_float : {false, true}) {
      if (with_bias && y_float) continue;  // a bf16 bias goes with bf16 output only
      DeviceBuffer<float> y_f32(c.m * ldy);
      DeviceBuffer<Bf16Bits> y_bf16(c.m * ldy);
      y_f32.Poison();
      y_bf16.Poison();
      GemmArgs args;
      args.x = AsBf16(x);
      args.ldx = ldx;
      args.w = AsBf16(w);
      args.bias = with_bias ? AsBf16(bias) : nullptr;
      args.y = y_float ? static_cast<void*>(y_f32.get()) : static_cast<void*>(y_bf16.get());
      args.ldy = ldy;
      args.y_float = y_float;
      args.m = c.m, args.n = c.n, args.k = c.k;
      const bool takes_skinny = gemm.TakesSkinnyPath(args);
      skinny += takes_skinny;
      gemm.Run(args, nullptr);
      STRATA_CUDA_CHECK(cudaGetLastError());
      const std::vector<float> full =
          y_float ? y_f32.Download() : testing::ToFloat(y_bf16.Download());
      std::vector<float> got(c.m * c.n);
      for (int64_t r = 0; r < c.m; ++r) {
        std::copy_n(full.begin() + r * ldy, c.n, got.begin() + r * c.n);
      }
      const std::string shape = absl::StrCat("m=", c.m, " n=", c.n, " k=", c.k, " ldx=", ldx,
                                             " ldy=", ldy, with_bias ? " +bias" : "");
      const std::string op =
          absl::StrCat(takes_skinny ? "skinny" : "gemm", y_float ? "_f32_out" : "_bf16_out");
      testing::ExpectClose(op, shape, got, ref,
                           y_float ? testing::Tolerance{1e-3, 1e-3} : testing::kBf16Tolerance);
      // Padding between rows is never written.
      for (int64_t r = 0; r < c.m; ++r) {
        for (int64_t j = c.n; j < ldy; ++j) EXPECT_TRUE(std::isnan(full[r * ldy + j])) << shape;
      }
    }
  }
  return skinny;
}

TEST(CudaGemmTest, MatchesCpuLinear) {
  auto rng = testing::MakeRng();
  auto gemm = Gemm::Create();
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  (*gemm)->set_skinny_max_rows(0);  // cuBLASLt only
  const GemmCase cases[] = {{1, 4096, 4096},  {7, 1024, 4096}, {64, 1536, 512, 8, 8},
                            {300, 384, 256},  {129, 96, 200},  {5, 11, 24},
                            {3, 40, 37, 3, 1}};
  for (const GemmCase& c : cases) EXPECT_EQ(CheckCase(**gemm, c, rng), 0);
  // Each (shape, output type, bias, alignment) got one plan; re-running adds none.
  const size_t plans = (*gemm)->cached_shapes();
  EXPECT_EQ(plans, std::size(cases) * 3);
  GemmArgs again;
  DeviceBuffer<Bf16Bits> x(testing::RandomBf16(4096, rng, 1.0f, nullptr));
  DeviceBuffer<Bf16Bits> w(testing::RandomBf16(4096 * 4096, rng, 1.0f, nullptr));
  DeviceBuffer<Bf16Bits> y(4096);
  again.x = AsBf16(x), again.ldx = 4096, again.w = AsBf16(w), again.y = y.get();
  again.ldy = 4096, again.m = 1, again.n = 4096, again.k = 4096;
  (*gemm)->Run(again, nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_EQ((*gemm)->cached_shapes(), plans);
}

TEST(CudaGemmTest, RowBucketsRoundUpByAtMostAQuarter) {
  EXPECT_EQ(Gemm::RowBucket(1), 8);
  EXPECT_EQ(Gemm::RowBucket(9), 16);
  EXPECT_EQ(Gemm::RowBucket(32), 32);
  EXPECT_EQ(Gemm::RowBucket(33), 40);
  EXPECT_EQ(Gemm::RowBucket(1747), 1792);
  EXPECT_EQ(Gemm::RowBucket(2032), 2048);
  EXPECT_EQ(Gemm::RowBucket(2049), 2560);
  for (int64_t m = 1; m <= 20000; ++m) {
    const int64_t bucket = Gemm::RowBucket(m);
    ASSERT_GE(bucket, m);
    ASSERT_LE(bucket, std::max<int64_t>(m + 7, m + m / 4)) << m;
    ASSERT_EQ(Gemm::RowBucket(bucket), bucket) << m;
    ASSERT_LE(Gemm::RowBucket(m - 1), bucket) << "monotone at " << m;
  }
}

// Row counts of one bucket share the bucket's algorithm query, and every one is still
// right; Warm takes every bucket's query up front.
TEST(CudaGemmTest, RowCountsOfABucketShareOneAlgorithmQuery) {
  auto rng = testing::MakeRng();
  auto gemm = Gemm::Create();
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  (*gemm)->set_skinny_max_rows(0);
  // 1537..1792 is one bucket: three shapes x three (bias, output type) variants.
  for (int64_t m : {1700, 1537, 1792}) EXPECT_EQ(CheckCase(**gemm, {m, 256, 128}, rng), 0);
  EXPECT_EQ((*gemm)->cached_shapes(), 9u);
  EXPECT_EQ((*gemm)->heuristic_queries(), 3) << "one per variant, not per row count";

  auto warmed = Gemm::Create();
  ASSERT_TRUE(warmed.ok()) << warmed.status();
  DeviceBuffer<Bf16Bits> x(testing::RandomBf16(3000 * 128, rng, 1.0f, nullptr));
  DeviceBuffer<Bf16Bits> w(testing::RandomBf16(256 * 128, rng, 1.0f, nullptr));
  DeviceBuffer<Bf16Bits> y(3000 * 256);
  GemmArgs args;
  args.x = AsBf16(x), args.ldx = 128, args.w = AsBf16(w), args.y = y.get(), args.ldy = 256;
  args.m = 3000, args.n = 256, args.k = 128;
  (*warmed)->Warm(args, nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  const int64_t queries = (*warmed)->heuristic_queries();
  EXPECT_GT(queries, 10);
  for (int64_t m : {9, 100, 777, 1747, 2999, 3000}) {
    args.m = m;
    (*warmed)->Run(args, nullptr);
  }
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_EQ((*warmed)->heuristic_queries(), queries) << "warmed buckets need no query";
}

// Gemm's skinny path for 1..8 rows: every row count, column counts that leave partial
// blocks, k that is not a multiple of a 64-element step, strided x and y, large shapes.
TEST(CudaGemmTest, SkinnyMatchesCpuLinear) {
  auto rng = testing::MakeRng();
  auto gemm = Gemm::Create();
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  ASSERT_EQ((*gemm)->skinny_max_rows(), 8);
  std::vector<GemmCase> cases;
  for (int64_t m = 1; m <= 8; ++m) {
    cases.push_back({m, 1000, 264, m % 2 ? 8 : 0, m % 3 ? 0 : 5});
    cases.push_back({m, 11, 24});
  }
  cases.push_back({1, 4096 + 24, 4096});
  cases.push_back({2, 12288 + 40, 1032, 16, 3});
  cases.push_back({4, 300, 8});  // k shorter than one 64-element step
  if (!testing::Quick()) {
    cases.push_back({1, 6144, 4096});
    cases.push_back({8, 4096, 14336});
    cases.push_back({3, 2048, 14336 + 8, 8, 0});
  }
  int skinny = 0;
  for (const GemmCase& c : cases) skinny += CheckCase(**gemm, c, rng);
  EXPECT_EQ(skinny, static_cast<int>(cases.size()) * 3);  // every run took the skinny path
  EXPECT_EQ((*gemm)->cached_shapes(), 0u);
  // Shapes it declines go to cuBLASLt: more rows, k % 8 != 0, x rows not 16-byte aligned.
  for (const GemmCase& c :
       {GemmCase{9, 256, 256}, GemmCase{2, 64, 36}, GemmCase{3, 64, 64, 4, 0}}) {
    EXPECT_EQ(CheckCase(**gemm, c, rng), 0);
  }
  EXPECT_EQ((*gemm)->cached_shapes(), 9u);
}

// The skinny kernel called directly, bias and both output types, every row count 1..8,
// column counts that leave partial 16-column blocks, k not a multiple of a 64-element step.
TEST(CudaGemmTest, SkinnyKernelMatchesCpuLinear) {
  auto rng = testing::MakeRng();
  std::vector<GemmCase> cases = {{1, 1000, 264, 8, 5},
                                 {8, 1000, 264},
                                 {5, 37, 1032, 8, 3},
                                 {3, 4096 + 8, 2048 + 40},
                                 {8, 6, 8}};
  for (int64_t m = 1; m <= 8; ++m) cases.push_back({m, 200 + 16 * m, 520, m % 2 ? 8 : 0, 1});
  for (const GemmCase& c : cases) {
    const int64_t ldx = c.k + c.x_pad, ldy = c.n + c.y_pad;
    std::vector<float> x_f, w_f, b_f;
    DeviceBuffer<Bf16Bits> x(testing::RandomBf16(c.m * ldx, rng, 1.0f, &x_f));
    DeviceBuffer<Bf16Bits> w(testing::RandomBf16(c.n * c.k, rng, 1.0f, &w_f));
    DeviceBuffer<Bf16Bits> bias(testing::RandomBf16(c.n, rng, 1.0f, &b_f));
    std::vector<float> packed(c.m * c.k), ref(c.m * c.n);
    for (int64_t r = 0; r < c.m; ++r) {
      std::copy_n(x_f.begin() + r * ldx, c.k, packed.begin() + r * c.k);
    }
    cpu::Linear(packed.data(), c.m, c.k, w_f.data(), c.n, b_f.data(), ref.data());
    for (bool y_float : {false, true}) {
      DeviceBuffer<float> y_f32(c.m * ldy);
      DeviceBuffer<Bf16Bits> y_bf16(c.m * ldy);
      y_f32.Poison();
      y_bf16.Poison();
      internal::SkinnyGemmArgs args{
          .x = AsBf16(x),
          .ldx = ldx,
          .w = AsBf16(w),
          .bias = AsBf16(bias),
          .y = y_float ? static_cast<void*>(y_f32.get()) : static_cast<void*>(y_bf16.get()),
          .ldy = ldy,
          .y_float = y_float,
          .m = static_cast<int32_t>(c.m),
          .n = static_cast<int32_t>(c.n),
          .k = static_cast<int32_t>(c.k)};
      ASSERT_TRUE(internal::SkinnyGemmSupported(args));
      internal::LaunchSkinnyGemm(args, nullptr);
      STRATA_CUDA_CHECK(cudaGetLastError());
      const std::vector<float> full =
          y_float ? y_f32.Download() : testing::ToFloat(y_bf16.Download());
      std::vector<float> got(c.m * c.n);
      for (int64_t r = 0; r < c.m; ++r) {
        std::copy_n(full.begin() + r * ldy, c.n, got.begin() + r * c.n);
        for (int64_t j = c.n; j < ldy; ++j) EXPECT_TRUE(std::isnan(full[r * ldy + j]));
      }
      const std::string op = y_float ? "skinny_direct_f32" : "skinny_direct_bf16";
      testing::ExpectClose(
          op, absl::StrCat("m=", c.m, " n=", c.n, " k=", c.k, " ldx=", ldx, " ldy=", ldy, " +bias"),
          got, ref, y_float ? testing::Tolerance{1e-3, 1e-3} : testing::kBf16Tolerance);
    }
  }
}

// The same products with programmatic dependent launch off (launches serialize as usual).
TEST(CudaGemmTest, SkinnyWithoutProgrammaticLaunch) {
  auto rng = testing::MakeRng();
  auto gemm = Gemm::Create();
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  SetProgrammaticLaunch(false);
  for (const GemmCase& c : {GemmCase{1, 777, 512}, GemmCase{6, 5000, 1024, 8, 2}}) {
    EXPECT_EQ(CheckCase(**gemm, c, rng), 3);
  }
  SetProgrammaticLaunch(true);
}

}  // namespace
}  // namespace strata::kernels::cuda
