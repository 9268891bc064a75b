#include "tools/mkmodel/random_weights.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

namespace strata::mkmodel {
namespace {

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull;  // SplitMix64's increment

// SplitMix64's output function (a bijective 64-bit mixer).
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The sampler works on 8 lanes at a time with GCC/Clang vector extensions: the same IEEE
// float operations in every lane, whatever instructions the target lowers them to.
typedef float F8 __attribute__((vector_size(32)));
typedef uint32_t U8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));
constexpr int kLanes = 8;

U8 Fmix32(U8 h) {  // MurmurHash3's 32-bit finalizer (a bijection)
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// 32 random bits for counters (hi << 32 | lo) of stream `key`: two keyed rounds of a
// bijective mixer.
U8 Draw32(uint64_t key, uint32_t hi, U8 lo) {
  U8 x = Fmix32(lo * 0x9e3779b9u + static_cast<uint32_t>(key));
  return Fmix32(x ^ (static_cast<uint32_t>(key >> 32) ^ (hi * 0x85ebca6bu)));
}

F8 Sqrt(F8 x) {
  for (int i = 0; i < kLanes; ++i) x[i] = std::sqrt(x[i]);  // correctly rounded
  return x;
}

// c[0] + c[1] x + c[2] x^2 + ..., by Horner's rule.
template <size_t N>
F8 Horner(F8 x, const float (&c)[N]) {
  F8 result = F8{} + c[N - 1];
  for (size_t i = N - 1; i-- > 0;) result = result * x + c[i];
  return result;
}

// Taylor coefficients in x^2 of atanh(x)/x, sin(x)/x and cos(x).
constexpr float kAtanhOverX[] = {1.0f, 1.0f / 3, 1.0f / 5, 1.0f / 7, 1.0f / 9};
constexpr float kSinOverX[] = {1.0f,         -1.0f / 6,     1.0f / 120,
                               -1.0f / 5040, 1.0f / 362880, -1.0f / 39916800};
constexpr float kCos[] = {1.0f, -1.0f / 2, 1.0f / 24, -1.0f / 720, 1.0f / 40320, -1.0f / 3628800};

// Natural log for x in (0, 1], x normal: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
// log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172; the series to s^9 is float-exact.
F8 Log(F8 x) {
  U8 bits = (U8)x;
  I8 exponent = (I8)(bits >> 23) - 126;
  F8 m = (F8)((bits & 0x7fffffu) | (126u << 23));  // in [0.5, 1)
  I8 low = -(m < 0.70710678f);                     // 1 where m gets doubled
  m = m * __builtin_convertvector(1 + low, F8);
  exponent -= low;
  F8 s = (m - 1.0f) / (m + 1.0f);
  F8 s2 = s * s;
  F8 series = Horner(s2, kAtanhOverX);
  return __builtin_convertvector(exponent, F8) * 0.69314718f + 2.0f * s * series;
}

// pick ? b : a, lane by lane (pick is 0 or 1).
F8 Select(U8 pick, F8 a, F8 b) {
  U8 mask = 0u - pick;
  return (F8)(((U8)b & mask) | ((U8)a & ~mask));
}

// Flips the sign of the lanes where `flip` is 1.
F8 FlipSign(F8 x, U8 flip) { return (F8)((U8)x ^ (flip << 31)); }

constexpr uint64_t kBlock = 2 * kLanes;  // elements per block

// Block b holds pairs 8b..8b+7 (pair p draws counters 2p and 2p+1): element 16b+j is
// r_j cos(theta_j) and 16b+8+j is r_j sin(theta_j).
void NormalBlock(uint64_t key, uint64_t block, float* out) {
  const uint64_t first_counter = block * kBlock;  // 16 counters that share their high bits
  const uint32_t hi = static_cast<uint32_t>(first_counter >> 32);
  const uint32_t lo = static_cast<uint32_t>(first_counter);
  const U8 even = U8{0, 2, 4, 6, 8, 10, 12, 14} + lo;
  U8 h1 = Draw32(key, hi, even);
  U8 h2 = Draw32(key, hi, even + 1u);
  constexpr float kInv24 = 1.0f / 16777216.0f;
  F8 u1 = __builtin_convertvector((I8)((h1 >> 8) + 1u), F8) * kInv24;  // (0, 1]
  F8 u2 = __builtin_convertvector((I8)(h2 >> 8), F8) * kInv24;         // [0, 1)
  F8 r = Sqrt(-2.0f * Log(u1));
  // cos and sin of 2*pi*u2: quarter turn q, |phi| <= pi/4, Taylor to degree 10/11.
  F8 quarters = u2 * 4.0f;
  I8 q = __builtin_convertvector(quarters + 0.5f, I8);  // floor: the operand is positive
  F8 phi = (quarters - __builtin_convertvector(q, F8)) * 1.57079633f;
  F8 p2 = phi * phi;
  F8 sin_phi = phi * Horner(p2, kSinOverX);
  F8 cos_phi = Horner(p2, kCos);
  // Rotate by q quarter turns: (c, s) -> (-s, c) per turn.
  U8 quadrant = (U8)q & 3u;
  U8 odd = quadrant & 1u;
  F8 c = FlipSign(Select(odd, cos_phi, sin_phi), ((quadrant + 1u) >> 1) & 1u);
  F8 s = FlipSign(Select(odd, sin_phi, cos_phi), quadrant >> 1);
  F8 cos_out = r * c;
  F8 sin_out = r * s;
  std::memcpy(out, &cos_out, sizeof(cos_out));
  std::memcpy(out + kLanes, &sin_out, sizeof(sin_out));
}

void Store(DType dtype, const float* values, size_t count, std::byte* out) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, values, count * sizeof(float));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits = FloatToBF16(values[i]);
        std::memcpy(out + 2 * i, &bits, 2);
      }
      return;
    case DType::kF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits = FloatToF16(values[i]);
        std::memcpy(out + 2 * i, &bits, 2);
      }
      return;
  }
}

}  // namespace

uint64_t TensorStreamKey(uint64_t seed, std::string_view tensor_name) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char ch : tensor_name) hash = (hash ^ ch) * 0x100000001b3ull;
  return Mix(Mix(seed + kGamma) ^ hash);
}

void StandardNormals(uint64_t key, uint64_t first, std::span<float> out) {
  uint64_t index = first;
  size_t i = 0;
  float block[kBlock];
  while (i < out.size()) {
    uint64_t offset = index % kBlock;
    size_t n = std::min<size_t>(kBlock - offset, out.size() - i);
    if (offset == 0 && n == kBlock) {
      NormalBlock(key, index / kBlock, out.data() + i);
    } else {
      NormalBlock(key, index / kBlock, block);
      std::memcpy(out.data() + i, block + offset, n * sizeof(float));
    }
    i += n;
    index += n;
  }
}

WeightInit InitFor(worker::TensorRole role) {
  if (role == worker::TensorRole::kNorm) return WeightInit{1.0f, 0.02f};
  return WeightInit{0.0f, 0.02f};
}

void FillTensor(uint64_t key, WeightInit init, DType dtype, std::span<std::byte> bytes,
                int threads) {
  const size_t element_size = DTypeSize(dtype);
  const size_t count = bytes.size() / element_size;
  constexpr size_t kChunk = 1 << 14;  // elements per work item
  const size_t chunks = (count + kChunk - 1) / kChunk;
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<float> values(kChunk);
    for (size_t chunk; (chunk = next.fetch_add(1)) < chunks;) {
      size_t begin = chunk * kChunk;
      size_t n = std::min(kChunk, count - begin);
      std::span<float> out(values.data(), n);
      StandardNormals(key, begin, out);
      for (float& v : out) v = init.mean + init.stddev * v;
      Store(dtype, values.data(), n, bytes.data() + begin * element_size);
    }
  };
  const size_t helpers = std::min<size_t>(std::max(threads, 1), chunks) - (chunks > 0 ? 1 : 0);
  std::vector<std::thread> pool;
  for (size_t t = 0; t < helpers; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
}

}  // namespace strata::mkmodel
