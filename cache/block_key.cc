#include "cache/block_key.h"

namespace strata::cache {
namespace {

// SplitMix64's finaliser: a bijective 64-bit mixer with full avalanche.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Two independently seeded 64-bit lanes, each absorbing every word.
struct Hasher {
  uint64_t hi, lo;
  void Absorb(uint64_t word) {
    hi = Mix(hi ^ word);
    lo = Mix(lo + word * 0xff51afd7ed558ccdULL);
  }
};

}  // namespace

BlockKey RootKey(std::string_view cache_salt) {
  Hasher h{0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL};
  h.Absorb(cache_salt.size());
  for (unsigned char c : cache_salt) h.Absorb(c);
  return {h.hi, h.lo};
}

BlockKey ChainKey(const BlockKey& parent, std::span<const int32_t> tokens) {
  Hasher h{parent.hi, parent.lo};
  h.Absorb(tokens.size());
  for (int32_t t : tokens) h.Absorb(static_cast<uint32_t>(t));
  return {h.hi, h.lo};
}

}  // namespace strata::cache
