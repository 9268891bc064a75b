#include "server/security/secret_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace strata::server::security {

absl::StatusOr<std::string> ReadSecretFile(std::string_view config_key, const std::string& path) {
  constexpr size_t kLimit = 16 << 20;
  auto fail = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(config_key), ": cannot read '", path, "': ", std::string(why)));
  };
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) return fail(std::strerror(errno));
  std::string text;
  char chunk[16 * 1024];
  while (true) {
    const size_t n = std::fread(chunk, 1, sizeof(chunk), file.get());
    text.append(chunk, n);
    if (text.size() > kLimit) return fail("larger than 16 MiB");
    if (n < sizeof(chunk)) break;
  }
  if (std::ferror(file.get())) return fail(std::strerror(errno));  // e.g. a directory
  return text;
}

}  // namespace strata::server::security
