// Content keys of full KV blocks for the prefix cache. A block's key chains its parent's
// key with its own token ids, so equal keys mean equal whole prefixes (up to a 128-bit
// hash collision). The root key carries an optional per-tenant salt: requests with
// different salts never share blocks.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

namespace strata::cache {

struct BlockKey {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend bool operator==(const BlockKey&, const BlockKey&) = default;
};

// The key "before the first block" of a sequence with this salt.
BlockKey RootKey(std::string_view cache_salt);
// The key of the block holding `tokens` (exactly block_size ids) after `parent`.
BlockKey ChainKey(const BlockKey& parent, std::span<const int32_t> tokens);

struct BlockKeyHash {
  size_t operator()(const BlockKey& k) const { return static_cast<size_t>(k.hi ^ (k.lo * 31)); }
};

}  // namespace strata::cache
