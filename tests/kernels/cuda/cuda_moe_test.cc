// The MoE kernels (kernels/cuda/moe.h) against the CPU: routing against cpu::RouteTopK, the
// grouped expert GEMM (plain and SiLU-fused) against a naive loop over the (token, slot)
// pairs, and the whole expert step against cpu::MoeFeedForward on the same bf16 weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/moe.h"
#include "kernels/cpu/ops.h"
#include "kernels/cuda/moe.h"
#include "tests/kernels/cuda/test_util.h"

namespace strata::kernels::cuda {
namespace {

using testing::AsBf16;
using testing::Bf16Bits;
using testing::DeviceBuffer;

struct MoeCase {
  int64_t rows, hidden, inter;
  int32_t experts, top_k;
};
const MoeCase kCases[] = {
    {1, 64, 48, 8, 2},
    {5, 64, 48, 8, 2},
    {77, 64, 48, 8, 2},
    {3, 256, 96, 128, 8},
    {64, 128, 64, 128, 8},
    {200, 64, 32, 16, 4},
    // Several tiles per expert, partial last tiles, n and k not multiples of the kernel's
    // 64 or 128.
    {300, 128, 96, 8, 2},
    {1030, 264, 200, 32, 4},
    {16, 520, 456, 32, 4},  // a decode batch, k over several turns of the ring
    {8, 64, 48, 128, 8},    // the most rows routed and aligned in one launch
};

std::string Name(const MoeCase& c) {
  return absl::StrCat("rows ", c.rows, " hidden ", c.hidden, " inter ", c.inter, " experts ",
                      c.experts, " top ", c.top_k);
}

struct Workspace {
  DeviceBuffer<char> bytes;
  MoeWorkspace ws;
  explicit Workspace(const MoeCase& c)
      : bytes(MoeWorkspaceBytes(c.rows, c.experts, c.top_k, c.inter, c.hidden)) {
    bytes.Poison();
    ws = MoeWorkspace::Carve(bytes.get(), c.rows, c.experts, c.top_k, c.inter, c.hidden);
  }
};

// One grouped GEMM over the tiles of `ws`: y [pairs, n] from x's rows (through x_rows when
// non-null) and each tile's expert in w ([2n, k] per expert when fused, else [n, k]). The
// down GEMM (not fused) runs after the gate/up one, so its tiles are settled.
void RunGroupedGemm(const MoeWorkspace& ws, int32_t tiles, const bf16* x, int64_t ldx,
                    const int32_t* x_rows, const bf16* w, int64_t n, int64_t k, bf16* y,
                    bool fused_silu) {
  GroupedGemm({.x = x,
               .ldx = ldx,
               .x_rows = x_rows,
               .w = w,
               .w_expert_stride = (fused_silu ? 2 : 1) * n * k,
               .y = y,
               .ldy = n,
               .tiles = ws.tiles,
               .num_tiles = ws.num_tiles,
               .max_tiles = tiles,
               .n = static_cast<int32_t>(n),
               .k = static_cast<int32_t>(k),
               .fused_silu = fused_silu,
               .tiles_settled = !fused_silu},
              nullptr);
}

template <typename T>
std::vector<T> Download(const T* device, size_t count) {
  std::vector<T> host(count);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  STRATA_CUDA_CHECK(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

// The alignment MoeAlign left in ws for the pairs' experts `ids`: tiles of one expert and
// 1..kMoeTileRows pairs each, no more than MoeMaxTiles, covering the positions in order; each
// pair at its own position, inside a tile of its expert, which maps back to its row.
void ExpectAligned(const MoeCase& c, const std::vector<int32_t>& ids, const MoeWorkspace& ws) {
  SCOPED_TRACE(Name(c));
  const int64_t pairs = c.rows * c.top_k;
  const int32_t num_tiles = Download(ws.num_tiles, 1)[0];
  ASSERT_LE(num_tiles, MoeMaxTiles(pairs, c.experts));
  std::vector<int32_t> expert_at(pairs, -1);
  int32_t covered = 0;
  for (const int4& t : Download(ws.tiles, num_tiles)) {
    ASSERT_EQ(t.y, covered);
    ASSERT_GT(t.z, 0);
    ASSERT_LE(t.z, kMoeTileRows);
    std::fill_n(expert_at.begin() + t.y, t.z, t.x);
    covered += t.z;
  }
  ASSERT_EQ(covered, pairs);
  const auto position = Download(ws.pair_position, pairs);
  const auto source = Download(ws.source_row, pairs);
  std::vector<bool> seen(pairs, false);
  for (int64_t p = 0; p < pairs; ++p) {
    ASSERT_TRUE(position[p] >= 0 && position[p] < pairs && !seen[position[p]]) << "pair " << p;
    seen[position[p]] = true;
    ASSERT_EQ(expert_at[position[p]], ids[p]) << "pair " << p;
    ASSERT_EQ(source[position[p]], p / c.top_k) << "pair " << p;
  }
}

TEST(CudaMoeTest, RouteMatchesCpu) {
  auto rng = testing::MakeRng();
  for (const MoeCase& c : kCases) {
    for (bool normalize : {false, true}) {
      const auto logits = testing::RandomFloat(c.rows * c.experts, rng, 2.0f);
      DeviceBuffer<float> d_logits(logits);
      DeviceBuffer<int32_t> ids(c.rows * c.top_k);
      DeviceBuffer<float> weights(c.rows * c.top_k);
      MoeRoute(d_logits.get(), c.rows, c.experts, c.top_k, normalize, ids.get(), weights.get(),
               nullptr);
      std::vector<int32_t> want_ids(c.rows * c.top_k);
      std::vector<float> want_weights(c.rows * c.top_k);
      cpu::RouteTopK(logits.data(), c.rows, c.experts, c.top_k, normalize, want_ids.data(),
                     want_weights.data());
      EXPECT_EQ(ids.Download(), want_ids) << Name(c);
      const auto got = weights.Download();
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], want_weights[i], 1e-6 + 1e-5 * want_weights[i]) << Name(c);
      }
    }
  }
}

// MoeRouteAndAlign (one launch up to 8 rows) against MoeRoute then MoeAlign: the same
// picks, weights and tiles; the pairs placed in their experts' tiles (the order inside an
// expert's group is free) and mapped back to their rows.
TEST(CudaMoeTest, RouteAndAlignMatchesTwoLaunches) {
  auto rng = testing::MakeRng();
  for (const MoeCase& c : kCases) {
    const int64_t pairs = c.rows * c.top_k;
    const auto logits = testing::RandomFloat(c.rows * c.experts, rng, 2.0f);
    Workspace two(c), one(c);
    for (const Workspace* w : {&two, &one}) {
      STRATA_CUDA_CHECK(cudaMemcpy(w->ws.router_logits, logits.data(), logits.size() * 4,
                                   cudaMemcpyHostToDevice));
    }
    DeviceBuffer<unsigned long long> activated(std::vector<unsigned long long>{0, 0});
    MoeRoute(two.ws.router_logits, c.rows, c.experts, c.top_k, true, two.ws.topk_ids,
             two.ws.topk_weights, nullptr);
    MoeAlign(two.ws.topk_ids, c.rows, c.experts, c.top_k, two.ws, activated.get(), nullptr);
    MoeRouteAndAlign(c.rows, c.experts, c.top_k, true, one.ws, activated.get() + 1, nullptr);
    const auto ids = Download(one.ws.topk_ids, pairs);
    ASSERT_EQ(ids, Download(two.ws.topk_ids, pairs)) << Name(c);
    ASSERT_EQ(Download(one.ws.topk_weights, pairs), Download(two.ws.topk_weights, pairs));
    const auto counts = activated.Download();
    EXPECT_EQ(counts[0], counts[1]) << Name(c);
    const int32_t num_tiles = Download(one.ws.num_tiles, 1)[0];
    ASSERT_EQ(num_tiles, Download(two.ws.num_tiles, 1)[0]) << Name(c);
    const auto tiles = Download(one.ws.tiles, num_tiles);
    const auto want_tiles = Download(two.ws.tiles, num_tiles);
    for (int32_t t = 0; t < num_tiles; ++t) {
      ASSERT_TRUE(tiles[t].x == want_tiles[t].x && tiles[t].y == want_tiles[t].y &&
                  tiles[t].z == want_tiles[t].z)
          << Name(c) << " tile " << t;
    }
    ExpectAligned(c, ids, one.ws);
  }
}

TEST(CudaMoeTest, MaxTilesBound) {
  EXPECT_EQ(MoeMaxTiles(1, 128), 1);
  EXPECT_EQ(MoeMaxTiles(8, 128), 8);      // a decode token: one tile per pair at most
  EXPECT_EQ(MoeMaxTiles(4, 2), 3);        // a partial tile per expert, one full
  EXPECT_EQ(MoeMaxTiles(300, 8), 3 + 8);  // ceil(300 / 128) full tiles, a partial per expert
  EXPECT_EQ(MoeMaxTiles(65536, 128), 512 + 128);
}

// Random routing (top_k distinct experts per row), aligned on the device; then both grouped
// GEMMs against a per-pair loop.
TEST(CudaMoeTest, GroupedGemmMatchesNaiveLoop) {
  auto rng = testing::MakeRng();
  for (const MoeCase& c : kCases) {
    const int64_t pairs = c.rows * c.top_k;
    std::vector<int32_t> ids(pairs);
    std::set<int32_t> used;
    for (int64_t r = 0; r < c.rows; ++r) {
      std::vector<int32_t> all(c.experts);
      for (int32_t e = 0; e < c.experts; ++e) all[e] = e;
      // Skewed: low experts are popular, so some get several tiles.
      std::shuffle(all.begin(), all.begin() + std::min(c.experts, 2 * c.top_k), rng);
      for (int32_t j = 0; j < c.top_k; ++j) used.insert(ids[r * c.top_k + j] = all[j]);
    }
    Workspace w(c);
    DeviceBuffer<int32_t> d_ids(ids);
    DeviceBuffer<unsigned long long> activated(std::vector<unsigned long long>{5});
    MoeAlign(d_ids.get(), c.rows, c.experts, c.top_k, w.ws, activated.get(), nullptr);
    EXPECT_EQ(activated.Download()[0], 5 + used.size()) << Name(c);
    ExpectAligned(c, ids, w.ws);
    if (HasFatalFailure()) return;
    const auto position = Download(w.ws.pair_position, pairs);
    const int32_t tiles = MoeMaxTiles(pairs, c.experts);

    std::vector<float> x_f, gu_f, down_f;
    DeviceBuffer<Bf16Bits> x(testing::RandomBf16(c.rows * c.hidden, rng, 1.0f, &x_f));
    DeviceBuffer<Bf16Bits> gate_up(
        testing::RandomBf16(int64_t{c.experts} * 2 * c.inter * c.hidden, rng, 0.1f, &gu_f));
    DeviceBuffer<Bf16Bits> down(
        testing::RandomBf16(int64_t{c.experts} * c.hidden * c.inter, rng, 0.1f, &down_f));
    RunGroupedGemm(w.ws, tiles, AsBf16(x), c.hidden, w.ws.source_row, AsBf16(gate_up), c.inter,
                   c.hidden, w.ws.act, /*fused_silu=*/true);
    RunGroupedGemm(w.ws, tiles, w.ws.act, c.inter, nullptr, AsBf16(down), c.hidden, c.inter,
                   w.ws.expert_out, /*fused_silu=*/false);
    const auto act_bits = Download(reinterpret_cast<const Bf16Bits*>(w.ws.act), pairs * c.inter);
    const auto out_bits =
        Download(reinterpret_cast<const Bf16Bits*>(w.ws.expert_out), pairs * c.hidden);
    const auto act = testing::ToFloat(act_bits), out = testing::ToFloat(out_bits);

    // Reference, in permuted order: gate/up from x, the down product from the GPU's own
    // (bf16) activations, so each GEMM is checked on its own.
    std::vector<float> want_act(pairs * c.inter), want_out(pairs * c.hidden);
    std::vector<float> gu(2 * c.inter);
    for (int64_t p = 0; p < pairs; ++p) {
      const int64_t e = ids[p], at = position[p];
      cpu::Linear(x_f.data() + (p / c.top_k) * c.hidden, 1, c.hidden,
                  gu_f.data() + e * 2 * c.inter * c.hidden, 2 * c.inter, nullptr, gu.data());
      cpu::SiluAndMul(gu.data(), 1, c.inter, want_act.data() + at * c.inter);
      cpu::Linear(act.data() + at * c.inter, 1, c.inter, down_f.data() + e * c.hidden * c.inter,
                  c.hidden, nullptr, want_out.data() + at * c.hidden);
    }
    EXPECT_EQ(
        testing::ExpectClose("moe gate_up+silu", Name(c), act, want_act, testing::kBf16Tolerance),
        0);
    EXPECT_EQ(testing::ExpectClose("moe down", Name(c), out, want_out, testing::kBf16Tolerance), 0);
  }
}

TEST(CudaMoeTest, ExpertStepMatchesCpuMoe) {
  auto rng = testing::MakeRng();
  for (const MoeCase& c : kCases) {
    std::vector<float> x_f, router_f, gu_f, down_f;
    DeviceBuffer<Bf16Bits> x(testing::RandomBf16(c.rows * c.hidden, rng, 1.0f, &x_f));
    testing::RandomBf16(int64_t{c.experts} * c.hidden, rng, 0.2f, &router_f);
    DeviceBuffer<Bf16Bits> gate_up(
        testing::RandomBf16(int64_t{c.experts} * 2 * c.inter * c.hidden, rng, 0.1f, &gu_f));
    DeviceBuffer<Bf16Bits> down(
        testing::RandomBf16(int64_t{c.experts} * c.hidden * c.inter, rng, 0.1f, &down_f));
    Workspace w(c);
    // The router GEMM is the caller's: its float32 logits come from the host here.
    std::vector<float> logits(c.rows * c.experts);
    cpu::Linear(x_f.data(), c.rows, c.hidden, router_f.data(), c.experts, nullptr, logits.data());
    STRATA_CUDA_CHECK(
        cudaMemcpy(w.ws.router_logits, logits.data(), logits.size() * 4, cudaMemcpyHostToDevice));
    DeviceBuffer<Bf16Bits> out(c.rows * c.hidden);
    out.Poison();
    DeviceBuffer<unsigned long long> activated(std::vector<unsigned long long>{0});
    MoeExperts({.x = AsBf16(x),
                .gate_up = AsBf16(gate_up),
                .down = AsBf16(down),
                .out = AsBf16(out),
                .rows = c.rows,
                .experts = c.experts,
                .top_k = c.top_k,
                .inter = c.inter,
                .hidden = c.hidden,
                .normalize = true,
                .activated_experts = activated.get()},
               w.ws, nullptr);
    std::vector<float> want(c.rows * c.hidden);
    cpu::MoeScratch scratch;
    const cpu::MoeWeights moe{router_f.data(), gu_f.data(), down_f.data(), c.experts,
                              c.top_k,         c.inter,     true};
    const int64_t want_activated =
        cpu::MoeFeedForward(x_f.data(), c.rows, c.hidden, moe, &scratch, want.data());
    EXPECT_EQ(testing::ExpectClose("moe experts", Name(c), testing::ToFloat(out.Download()), want,
                                   testing::kBf16ChainTolerance),
              0);
    EXPECT_EQ(static_cast<int64_t>(activated.Download()[0]), want_activated) << Name(c);
  }
}

}  // namespace
}  // namespace strata::kernels::cuda
