// WriteSafetensors: streams a safetensors file to a temporary file, then renames it.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/safetensors.h"

namespace strata::worker {
namespace {

// The reference implementation (huggingface/safetensors) refuses headers above 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

absl::Status FileError(const std::string& file, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", message));
}

absl::Status TensorError(const std::string& file, const std::string& tensor,
                         const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": tensor '", tensor, "': ", message));
}

absl::Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, std::min<size_t>(size, 1 << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": write"));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// The header bytes (JSON padded with spaces to a multiple of 8, as the reference writer does,
// so that the data section starts 8-byte aligned) and each tensor's byte size.
absl::StatusOr<std::string> BuildHeader(const std::string& path,
                                        const std::vector<TensorSpec>& tensors,
                                        const std::map<std::string, std::string>& metadata,
                                        std::vector<uint64_t>* sizes) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorSpec& spec : tensors) {
    if (spec.name.empty() || spec.name == "__metadata__") {
      return TensorError(path, spec.name, "reserved or empty tensor name");
    }
    if (header.contains(spec.name)) return TensorError(path, spec.name, "duplicate tensor name");
    uint64_t bytes = DTypeSize(spec.dtype);
    for (int64_t d : spec.shape) {
      if (d < 0) return TensorError(path, spec.name, "negative dimension");
      if (d != 0 && bytes > UINT64_MAX / static_cast<uint64_t>(d)) {
        return TensorError(path, spec.name, "byte size overflows");
      }
      bytes *= static_cast<uint64_t>(d);
    }
    if (bytes > UINT64_MAX - offset) return TensorError(path, spec.name, "file size overflows");
    header[spec.name] = {{"dtype", DTypeName(spec.dtype)},
                         {"shape", spec.shape},
                         {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    sizes->push_back(bytes);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  if (json.size() > kMaxHeaderBytes) return FileError(path, "header too large");
  return json;
}

}  // namespace

absl::Status WriteSafetensors(
    const std::string& path, const std::vector<TensorSpec>& tensors,
    const std::map<std::string, std::string>& metadata,
    const std::function<void(size_t tensor_index, std::span<std::byte> bytes)>& fill) {
  std::vector<uint64_t> sizes;
  STRATA_ASSIGN_OR_RETURN(std::string header, BuildHeader(path, tensors, metadata, &sizes));
  uint64_t largest = sizes.empty() ? 0 : *std::max_element(sizes.begin(), sizes.end());
  if (largest > std::numeric_limits<size_t>::max() / 2) {
    return FileError(path, "tensor too large to buffer");
  }

  // Written next to the destination and renamed over it, so readers never see a partial file.
  const std::string temp_path = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, temp_path);
  auto fail = [&](absl::Status status) {
    ::close(fd);
    ::unlink(temp_path.c_str());
    return status;
  };

  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(header.size() >> (8 * i));
  absl::Status status = WriteAll(fd, length, sizeof(length), temp_path);
  if (status.ok()) status = WriteAll(fd, header.data(), header.size(), temp_path);
  if (!status.ok()) return fail(status);

  // Two buffers: tensor i is filled while tensor i-1 is written by a helper thread, so
  // generating and writing overlap. At most one write is in flight, so writes stay in order.
  std::unique_ptr<std::byte[]> buffers[2] = {
      std::unique_ptr<std::byte[]>(new std::byte[std::max<uint64_t>(largest, 1)]),
      std::unique_ptr<std::byte[]>(new std::byte[tensors.size() > 1 ? largest : 1])};
  std::future<absl::Status> in_flight;
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::span<std::byte> bytes(buffers[i % 2].get(), sizes[i]);
    std::memset(bytes.data(), 0, bytes.size());  // bytes `fill` skips are zeros, not garbage
    fill(i, bytes);
    if (in_flight.valid() && !(status = in_flight.get()).ok()) return fail(status);
    in_flight = std::async(std::launch::async, [fd, bytes, &temp_path] {
      return WriteAll(fd, bytes.data(), bytes.size(), temp_path);
    });
  }
  if (in_flight.valid() && !(status = in_flight.get()).ok()) return fail(status);
  if (::close(fd) != 0) {
    int error = errno;
    ::unlink(temp_path.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat(temp_path, ": close"));
  }
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp_path.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("rename ", temp_path, " -> ", path));
  }
  return absl::OkStatus();
}

}  // namespace strata::worker
