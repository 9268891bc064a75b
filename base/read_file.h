// Reading a whole (small) file into memory, with errors that name the path.
#pragma once

#include <cerrno>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace strata {

// The contents of `path`; an error naming the path when it cannot be read or holds more than
// `max_bytes` bytes (a guard against reading a huge file by mistake).
inline absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return absl::ErrnoToStatus(errno, path);
  std::string contents;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    if (contents.size() + n > max_bytes) {
      std::fclose(file);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than the ", max_bytes, "-byte limit"));
    }
    contents.append(buffer, n);
  }
  bool failed = std::ferror(file) != 0;
  int error = errno;
  std::fclose(file);
  if (failed) return absl::ErrnoToStatus(error, path);
  return contents;
}

}  // namespace strata
