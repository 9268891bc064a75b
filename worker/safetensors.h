// Reading and writing safetensors files, and Hugging Face checkpoints made of them.
// Files are memory-mapped read-only; a TensorView points into the mapping and lives as
// long as the SafetensorsFile / Checkpoint that returned it. Every malformed input is an
// absl::Status naming the file (and the tensor where there is one), never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/dtype.h"

namespace strata::worker {

struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  // Byte range [begin, end) relative to the start of the data section.
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // 8 + header length: where the data section starts in the file
};

// Parses and validates the header of a safetensors file whose first bytes are `prefix`
// (at least the 8-byte length and the JSON header) and whose total size is `file_size`.
// Checks: the length field, JSON syntax, dtype names, shapes (non-negative, no overflow),
// byte ranges inside the data section, size == numel * dtype size, no overlaps, no
// duplicate names. `file_name` appears in every error.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view prefix,
                                                         uint64_t file_size,
                                                         std::string_view file_name);

struct TensorView {
  std::string_view name;
  DType dtype;
  std::span<const int64_t> shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;
  std::string_view file;  // path of the file holding it
  int64_t NumElements() const;
};

// One memory-mapped safetensors file.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  // NotFound naming the tensor and the file when absent.
  absl::StatusOr<TensorView> Tensor(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  SafetensorsHeader header_;
  const std::byte* mapping_ = nullptr;
  size_t mapping_size_ = 0;
};

// The weights of a Hugging Face model directory: `model.safetensors`, or the shards named
// by `model.safetensors.index.json` (every shard the index names must exist, every tensor
// must be in the shard the index says).
class Checkpoint {
 public:
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& model_dir);

  bool Has(std::string_view name) const;
  std::vector<std::string> TensorNames() const;  // sorted
  // NotFound "tensor 'x' not found in <dir> (...)" when absent.
  absl::StatusOr<TensorView> Tensor(std::string_view name) const;
  // Converts the tensor to float32 into `out` (NumElements floats) after checking that its
  // shape equals `expected_shape`; a mismatch names the file, the tensor and both shapes.
  absl::Status ReadFloat(std::string_view name, std::span<const int64_t> expected_shape,
                         float* out) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*, std::less<>> tensor_file_;
};

// Streams a safetensors file to disk without holding all tensor data in memory: the
// header is written first, then `fill` is called once per tensor, in the order given, with
// a buffer of exactly that tensor's byte size to fill.
struct TensorSpec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};
absl::Status WriteSafetensors(
    const std::string& path, const std::vector<TensorSpec>& tensors,
    const std::map<std::string, std::string>& metadata,
    const std::function<void(size_t tensor_index, std::span<std::byte> bytes)>& fill);

}  // namespace strata::worker
