// Element types of checkpoint tensors and conversions to and from float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/status/statusor.h"

namespace strata {

enum class DType { kF32, kF16, kBF16 };

// Bytes per element.
size_t DTypeSize(DType dtype);
// Safetensors spelling: "F32", "F16", "BF16".
std::string_view DTypeName(DType dtype);
absl::StatusOr<DType> ParseDTypeName(std::string_view name);

inline float BF16ToFloat(uint16_t bits) {
  uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof(value));
  return value;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t FloatToBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float F16ToFloat(uint16_t bits);
uint16_t FloatToF16(float value);

// Converts `count` elements of `dtype` at `src` (any alignment) to float32.
void ConvertToFloat(DType dtype, const std::byte* src, size_t count, float* dst);

}  // namespace strata
