// libFuzzer target: arbitrary bytes as a whole safetensors file through the header parser.
// The parser must return a status for every input, never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "worker/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto header = strata::worker::ParseSafetensorsHeader(bytes, size, "fuzz.safetensors");
  if (header.ok()) {
    // A header that parses describes tensors inside the input.
    for (const strata::worker::TensorEntry& tensor : header->tensors) {
      if (tensor.begin > tensor.end || header->data_offset + tensor.end > size) __builtin_trap();
    }
  }
  return 0;
}
