#include "worker/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/read_file.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace strata::worker {
namespace {

using Json = nlohmann::json;

// The reference implementation (huggingface/safetensors) refuses headers above 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests 3 levels deep ({name: {shape: [dim]}}); unknown fields may add a few.
constexpr int kMaxJsonDepth = 16;
constexpr size_t kMaxIndexBytes = 64 << 20;

// A name or key from an untrusted file, made printable and short enough for a message.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxShown = 160;
  std::string_view head = text.substr(0, kMaxShown);
  std::string shown = absl::CHexEscape(absl::string_view(head.data(), head.size()));
  if (text.size() > kMaxShown) absl::StrAppend(&shown, "...");
  return absl::StrCat("'", shown, "'");
}

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// absl::string_view is not std::string_view in this Abseil build; messages are built as
// std::string.
absl::Status FileError(std::string_view file, std::string_view message) {
  return absl::InvalidArgumentError(std::string(file) + ": " + std::string(message));
}

absl::Status TensorError(std::string_view file, std::string_view tensor, std::string_view message) {
  return FileError(file, "tensor " + Quote(tensor) + ": " + std::string(message));
}

// Thrown from the parser callback to abort parsing; caught in ParseHeaderJson.
struct HeaderRejected {
  std::string message;
};

// Parses the JSON header, rejecting duplicate keys (at any level) and deep nesting, which
// nlohmann would otherwise accept silently (last duplicate wins) or recurse into.
absl::StatusOr<Json> ParseHeaderJson(std::string_view text, std::string_view file) {
  std::vector<std::set<std::string>> keys_per_object;
  std::string top_level_key;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) {
          throw HeaderRejected{absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels")};
        }
        if (event == Json::parse_event_t::object_start) keys_per_object.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys_per_object.empty()) keys_per_object.pop_back();
        break;
      case Json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (depth == 1) top_level_key = key;
        if (!keys_per_object.empty() && !keys_per_object.back().insert(key).second) {
          throw HeaderRejected{depth == 1 ? absl::StrCat("duplicate tensor name ", Quote(key))
                                          : absl::StrCat("entry ", Quote(top_level_key),
                                                         ": duplicate key ", Quote(key))};
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback);
  } catch (const HeaderRejected& rejected) {
    return FileError(file, absl::StrCat("invalid header: ", rejected.message));
  } catch (const Json::exception& e) {
    return FileError(file, absl::StrCat("invalid JSON header: ", Quote(e.what())));
  }
}

// A JSON number that is a non-negative integer no larger than `max`.
bool AsIndex(const Json& value, uint64_t max, uint64_t* out) {
  if (!value.is_number_unsigned()) return false;
  uint64_t v = value.get<uint64_t>();
  if (v > max) return false;
  *out = v;
  return true;
}

absl::StatusOr<TensorEntry> ParseTensorEntry(const std::string& name, const Json& value,
                                             std::string_view file) {
  TensorEntry entry;
  entry.name = name;
  if (!value.is_object()) return TensorError(file, name, "entry is not a JSON object");

  auto dtype = value.find("dtype");
  if (dtype == value.end() || !dtype->is_string()) {
    return TensorError(file, name, "missing or non-string \"dtype\"");
  }
  absl::StatusOr<DType> parsed_dtype = ParseDTypeName(dtype->get_ref<const std::string&>());
  if (!parsed_dtype.ok())
    return TensorError(file, name, std::string(parsed_dtype.status().message()));
  entry.dtype = *parsed_dtype;

  auto shape = value.find("shape");
  if (shape == value.end() || !shape->is_array()) {
    return TensorError(file, name, "missing or non-array \"shape\"");
  }
  constexpr uint64_t kMaxElements = std::numeric_limits<int64_t>::max();
  uint64_t numel = 1;
  for (const Json& dim : *shape) {
    uint64_t d;
    if (!AsIndex(dim, kMaxElements, &d)) {
      return TensorError(
          file, name,
          absl::StrCat("shape entry ", Quote(dim.dump()), " is not a non-negative integer"));
    }
    if (d != 0 && numel > kMaxElements / d) {
      return TensorError(file, name, "number of elements overflows");
    }
    numel *= d;
    entry.shape.push_back(static_cast<int64_t>(d));
  }

  auto offsets = value.find("data_offsets");
  if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
      !AsIndex((*offsets)[0], UINT64_MAX, &entry.begin) ||
      !AsIndex((*offsets)[1], UINT64_MAX, &entry.end)) {
    return TensorError(file, name, "\"data_offsets\" is not a pair of non-negative integers");
  }
  if (entry.end < entry.begin) {
    return TensorError(
        file, name,
        absl::StrCat("data_offsets [", entry.begin, ", ", entry.end, "] end before they begin"));
  }
  uint64_t element_size = DTypeSize(entry.dtype);
  if (numel > UINT64_MAX / element_size) {
    return TensorError(file, name, "byte size overflows");
  }
  if (entry.end - entry.begin != numel * element_size) {
    return TensorError(
        file, name,
        absl::StrCat("data_offsets [", entry.begin, ", ", entry.end, "] hold ",
                     entry.end - entry.begin, " bytes but shape ", ShapeString(entry.shape), " of ",
                     std::string(DTypeName(entry.dtype)), " needs ", numel * element_size));
  }
  return entry;
}

// Like the reference implementation: tensors, ordered by offset, must tile the data section
// exactly, without overlaps, holes or trailing bytes.
absl::Status CheckLayout(const std::vector<TensorEntry>& tensors, uint64_t data_size,
                         std::string_view file) {
  std::vector<const TensorEntry*> by_offset;
  for (const TensorEntry& t : tensors) {
    if (t.end > data_size) {
      return TensorError(
          file, t.name,
          absl::StrCat("data_offsets [", t.begin, ", ", t.end,
                       "] extend past the end of the data section (", data_size, " bytes)"));
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t covered = 0;  // data bytes [0, covered) belong to the tensors seen so far
  const TensorEntry* previous = nullptr;
  for (const TensorEntry* t : by_offset) {
    if (t->begin < covered) {
      return TensorError(
          file, t->name,
          absl::StrCat("data_offsets [", t->begin, ", ", t->end, "] overlap tensor ",
                       Quote(previous->name), " [", previous->begin, ", ", previous->end, "]"));
    }
    if (t->begin > covered) {
      return TensorError(
          file, t->name,
          absl::StrCat("data_offsets [", t->begin, ", ", t->end, "] leave a hole of ",
                       t->begin - covered, " bytes at offset ", covered));
    }
    covered = t->end;
    previous = t;
  }
  if (covered != data_size) {
    return FileError(file, absl::StrCat(data_size - covered,
                                        " trailing bytes after the last tensor (data section is ",
                                        data_size, " bytes, tensors cover ", covered, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view prefix,
                                                         uint64_t file_size,
                                                         std::string_view file_name) {
  if (file_size < 8 || prefix.size() < 8) {
    return FileError(file_name,
                     absl::StrCat("too short (", std::min<uint64_t>(file_size, prefix.size()),
                                  " bytes) to hold the 8-byte header length"));
  }
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) {
    header_length = (header_length << 8) | static_cast<unsigned char>(prefix[i]);
  }
  if (header_length > kMaxHeaderBytes) {
    return FileError(file_name, absl::StrCat("header length ", header_length, " exceeds the ",
                                             kMaxHeaderBytes, "-byte limit"));
  }
  if (header_length > file_size - 8) {
    return FileError(
        file_name, absl::StrCat("header length ", header_length, " runs past the end of the file (",
                                file_size, " bytes)"));
  }
  if (prefix.size() - 8 < header_length) {
    return FileError(file_name, absl::StrCat("header truncated: ", header_length,
                                             " bytes declared, ", prefix.size() - 8, " available"));
  }
  STRATA_ASSIGN_OR_RETURN(Json root, ParseHeaderJson(prefix.substr(8, header_length), file_name));
  if (!root.is_object()) return FileError(file_name, "header is not a JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_length;
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object()) return FileError(file_name, "__metadata__ is not a JSON object");
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string()) {
          return FileError(file_name, absl::StrCat("__metadata__ value for ", Quote(meta_key),
                                                   " is not a string"));
        }
        header.metadata[meta_key] = meta_value.get<std::string>();
      }
      continue;
    }
    STRATA_ASSIGN_OR_RETURN(TensorEntry entry, ParseTensorEntry(key, value, file_name));
    header.tensors.push_back(std::move(entry));
  }
  STRATA_RETURN_IF_ERROR(CheckLayout(header.tensors, file_size - header.data_offset, file_name));
  // nlohmann objects iterate in key order, so `tensors` is already sorted by name.
  return header;
}

int64_t TensorView::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// --- SafetensorsFile ---

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO by mistake must not hang; it is rejected below.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int error = errno;
    ::close(fd);
    return absl::ErrnoToStatus(error, path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return FileError(path, "not a regular file");
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > 0) {
    void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      int error = errno;
      ::close(fd);
      return absl::ErrnoToStatus(error, absl::StrCat(path, ": mmap"));
    }
    file->mapping_ = static_cast<const std::byte*>(mapping);
    file->mapping_size_ = size;
  }
  ::close(fd);  // the mapping keeps the file alive
  std::string_view contents(reinterpret_cast<const char*>(file->mapping_), file->mapping_size_);
  STRATA_ASSIGN_OR_RETURN(file->header_, ParseSafetensorsHeader(contents, size, path));
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(const_cast<std::byte*>(mapping_), mapping_size_);
}

absl::StatusOr<TensorView> SafetensorsFile::Tensor(std::string_view name) const {
  const std::vector<TensorEntry>& tensors = header_.tensors;
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const TensorEntry& e, std::string_view n) { return e.name < n; });
  if (it == tensors.end() || it->name != name) {
    return absl::NotFoundError(absl::StrCat(path_, ": tensor ", Quote(name),
                                            " not found (file has ", tensors.size(), " tensors)"));
  }
  TensorView view;
  view.name = it->name;
  view.dtype = it->dtype;
  view.shape = it->shape;
  view.data = mapping_ + header_.data_offset + it->begin;
  view.nbytes = it->end - it->begin;
  view.file = path_;
  return view;
}

// --- Checkpoint ---

namespace {

// Shard names come from the index file: keep them inside the model directory.
bool IsSafeShardName(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string_view part(name.data() + start, end - start);
    if (part == ".." || part.empty()) return false;
    start = end + 1;
  }
  return true;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& model_dir) {
  auto checkpoint = std::make_unique<Checkpoint>();
  checkpoint->dir_ = model_dir;
  const std::string single = absl::StrCat(model_dir, "/model.safetensors");
  const std::string index_path = absl::StrCat(model_dir, "/model.safetensors.index.json");

  // Like transformers: a single model.safetensors wins over an index.
  if (FileExists(single)) {
    STRATA_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single));
    for (const TensorEntry& entry : file->header().tensors) {
      checkpoint->tensor_file_.emplace(entry.name, file.get());
    }
    checkpoint->files_.push_back(std::move(file));
    return checkpoint;
  }
  if (!FileExists(index_path)) {
    return absl::NotFoundError(absl::StrCat(
        model_dir,
        ": no model.safetensors or model.safetensors.index.json (not a model directory?)"));
  }

  STRATA_ASSIGN_OR_RETURN(std::string index_text, ReadFileToString(index_path, kMaxIndexBytes));
  Json index = Json::parse(index_text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded()) return FileError(index_path, "invalid JSON");
  if (!index.is_object()) return FileError(index_path, "not a JSON object");
  auto weight_map = index.find("weight_map");
  if (weight_map == index.end() || !weight_map->is_object()) {
    return FileError(index_path, "missing or non-object \"weight_map\"");
  }
  std::map<std::string, const SafetensorsFile*> shards;  // shard name -> opened file
  for (const auto& [tensor, shard_json] : weight_map->items()) {
    if (!shard_json.is_string()) {
      return FileError(index_path, absl::StrCat("weight_map entry for tensor ", Quote(tensor),
                                                " is not a string"));
    }
    const std::string& shard = shard_json.get_ref<const std::string&>();
    if (!IsSafeShardName(shard)) {
      return FileError(index_path,
                       absl::StrCat("tensor ", Quote(tensor), " maps to shard ", Quote(shard),
                                    ", which is not a relative path "
                                    "inside the model directory"));
    }
    auto it = shards.find(shard);
    if (it == shards.end()) {
      absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
          SafetensorsFile::Open(absl::StrCat(model_dir, "/", shard));
      if (!file.ok()) {
        return absl::Status(
            file.status().code(),
            absl::StrCat(index_path, ": shard ", Quote(shard), " (for tensor ", Quote(tensor),
                         ") cannot be opened: ", file.status().message()));
      }
      it = shards.emplace(shard, file->get()).first;
      checkpoint->files_.push_back(*std::move(file));
    }
    if (!it->second->Tensor(tensor).ok()) {
      return absl::NotFoundError(absl::StrCat(index_path, ": tensor ", Quote(tensor),
                                              " is not in its shard ", it->second->path()));
    }
    checkpoint->tensor_file_.emplace(tensor, it->second);
  }
  return checkpoint;
}

bool Checkpoint::Has(std::string_view name) const { return tensor_file_.contains(name); }

std::vector<std::string> Checkpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensor_file_.size());
  for (const auto& [name, file] : tensor_file_) names.push_back(name);
  return names;
}

absl::StatusOr<TensorView> Checkpoint::Tensor(std::string_view name) const {
  auto it = tensor_file_.find(name);
  if (it == tensor_file_.end()) {
    return absl::NotFoundError(absl::StrCat("tensor ", Quote(name), " not found in ", dir_, " (",
                                            tensor_file_.size(), " tensors in ", files_.size(),
                                            " safetensors files)"));
  }
  return it->second->Tensor(name);
}

absl::Status Checkpoint::ReadFloat(std::string_view name, std::span<const int64_t> expected_shape,
                                   float* out) const {
  STRATA_ASSIGN_OR_RETURN(TensorView view, Tensor(name));
  if (!std::equal(view.shape.begin(), view.shape.end(), expected_shape.begin(),
                  expected_shape.end())) {
    return TensorError(view.file, name,
                       absl::StrCat("shape ", ShapeString(view.shape),
                                    " does not match the expected ", ShapeString(expected_shape)));
  }
  ConvertToFloat(view.dtype, view.data, static_cast<size_t>(view.NumElements()), out);
  return absl::OkStatus();
}

}  // namespace strata::worker
