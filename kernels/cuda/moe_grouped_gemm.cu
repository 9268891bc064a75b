// The grouped expert GEMM of moe.h, over the tile lists MoeAlign makes.
#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/moe.h"

namespace strata::kernels::cuda {
namespace {

// A block computes 128 tile rows x 128 weight rows (fused: 64 gate rows and the 64 up rows
// of the same columns), k in stages of 64 through a 3-deep cp.async ring in shared memory.
// 8 warps: 2 along the tile's rows (64 each, 4 MMA m-tiles) x 4 along the weight rows (32
// each, 4 MMA n-tiles; fused: 16 gate and the matching 16 up). Fragments come by ldmatrix
// from shared rows of 8 16-byte chunks, chunk c of row r stored at c ^ (r % 8), so the 8
// rows one ldmatrix matrix reads at one chunk sit in 8 different bank groups.

constexpr int kThreads = 256;
constexpr int kTileRows = kMoeTileRows;
constexpr int kWeightRows = 128;
constexpr int kStep = 64;  // k per stage: one 128-byte shared row
constexpr int kStages = 3;
constexpr int kChunks = kStep / 8;
constexpr int kStageChunks = (kTileRows + kWeightRows) * kChunks;
constexpr int kSharedBytes = kStages * kStageChunks * 16;  // 96 KiB
// Rows each loader thread copies per stage, of the tile and of the weights.
constexpr int kLoadRows = kTileRows * kChunks / kThreads;
static_assert(kTileRows == kWeightRows && kLoadRows * kThreads == kTileRows * kChunks);

__device__ __forceinline__ int SwizzledChunk(int row, int chunk) {
  return row * kChunks + (chunk ^ (row % 8));
}

// One stage's MMAs of a warp: its first kMTiles m-tiles (those holding tile rows) x 4
// n-tiles, over the stage's 64 k. acc[mt][nt] as in the kernel's epilogue.
template <int kMTiles>
__device__ __forceinline__ void StageMmas(const uint4* stage, int warp_row, int lane,
                                          const int (&pair_row)[2], float (&acc)[4][4][4]) {
#pragma unroll
  for (int kk = 0; kk < kChunks; kk += 2) {
    uint32_t af[kMTiles][4];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
      const int r = warp_row + mt * 16 + lane % 8 + 8 * ((lane / 8) % 2);
      LoadMatrixX4(af[mt], stage + SwizzledChunk(r, kk + lane / 16));
    }
    uint32_t bf[4][2];
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      const int r = kTileRows + pair_row[p] + lane % 8 + 8 * (lane / 16);
      uint32_t m[4];
      LoadMatrixX4(m, stage + SwizzledChunk(r, kk + (lane / 8) % 2));
      bf[2 * p][0] = m[0], bf[2 * p][1] = m[1];
      bf[2 * p + 1][0] = m[2], bf[2 * p + 1][1] = m[3];
    }
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        MmaBf16(acc[mt][nt], af[mt][0], af[mt][1], af[mt][2], af[mt][3], bf[nt][0], bf[nt][1]);
      }
    }
  }
}

template <bool kFused>
__global__ void __launch_bounds__(kThreads, 2) GroupedGemmKernel(GroupedGemmArgs a) {
  // The tiles, their rows and even which experts' weights to stream come from MoeAlign.
  // Settled tiles (moe.h) were written by a kernel that completed before this one's
  // predecessor passed its own wait, so before this kernel started: they are read from L2
  // (ld.global.cg: no line of an earlier step in L1) ahead of the wait, and so are the
  // first stages of the weights. Every block still waits before it exits.
  const bool settled = a.tiles_settled;
  if (!settled) GridDependencyEnter();
  constexpr int kOutColumns = kFused ? kWeightRows / 2 : kWeightRows;
  const int n = a.n, k = a.k;
  const int col0 = blockIdx.x * kOutColumns;
  const int num_tiles = settled ? __ldcg(a.num_tiles) : *a.num_tiles;
  if (static_cast<int>(blockIdx.y) >= num_tiles || col0 >= n) {
    if (settled) GridDependencyEnter();
    return;
  }
  const int4 tile = settled ? __ldcg(a.tiles + blockIdx.y) : a.tiles[blockIdx.y];
  extern __shared__ uint4 shared[];  // [stage][tile rows, then weight rows][chunk]
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int warp_row = (warp / 4) * 64, warp_col = warp % 4;

  // Loader: thread t copies chunk t % 8 of rows t / 8 + 32 i. Rows past the tile are zeros
  // (no read), columns past n repeat the last column; neither is stored.
  const int chunk = threadIdx.x % kChunks;
  const bf16* x_src[kLoadRows];
  const bf16* w_src[kLoadRows];
  bool x_valid[kLoadRows];
  const bf16* w = a.w + int64_t{tile.x} * a.w_expert_stride + chunk * 8;
#pragma unroll
  for (int i = 0; i < kLoadRows; ++i) {
    const int r = threadIdx.x / kChunks + i * (kThreads / kChunks);
    x_valid[i] = r < tile.z;
    const int position = tile.y + min(r, tile.z - 1);
    const int source = a.x_rows == nullptr ? position
                       : settled           ? __ldcg(a.x_rows + position)
                                           : a.x_rows[position];
    x_src[i] = a.x + int64_t{source} * a.ldx + chunk * 8;
    int weight_row;
    if constexpr (kFused) {
      const int half = kWeightRows / 2;
      weight_row = (r < half ? 0 : n) + min(col0 + r % half, n - 1);
    } else {
      weight_row = min(col0 + r, n - 1);
    }
    w_src[i] = w + int64_t{weight_row} * k;
  }
  // Stage `slot` of k step k0: the tile's rows and/or the weights' rows.
  auto load = [&](int slot, int k0, bool rows, bool weights) {
    uint4* stage = shared + slot * kStageChunks;
    const bool valid = k0 + chunk * 8 < k;
#pragma unroll
    for (int i = 0; i < kLoadRows; ++i) {
      const int r = threadIdx.x / kChunks + i * (kThreads / kChunks);
      if (rows) {
        CopyAsync16(stage + SwizzledChunk(r, chunk), valid ? x_src[i] + k0 : x_src[i],
                    valid && x_valid[i]);
      }
      if (weights) {
        CopyAsync16(stage + SwizzledChunk(kTileRows + r, chunk), valid ? w_src[i] + k0 : w_src[i],
                    valid);
      }
    }
  };

  // The warp's 4 n-tiles start at these weight rows, in pairs (one ldmatrix.x4 each).
  const int pair_row[2] = {kFused ? warp_col * 16 : warp_col * 32,
                           kFused ? kWeightRows / 2 + warp_col * 16 : warp_col * 32 + 16};
  float acc[4][4][4] = {};
  // The warp's m-tiles that hold tile rows: the others' products would be discarded, so
  // they are not computed. A decode batch's tiles have a row or two, so there a block is
  // bound by streaming its expert's weights, as a few-row kernel would be.
  const int m_tiles = min(4, max(0, (tile.z - warp_row + 15) / 16));
  const int steps = (k + kStep - 1) / kStep;
  // The prologue's weight copies join the first commit group when settled, so waiting for
  // stage 0 waits for them all: the same stages are ready at each step either way.
  if (settled) {
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < steps) load(s, s * kStep, /*rows=*/false, /*weights=*/true);
    }
    GridDependencyEnter();  // the rows are the predecessor's output
  }
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < steps) load(s, s * kStep, /*rows=*/true, /*weights=*/!settled);
    CopyCommit();
  }
  for (int step = 0; step < steps; ++step) {
    CopyWait<kStages - 2>();
    // Every warp is past step - 1's reads, so its slot can be refilled.
    __syncthreads();
    const int ahead = step + kStages - 1;
    if (ahead < steps) load(ahead % kStages, ahead * kStep, true, true);
    CopyCommit();
    const uint4* stage = shared + (step % kStages) * kStageChunks;
    if (m_tiles == 0) continue;
    // The warp's m-tile count is warp-uniform: dispatched once per step, so that inside a
    // step the compiler sees fixed loops and can hoist the fragment loads of a k slice
    // ahead of the previous slice's MMAs.
    switch (m_tiles) {
      case 4:
        StageMmas<4>(stage, warp_row, lane, pair_row, acc);
        break;
      case 3:
        StageMmas<3>(stage, warp_row, lane, pair_row, acc);
        break;
      case 2:
        StageMmas<2>(stage, warp_row, lane, pair_row, acc);
        break;
      default:
        StageMmas<1>(stage, warp_row, lane, pair_row, acc);
        break;
    }
  }
  CopyWaitAll();

  // acc[mt][nt][e]: tile row warp_row + 16 mt + lane / 4 (+ 8 for e >= 2), weight row
  // pair_row[nt / 2] + 8 (nt % 2) + 2 (lane % 4) + e % 2. Fused: n-tiles 0-1 are gate
  // columns, 2-3 the up columns of the same outputs.
  constexpr int kOutTiles = kFused ? 2 : 4;
#pragma unroll
  for (int mt = 0; mt < 4; ++mt) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = warp_row + mt * 16 + lane / 4 + 8 * half;
      if (r >= tile.z) continue;
      bf16* out = a.y + int64_t{tile.y + r} * a.ldy;
#pragma unroll
      for (int nt = 0; nt < kOutTiles; ++nt) {
        const int col =
            col0 + (kFused ? warp_col * 16 : pair_row[nt / 2]) + 8 * (nt % 2) + 2 * (lane % 4);
        float v[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          v[e] = acc[mt][nt][2 * half + e];
          if constexpr (kFused) v[e] = v[e] / (1.0f + expf(-v[e])) * acc[mt][nt + 2][2 * half + e];
        }
        if (col + 1 < n && a.ldy % 2 == 0) {
          *reinterpret_cast<__nv_bfloat162*>(out + col) = __floats2bfloat162_rn(v[0], v[1]);
        } else if (col < n) {
          out[col] = __float2bfloat16(v[0]);
          if (col + 1 < n) out[col + 1] = __float2bfloat16(v[1]);
        }
      }
    }
  }
}

template <bool kFused>
void LaunchGroupedGemm(const GroupedGemmArgs& a, cudaStream_t stream) {
  static const bool configured = [] {
    STRATA_CUDA_CHECK(cudaFuncSetAttribute(
        GroupedGemmKernel<kFused>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes));
    return true;
  }();
  (void)configured;
  const int out_columns = kFused ? kWeightRows / 2 : kWeightRows;
  // Column blocks vary fastest: the blocks of one tile run together and share its rows in L2,
  // and the tiles of one expert follow one another and share its weights. (With tiles
  // fastest, every column block re-read all rows from DRAM: a cohort's rows exceed L2.)
  STRATA_CHECK_LE(a.max_tiles, 65535);
  const dim3 grid((a.n + out_columns - 1) / out_columns, a.max_tiles);
  internal::Launch(GroupedGemmKernel<kFused>, grid, dim3(kThreads), kSharedBytes, stream, a);
}

}  // namespace

void GroupedGemm(const GroupedGemmArgs& a, cudaStream_t stream) {
  STRATA_CHECK(a.n > 0 && a.k > 0 && a.k % 8 == 0 && a.ldx % 8 == 0 && a.w_expert_stride % 8 == 0 &&
               Aligned16(a.x) && Aligned16(a.w))
      << "grouped GEMM: n " << a.n << " k " << a.k << " ldx " << a.ldx;
  if (a.max_tiles == 0) return;
  if (a.fused_silu) {
    LaunchGroupedGemm<true>(a, stream);
  } else {
    LaunchGroupedGemm<false>(a, stream);
  }
  STRATA_CUDA_CHECK_LAUNCH();
}

}  // namespace strata::kernels::cuda
