// GPU sampling: see sampling.h for the semantics and the cost.
#include <climits>
#include <cmath>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/sampling.h"

namespace strata::kernels::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWindow = 4096;  // ranks gathered and sorted at once
constexpr int kItems = kWindow / kThreads;
constexpr uint64_t kAllKeys = ~0ull;

// The CPU's SplitMix64 and SeededUniform, bit for bit.
__device__ __forceinline__ uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

__device__ __forceinline__ double SeededUniform(uint64_t seed, uint64_t step) {
  const uint64_t bits = SplitMix64(SplitMix64(seed) ^ (step * 0xd1b54a32d192ed03ull));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// Larger key = earlier in the CPU's order: higher logit, then lower id. -0 orders as +0,
// as the CPU's comparisons do.
__device__ __forceinline__ uint64_t OrderKey(float value, int id) {
  uint32_t bits = value == 0.0f ? 0u : __float_as_uint(value);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<uint64_t>(bits) << 32) | (0xffffffffu - static_cast<uint32_t>(id));
}
__device__ __forceinline__ int KeyId(uint64_t key) {
  return static_cast<int>(0xffffffffu - static_cast<uint32_t>(key));
}

struct Shared {
  uint64_t keys[kWindow];
  uint32_t hist[256];
  double dscratch[32];
  float fscratch[32];
  uint64_t kscratch[32];
  int iscratch[32];
  uint64_t found_key;
  uint32_t bucket, bucket_count, rank;
  int count, found_index;
};

// Key of the element of rank `rank` (0 = largest) among those with key <= upper, by
// most-significant-digit radix selection over 8-bit digits with warp-aggregated counts.
template <typename KeyOf>
__device__ uint64_t KeyAtRank(KeyOf key_of, int vocab, uint64_t upper, uint32_t rank, Shared& s) {
  const int lane = threadIdx.x % kWarpSize;
  const int limit = (vocab + kThreads - 1) / kThreads * kThreads;
  uint64_t prefix = 0, mask = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += kThreads) s.hist[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < limit; i += kThreads) {
      int bucket = -1;
      if (i < vocab) {
        const uint64_t k = key_of(i);
        if (k <= upper && (k & mask) == prefix) bucket = static_cast<int>((k >> shift) & 255);
      }
      const unsigned peers = __match_any_sync(~0u, bucket);
      if (bucket >= 0 && lane == __ffs(peers) - 1) atomicAdd(&s.hist[bucket], __popc(peers));
    }
    __syncthreads();
    if (threadIdx.x < kWarpSize) {
      // Lane L covers buckets 255 - 8L down to 248 - 8L: lanes in descending key order.
      uint32_t counts[8], sum = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) sum += counts[j] = s.hist[255 - 8 * lane - j];
      uint32_t inclusive = sum;
#pragma unroll
      for (int offset = 1; offset < kWarpSize; offset *= 2) {
        const uint32_t t = __shfl_up_sync(~0u, inclusive, offset);
        if (lane >= offset) inclusive += t;
      }
      uint32_t before = inclusive - sum;
      if (before <= rank && rank < inclusive) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          if (rank < before + counts[j]) {
            s.bucket = 255 - 8 * lane - j;
            s.bucket_count = counts[j];
            s.rank = rank - before;
            break;
          }
          before += counts[j];
        }
      }
    }
    __syncthreads();
    rank = s.rank;
    const uint32_t count = s.bucket_count;
    prefix |= static_cast<uint64_t>(s.bucket) << shift;
    mask |= uint64_t{255} << shift;
    if (count == 1 && shift > 0) {
      for (int i = threadIdx.x; i < vocab; i += kThreads) {
        const uint64_t k = key_of(i);
        if (k <= upper && (k & mask) == prefix) s.found_key = k;
      }
      __syncthreads();
      prefix = s.found_key;
      break;
    }
  }
  __syncthreads();
  return prefix;
}

// Gathers the keys in [lower, upper] (at most kWindow of them) into s.keys, sorted
// descending by a bitonic sort. Returns their number.
template <typename KeyOf>
__device__ int GatherSorted(KeyOf key_of, int vocab, uint64_t lower, uint64_t upper, Shared& s) {
  if (threadIdx.x == 0) s.count = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < vocab; i += kThreads) {
    const uint64_t k = key_of(i);
    if (lower <= k && k <= upper) {
      const int slot = atomicAdd(&s.count, 1);
      if (slot < kWindow) s.keys[slot] = k;
    }
  }
  __syncthreads();
  const int n = min(s.count, kWindow);
  int padded = 1;
  while (padded < n) padded *= 2;
  for (int i = n + threadIdx.x; i < padded; i += kThreads) s.keys[i] = 0;
  __syncthreads();
  for (int size = 2; size <= padded; size *= 2) {
    for (int stride = size / 2; stride > 0; stride /= 2) {
      for (int i = threadIdx.x; i < padded; i += kThreads) {
        const int j = i ^ stride;
        if (j > i) {
          const uint64_t a = s.keys[i], b = s.keys[j];
          if ((i & size) == 0 ? a < b : a > b) {
            s.keys[i] = b;
            s.keys[j] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  return n;
}

// Exclusive prefix sum over the block in thread order; *total gets the block's sum.
__device__ double BlockExclusiveScan(double v, double* warp_totals, double* total) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  __syncthreads();  // earlier readers of warp_totals are done
  double inclusive = v;
#pragma unroll
  for (int offset = 1; offset < kWarpSize; offset *= 2) {
    const double t = __shfl_up_sync(~0u, inclusive, offset);
    if (lane >= offset) inclusive += t;
  }
  double exclusive = __shfl_up_sync(~0u, inclusive, 1);
  if (lane == 0) exclusive = 0.0;
  if (lane == kWarpSize - 1) warp_totals[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    double w = warp_totals[lane];
#pragma unroll
    for (int offset = 1; offset < kWarpSize; offset *= 2) {
      const double t = __shfl_up_sync(~0u, w, offset);
      if (lane >= offset) w += t;
    }
    warp_totals[lane] = w;
  }
  __syncthreads();
  const double result = (warp == 0 ? 0.0 : warp_totals[warp - 1]) + exclusive;
  *total = warp_totals[kWarpSize - 1];
  __syncthreads();
  return result;
}

// Walks the candidates of rank < kept in order, kWindow at a time, for the first whose
// cumulative probability passes `target` (> when strict, >= otherwise).
template <typename KeyOf, typename ProbOf>
__device__ bool FindCrossing(KeyOf key_of, ProbOf prob_of, int vocab, int kept, double target,
                             bool strict, Shared& s, int* rank, uint64_t* key) {
  double carry = 0.0;
  uint64_t upper = kAllKeys;
  for (int rank0 = 0; rank0 < kept;) {
    const int n = min(kWindow, kept - rank0);
    const uint64_t lower = KeyAtRank(key_of, vocab, upper, n - 1, s);
    GatherSorted(key_of, vocab, lower, upper, s);
    double p[kItems], local = 0.0;
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      const int index = threadIdx.x * kItems + j;
      p[j] = index < n ? prob_of(KeyId(s.keys[index])) : 0.0;
      local += p[j];
    }
    if (threadIdx.x == 0) s.found_index = INT_MAX;
    double window_total;
    double cumulative = carry + BlockExclusiveScan(local, s.dscratch, &window_total);
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      const int index = threadIdx.x * kItems + j;
      cumulative += p[j];
      if (index < n && (strict ? cumulative > target : cumulative >= target)) {
        atomicMin(&s.found_index, index);
        break;
      }
    }
    __syncthreads();
    const int found = s.found_index;
    if (found != INT_MAX) {
      *rank = rank0 + found;
      *key = s.keys[found];
      __syncthreads();
      return true;
    }
    carry += window_total;
    rank0 += n;
    upper = lower - 1;
  }
  return false;
}

// Sum of probabilities over keys >= lower; counts those with probability >= threshold.
template <typename KeyOf, typename ProbOf>
__device__ double MassAtLeast(KeyOf key_of, ProbOf prob_of, int vocab, uint64_t lower,
                              double threshold, int* count, Shared& s) {
  double mass = 0.0;
  int above = 0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) {
    if (key_of(i) >= lower) {
      const double p = prob_of(i);
      mass += p;
      above += p >= threshold;
    }
  }
  *count = BlockSum(above, s.iscratch);
  return BlockSum(mass, s.dscratch);
}

// DrawFiltered of worker/sampling.cc over the processed (penalized, tempered) logits.
__device__ int Draw(const float* logits, int vocab, const SamplingRow& params, Shared& s) {
  auto key_of = [logits](int i) { return OrderKey(logits[i], i); };
  float max_value = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += kThreads) max_value = fmaxf(max_value, logits[i]);
  max_value = BlockMax(max_value, s.fscratch, -INFINITY);
  double sum = 0.0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) sum += expf(logits[i] - max_value);
  sum = BlockSum(sum, s.dscratch);
  // The normalizer scales every probability alike, so its last bits cannot move the draw.
  const double lse = isinf(max_value) ? max_value : max_value + static_cast<float>(log(sum));
  auto prob_of = [logits, lse](int i) { return exp(static_cast<double>(logits[i]) - lse); };

  int kept = params.top_k > 0 && params.top_k < vocab ? params.top_k : vocab;
  auto lower_of = [&](int kept_now) {
    return kept_now < vocab ? KeyAtRank(key_of, vocab, kAllKeys, kept_now - 1, s) : uint64_t{0};
  };
  int count, rank;
  uint64_t key;
  if (params.top_p < 1.0f) {
    const double total = MassAtLeast(key_of, prob_of, vocab, lower_of(kept), 0.0, &count, s);
    if (FindCrossing(key_of, prob_of, vocab, kept, static_cast<double>(params.top_p) * total,
                     /*strict=*/false, s, &rank, &key)) {
      kept = rank + 1;
    }
  }
  if (params.min_p > 0.0f) {
    const double threshold =
        static_cast<double>(params.min_p) * exp(static_cast<double>(max_value) - lse);
    MassAtLeast(key_of, prob_of, vocab, lower_of(kept), threshold, &count, s);
    kept = max(1, min(kept, count));
  }
  const uint64_t kept_lower = lower_of(kept);
  const double total = MassAtLeast(key_of, prob_of, vocab, kept_lower, 0.0, &count, s);
  const double target = SeededUniform(params.seed, params.step) * total;
  if (FindCrossing(key_of, prob_of, vocab, kept, target, /*strict=*/true, s, &rank, &key)) {
    return KeyId(key);
  }
  return KeyId(kept < vocab ? kept_lower : KeyAtRank(key_of, vocab, kAllKeys, vocab - 1, s));
}

__global__ void __launch_bounds__(kThreads) SampleKernel(SampleArgs args, float* work) {
  __shared__ Shared s;
  const int row = blockIdx.x, vocab = args.vocab;
  const SamplingRow params = args.params[row];
  const float* raw = args.logits + row * args.logits_stride;
  float* logits = work + static_cast<int64_t>(row) * vocab;

  // LogSumExp of the raw logits, as the CPU computes it (float max, double sum).
  float raw_max = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += kThreads) raw_max = fmaxf(raw_max, raw[i]);
  raw_max = BlockMax(raw_max, s.fscratch, -INFINITY);
  double raw_sum = 0.0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) raw_sum += expf(raw[i] - raw_max);
  raw_sum = BlockSum(raw_sum, s.dscratch);
  const float raw_lse = isinf(raw_max) ? raw_max : raw_max + static_cast<float>(log(raw_sum));

  // Top log-probabilities of the raw logits.
  const int top = max(0, min(min(params.top_logprobs, args.max_top), vocab));
  if (top > 0) {
    auto raw_key = [raw](int i) { return OrderKey(raw[i], i); };
    const uint64_t lower = KeyAtRank(raw_key, vocab, kAllKeys, top - 1, s);
    GatherSorted(raw_key, vocab, lower, kAllKeys, s);
  }
  for (int i = threadIdx.x; i < args.max_top; i += kThreads) {
    const int id = i < top ? KeyId(s.keys[i]) : -1;
    args.top_tokens[int64_t{row} * args.max_top + i] = id;
    args.top_logprobs[int64_t{row} * args.max_top + i] = id >= 0 ? raw[id] - raw_lse : -INFINITY;
  }

  // Penalties (exact float operations, no contraction, in the CPU's order), then the
  // temperature.
  for (int i = threadIdx.x; i < vocab; i += kThreads) logits[i] = raw[i];
  __syncthreads();
  if (args.penalty_offsets != nullptr) {
    const int end = args.penalty_offsets[row + 1];
    for (int e = args.penalty_offsets[row] + threadIdx.x; e < end; e += kThreads) {
      const PenaltyToken entry = args.penalties[e];
      float v = raw[entry.token];
      if (params.repetition_penalty != 1.0f) {
        v = v > 0 ? __fdiv_rn(v, params.repetition_penalty)
                  : __fmul_rn(v, params.repetition_penalty);
      }
      if ((params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f) &&
          entry.output_count > 0) {
        v = __fsub_rn(v, __fadd_rn(__fmul_rn(params.frequency_penalty,
                                             static_cast<float>(entry.output_count)),
                                   params.presence_penalty));
      }
      logits[entry.token] = v;
    }
  }
  __syncthreads();
  int token;
  if (params.temperature <= 0.0f) {
    uint64_t best = 0;
    for (int i = threadIdx.x; i < vocab; i += kThreads) best = max(best, OrderKey(logits[i], i));
    token = KeyId(BlockMax(best, s.kscratch, uint64_t{0}));
  } else {
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
      logits[i] = __fdiv_rn(logits[i], params.temperature);
    }
    __syncthreads();
    token = Draw(logits, vocab, params, s);
  }
  if (threadIdx.x == 0) {
    args.tokens[row] = token;
    args.logprobs[row] = raw[token] - raw_lse;
  }
}

__global__ void SeededUniformKernel(const uint64_t* seeds, const uint64_t* steps, int count,
                                    double* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) out[i] = SeededUniform(seeds[i], steps[i]);
}

}  // namespace

size_t SamplingWorkspaceBytes(int32_t max_rows, int32_t vocab) {
  return (static_cast<size_t>(max_rows) * vocab * sizeof(float) + 255) / 256 * 256;
}

void Sample(const SampleArgs& args, void* workspace, cudaStream_t stream) {
  if (args.rows == 0) return;
  STRATA_CHECK(args.vocab > 0 && args.max_top >= 0 && args.max_top <= kMaxTopLogprobs);
  STRATA_CHECK(args.max_top == 0 || (args.top_tokens != nullptr && args.top_logprobs != nullptr));
  SampleKernel<<<args.rows, kThreads, 0, stream>>>(args, static_cast<float*>(workspace));
  STRATA_CUDA_CHECK_LAUNCH();
}

void SeededUniformOnDevice(const uint64_t* seeds, const uint64_t* steps, int32_t count, double* out,
                           cudaStream_t stream) {
  if (count == 0) return;
  SeededUniformKernel<<<(count + 255) / 256, 256, 0, stream>>>(seeds, steps, count, out);
  STRATA_CUDA_CHECK_LAUNCH();
}

}  // namespace strata::kernels::cuda
