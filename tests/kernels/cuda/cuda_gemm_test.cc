// The cuBLASLt wrapper against cpu::Linear.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/ops.h"
#include "kernels/cuda/gemm.h"
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

TEST(CudaGemmTest, MatchesCpuLinear) {
  auto rng = testing::MakeRng();
  auto gemm = Gemm::Create();
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  const GemmCase cases[] = {{1, 4096, 4096},  {7, 1024, 4096}, {64, 1536, 512, 8, 8},
                            {300, 384, 256},  {129, 96, 200},  {5, 11, 24},
                            {3, 40, 37, 3, 1}};
  for (const GemmCase& c : cases) {
    const int64_t ldx = c.k + c.x_pad, ldy = c.n + c.y_pad;
    std::vector<float> x_f, w_f, b_f;
    DeviceBuffer<Bf16Bits> x(testing::RandomBf16(c.m * ldx, rng, 1.0f, &x_f));
    DeviceBuffer<Bf16Bits> w(testing::RandomBf16(c.n * c.k, rng, 1.0f, &w_f));
    DeviceBuffer<Bf16Bits> bias(testing::RandomBf16(c.n, rng, 1.0f, &b_f));
    std::vector<float> packed(c.m * c.k);
    for (int64_t r = 0; r < c.m; ++r) {
      std::copy_n(x_f.begin() + r * ldx, c.k, packed.begin() + r * c.k);
    }
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
        (*gemm)->Run(args, nullptr);
        const std::vector<float> full =
            y_float ? y_f32.Download() : testing::ToFloat(y_bf16.Download());
        std::vector<float> got(c.m * c.n);
        for (int64_t r = 0; r < c.m; ++r) {
          std::copy_n(full.begin() + r * ldy, c.n, got.begin() + r * c.n);
        }
        const std::string shape = absl::StrCat("m=", c.m, " n=", c.n, " k=", c.k, " ldx=", ldx,
                                               " ldy=", ldy, with_bias ? " +bias" : "");
        testing::ExpectClose(y_float ? "gemm_f32_out" : "gemm_bf16_out", shape, got, ref,
                             y_float ? testing::Tolerance{1e-3, 1e-3} : testing::kBf16Tolerance);
        // Padding between rows is never written.
        for (int64_t r = 0; r < c.m; ++r) {
          for (int64_t j = c.n; j < ldy; ++j) EXPECT_TRUE(std::isnan(full[r * ldy + j])) << shape;
        }
      }
    }
  }
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

}  // namespace
}  // namespace strata::kernels::cuda
