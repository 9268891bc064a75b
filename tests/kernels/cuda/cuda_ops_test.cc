// Element-wise and per-row CUDA ops against kernels/cpu on fresh random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cuda/ops.h"
#include "tests/kernels/cuda/test_util.h"

namespace strata::kernels::cuda {
namespace {

using testing::AsBf16;
using testing::Bf16Bits;
using testing::DeviceBuffer;
using testing::ExpectClose;
using testing::kBf16Tolerance;
using testing::ToFloat;

constexpr testing::Tolerance kExact{0.0, 0.0};
constexpr testing::Tolerance kFloatTolerance{1e-6, 1e-6};

TEST(CudaOpsTest, EmbeddingGather) {
  auto rng = testing::MakeRng();
  const int64_t vocab = 1000;
  for (int64_t dim : {64, 4096, 100, 37}) {
    for (int64_t rows : {1, 33}) {
      std::vector<float> table_f;
      DeviceBuffer<Bf16Bits> table(testing::RandomBf16(vocab * dim, rng, 1.0f, &table_f));
      std::vector<int32_t> ids(rows);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % vocab);
      DeviceBuffer<int32_t> d_ids(ids);
      std::vector<float> ref(rows * dim);
      cpu::EmbeddingGather(table_f.data(), dim, ids, ref.data());
      const std::string shape = absl::StrCat("rows=", rows, " dim=", dim);
      DeviceBuffer<Bf16Bits> out(rows * dim);
      out.Poison();
      EmbeddingGather(AsBf16(table), dim, d_ids.get(), rows, AsBf16(out), nullptr);
      ExpectClose("embedding", shape, ToFloat(out.Download()), ref, kExact);
      DeviceBuffer<float> out_f(rows * dim);
      out_f.Poison();
      EmbeddingGather(AsBf16(table), dim, d_ids.get(), rows, out_f.get(), nullptr);
      ExpectClose("embedding_f32", shape, out_f.Download(), ref, kExact);
    }
  }
}

TEST(CudaOpsTest, RmsNormWithStrides) {
  auto rng = testing::MakeRng();
  for (int64_t dim : {64, 128, 4096, 5120, 100, 37}) {
    for (int64_t rows : {1, 7, 64}) {
      for (int64_t pad : {0, 8, 3}) {
        const int64_t stride = dim + pad;
        std::vector<float> x_f, w_f;
        DeviceBuffer<Bf16Bits> x(testing::RandomBf16(rows * stride, rng, 2.0f, &x_f));
        DeviceBuffer<Bf16Bits> w(testing::RandomBf16(dim, rng, 1.0f, &w_f));
        std::vector<float> packed(rows * dim), ref(rows * dim);
        for (int64_t r = 0; r < rows; ++r) {
          std::copy_n(x_f.begin() + r * stride, dim, packed.begin() + r * dim);
        }
        cpu::RmsNorm(packed.data(), w_f.data(), rows, dim, 1e-6f, ref.data());
        DeviceBuffer<Bf16Bits> out(rows * dim);
        out.Poison();
        RmsNorm(AsBf16(x), stride, AsBf16(w), rows, dim, 1e-6f, AsBf16(out), nullptr);
        ExpectClose("rms_norm", absl::StrCat("rows=", rows, " dim=", dim, " stride=", stride),
                    ToFloat(out.Download()), ref, kBf16Tolerance);
      }
    }
  }
}

TEST(CudaOpsTest, AddRmsNormKeepsFloatResidual) {
  auto rng = testing::MakeRng();
  for (int64_t dim : {64, 4096, 100, 37}) {
    for (int64_t rows : {1, 19}) {
      for (bool with_x : {true, false}) {
        std::vector<float> x_f, w_f;
        std::vector<float> residual_f = testing::RandomFloat(rows * dim, rng, 3.0f);
        DeviceBuffer<Bf16Bits> x(testing::RandomBf16(rows * dim, rng, 1.0f, &x_f));
        DeviceBuffer<Bf16Bits> w(testing::RandomBf16(dim, rng, 1.0f, &w_f));
        DeviceBuffer<float> residual(residual_f);
        std::vector<float> zeros(rows * dim, 0.0f), ref(rows * dim);
        cpu::AddRmsNorm(residual_f.data(), with_x ? x_f.data() : zeros.data(), w_f.data(), rows,
                        dim, 1e-5f, ref.data());
        DeviceBuffer<Bf16Bits> out(rows * dim);
        out.Poison();
        AddRmsNorm(residual.get(), with_x ? AsBf16(x) : nullptr, AsBf16(w), rows, dim, 1e-5f,
                   AsBf16(out), nullptr);
        const std::string shape =
            absl::StrCat("rows=", rows, " dim=", dim, with_x ? "" : " x=null");
        ExpectClose("add_rms_norm", shape, ToFloat(out.Download()), ref, kBf16Tolerance);
        ExpectClose("add_residual", shape, residual.Download(), residual_f, kFloatTolerance);
      }
    }
  }
}

TEST(CudaOpsTest, SiluAndMul) {
  auto rng = testing::MakeRng();
  for (int64_t inter : {128, 1000, 14336, 37}) {
    for (int64_t rows : {1, 13}) {
      std::vector<float> in_f;
      DeviceBuffer<Bf16Bits> in(testing::RandomBf16(rows * 2 * inter, rng, 2.0f, &in_f));
      std::vector<float> ref(rows * inter);
      cpu::SiluAndMul(in_f.data(), rows, inter, ref.data());
      DeviceBuffer<Bf16Bits> out(rows * inter);
      out.Poison();
      SiluAndMul(AsBf16(in), rows, inter, AsBf16(out), nullptr);
      ExpectClose("silu_and_mul", absl::StrCat("rows=", rows, " inter=", inter),
                  ToFloat(out.Download()), ref, kBf16Tolerance);
    }
  }
}

// Distinct random slots of a cache of `blocks` x `block_size`, one of them -1 (skipped).
std::vector<int64_t> RandomSlots(int64_t rows, int64_t blocks, int64_t block_size,
                                 std::mt19937_64& rng) {
  std::vector<int64_t> all(blocks * block_size);
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<int64_t> slots(all.begin(), all.begin() + rows);
  if (rows > 2) slots[rows / 2] = -1;
  return slots;
}

// The cache after writing `k`/`v` rows (float) at `slots` into a cache of poison bits.
void ExpectCacheRows(const std::string& op, const std::string& shape,
                     const std::vector<Bf16Bits>& cache, const std::vector<float>& rows_ref,
                     const std::vector<int64_t>& slots, int64_t width, testing::Tolerance tol) {
  std::vector<float> got, ref;
  std::vector<bool> written(cache.size() / width, false);
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i] < 0) continue;
    written[slots[i]] = true;
    for (int64_t j = 0; j < width; ++j) {
      got.push_back(BF16ToFloat(cache[slots[i] * width + j]));
      ref.push_back(rows_ref[i * width + j]);
    }
  }
  ExpectClose(op, shape, got, ref, tol);
  int64_t touched = 0;
  for (size_t s = 0; s < written.size(); ++s) {
    if (written[s]) continue;
    for (int64_t j = 0; j < width; ++j) touched += cache[s * width + j] != 0xffff;
  }
  EXPECT_EQ(touched, 0) << op << " " << shape << ": elements outside the written slots changed";
}

TEST(CudaOpsTest, WritePagedKv) {
  auto rng = testing::MakeRng();
  for (int32_t block_size : {16, 32}) {
    for (int32_t head_dim : {64, 128, 24}) {
      const int32_t kv_heads = 2, blocks = 9;
      const int64_t rows = 37, width = kv_heads * head_dim, stride = width + 16;
      std::vector<float> k_f, v_f;
      DeviceBuffer<Bf16Bits> k(testing::RandomBf16(rows * stride, rng, 1.0f, &k_f));
      DeviceBuffer<Bf16Bits> v(testing::RandomBf16(rows * stride, rng, 1.0f, &v_f));
      const std::vector<int64_t> slots = RandomSlots(rows, blocks, block_size, rng);
      DeviceBuffer<int64_t> d_slots(slots);
      DeviceBuffer<Bf16Bits> cache_k(int64_t{blocks} * block_size * width);
      DeviceBuffer<Bf16Bits> cache_v(cache_k.size());
      cache_k.Poison();
      cache_v.Poison();
      PagedKvCache cache{AsBf16(cache_k), AsBf16(cache_v), blocks, block_size, kv_heads, head_dim};
      WritePagedKv(cache, AsBf16(k), stride, AsBf16(v), stride, d_slots.get(), rows, nullptr);
      std::vector<float> k_rows(rows * width), v_rows(rows * width);
      for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(k_f.begin() + r * stride, width, k_rows.begin() + r * width);
        std::copy_n(v_f.begin() + r * stride, width, v_rows.begin() + r * width);
      }
      const std::string shape = absl::StrCat("block=", block_size, " head_dim=", head_dim);
      ExpectCacheRows("paged_kv_write", shape + " k", cache_k.Download(), k_rows, slots, width,
                      kExact);
      ExpectCacheRows("paged_kv_write", shape + " v", cache_v.Download(), v_rows, slots, width,
                      kExact);
    }
  }
}

// inv_freq[d] = base^(-2d/head_dim), with Llama-3's scaling of the low frequencies (a
// smooth ramp between wavelengths 8192/4 and 8192, factor 8) when `llama3`.
std::vector<float> InverseFrequencies(int head_dim, double base, bool llama3) {
  std::vector<float> inv(head_dim / 2);
  for (int d = 0; d < head_dim / 2; ++d) {
    float f = static_cast<float>(1.0 / std::pow(base, 2.0 * d / head_dim));
    if (llama3) {
      const double wavelength = 2 * M_PI / f, low = 8192.0 / 1.0, high = 8192.0 / 4.0;
      if (wavelength > low) {
        f /= 8.0f;
      } else if (wavelength > high) {
        const double smooth = (8192.0 / wavelength - 1.0) / (4.0 - 1.0);
        f = static_cast<float>((1 - smooth) * f / 8.0 + smooth * f);
      }
    }
    inv[d] = f;
  }
  return inv;
}

struct RopeCase {
  int32_t heads, kv_heads, head_dim;
  bool norm, cache, llama3;
};

TEST(CudaOpsTest, RopeWithOptionalNormAndCacheWrite) {
  auto rng = testing::MakeRng();
  const RopeCase cases[] = {
      {16, 16, 64, false, false, false}, {32, 8, 128, false, true, true},
      {16, 4, 128, true, true, false},   {8, 2, 96, true, false, false},
      {12, 2, 24, false, true, false},   {8, 1, 256, true, true, true},
  };
  for (const RopeCase& c : cases) {
    const int64_t rows = testing::Quick() ? 9 : 37;
    const int32_t block_size = 16, blocks = 8;
    const int64_t q_width = int64_t{c.heads} * c.head_dim,
                  kv_width = int64_t{c.kv_heads} * c.head_dim;
    const int64_t stride = q_width + 2 * kv_width;  // a fused QKV row
    std::vector<float> qkv_f, qn_f, kn_f;
    std::vector<Bf16Bits> qkv_host = testing::RandomBf16(rows * stride, rng, 1.0f, &qkv_f);
    DeviceBuffer<Bf16Bits> qkv(qkv_host);
    DeviceBuffer<Bf16Bits> q_norm(testing::RandomBf16(c.head_dim, rng, 1.0f, &qn_f));
    DeviceBuffer<Bf16Bits> k_norm(testing::RandomBf16(c.head_dim, rng, 1.0f, &kn_f));
    std::vector<int32_t> positions(rows);
    std::vector<int64_t> positions64(rows);
    for (int64_t r = 0; r < rows; ++r) {
      positions[r] = static_cast<int32_t>(r < 3 ? r : rng() % 40000);
      positions64[r] = positions[r];
    }
    DeviceBuffer<int32_t> d_positions(positions);
    const std::vector<float> inv_freq = InverseFrequencies(c.head_dim, 500000.0, c.llama3);
    DeviceBuffer<float> d_inv_freq(inv_freq);
    const std::vector<int64_t> slots = RandomSlots(rows, blocks, block_size, rng);
    DeviceBuffer<int64_t> d_slots(slots);
    DeviceBuffer<Bf16Bits> cache_k(int64_t{blocks} * block_size * kv_width);
    DeviceBuffer<Bf16Bits> cache_v(cache_k.size());
    cache_k.Poison();
    cache_v.Poison();

    // Reference: split the rows, optional per-head RMSNorm, rotate.
    std::vector<float> q(rows * q_width), k(rows * kv_width), v(rows * kv_width);
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(qkv_f.begin() + r * stride, q_width, q.begin() + r * q_width);
      std::copy_n(qkv_f.begin() + r * stride + q_width, kv_width, k.begin() + r * kv_width);
      std::copy_n(qkv_f.begin() + r * stride + q_width + kv_width, kv_width,
                  v.begin() + r * kv_width);
    }
    if (c.norm) {
      cpu::RmsNorm(q.data(), qn_f.data(), rows * c.heads, c.head_dim, 1e-6f, q.data());
      cpu::RmsNorm(k.data(), kn_f.data(), rows * c.kv_heads, c.head_dim, 1e-6f, k.data());
    }
    cpu::ApplyRope(q.data(), rows, c.heads, c.head_dim, positions64, inv_freq);
    cpu::ApplyRope(k.data(), rows, c.kv_heads, c.head_dim, positions64, inv_freq);

    RopeArgs args;
    args.q = AsBf16(qkv);
    args.q_stride = stride;
    args.k = AsBf16(qkv) + q_width;
    args.k_stride = stride;
    args.rows = rows;
    args.heads = c.heads;
    args.kv_heads = c.kv_heads;
    args.head_dim = c.head_dim;
    args.positions = d_positions.get();
    args.inv_freq = d_inv_freq.get();
    if (c.norm) {
      args.q_norm = AsBf16(q_norm);
      args.k_norm = AsBf16(k_norm);
    }
    if (c.cache) {
      args.cache = PagedKvCache{AsBf16(cache_k), AsBf16(cache_v), blocks,
                                block_size,      c.kv_heads,      c.head_dim};
      args.v = AsBf16(qkv) + q_width + kv_width;
      args.v_stride = stride;
      args.slots = d_slots.get();
    }
    ApplyRope(args, nullptr);
    const std::vector<Bf16Bits> result = qkv.Download();
    std::vector<float> got_q(rows * q_width), got_k(rows * kv_width);
    std::vector<Bf16Bits> got_v(rows * kv_width), want_v(rows * kv_width);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < q_width; ++j)
        got_q[r * q_width + j] = BF16ToFloat(result[r * stride + j]);
      for (int64_t j = 0; j < kv_width; ++j) {
        got_k[r * kv_width + j] = BF16ToFloat(result[r * stride + q_width + j]);
        got_v[r * kv_width + j] = result[r * stride + q_width + kv_width + j];
        want_v[r * kv_width + j] = qkv_host[r * stride + q_width + kv_width + j];
      }
    }
    const std::string shape =
        absl::StrCat("h=", c.heads, "/", c.kv_heads, " d=", c.head_dim, c.norm ? " +norm" : "",
                     c.cache ? " +cache" : "", c.llama3 ? " llama3" : "");
    ExpectClose("rope", shape + " q", got_q, q, kBf16Tolerance);
    ExpectClose("rope", shape + " k", got_k, k, kBf16Tolerance);
    EXPECT_EQ(got_v, want_v) << "rope must leave v alone";
    if (c.cache) {
      ExpectCacheRows("rope_cache_write", shape + " k", cache_k.Download(), k, slots, kv_width,
                      kBf16Tolerance);
      ExpectCacheRows("rope_cache_write", shape + " v", cache_v.Download(), ToFloat(want_v), slots,
                      kv_width, kExact);
    } else {
      EXPECT_EQ(cache_k.Download(), std::vector<Bf16Bits>(cache_k.size(), 0xffff));
    }
  }
}

}  // namespace
}  // namespace strata::kernels::cuda
