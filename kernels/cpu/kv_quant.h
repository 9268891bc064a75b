// Int8 KV blocks stored in place (adaptive_precision eviction, cache/eviction_policy.h).
//
// A quantized block keeps its storage: one float32 block of `tokens x kv_heads x head_dim`
// values (its K, or its V, in one layer) is overwritten with
//   bytes [0, n)                   int8 values q, same [token, kv_head, dim] order;
//   floats [ScaleOffset(n), +kv_heads)  one scale per kv head,
// n = tokens * kv_heads * head_dim, and x ~= q * scale[kv_head] with
// scale = max |x| over the block's (token, dim) of that head / 127 (round to nearest).
// No float copy survives: a reader must know the block's precision (the table's flag).
#pragma once

#include <cstdint>

namespace strata::kernels::cpu {

// Precision of a block-table entry (SequenceSlice::block_precision).
inline constexpr uint8_t kKvFloat = 0;
inline constexpr uint8_t kKvInt8 = 1;

struct KvBlockShape {
  int64_t tokens = 0;  // block_size
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t values() const { return tokens * kv_heads * head_dim; }
};

// Float index of the first scale inside the block (after the int8 values, 4-byte aligned).
inline int64_t ScaleOffset(const KvBlockShape& s) { return (s.values() + 3) / 4; }

// Quantizes a float32 block in place. Requires ScaleOffset + kv_heads <= values().
void QuantizeBlockInPlace(float* block, const KvBlockShape& shape);

// Reads a quantized block: its int8 values and per-head scales.
inline const int8_t* QuantizedValues(const float* block) {
  return reinterpret_cast<const int8_t*>(block);
}
inline const float* QuantizedScales(const float* block, const KvBlockShape& shape) {
  return block + ScaleOffset(shape);
}

// Writes the float32 values a quantized block stands for (`out` holds values()).
void DequantizeBlock(const float* block, const KvBlockShape& shape, float* out);

}  // namespace strata::kernels::cpu
