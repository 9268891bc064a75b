// Runs every file of the fuzzing corpus (fuzz/corpus/safetensors_header) through the header
// parser in the normal build: a regression test that no input found so far crashes it.
// Files named valid_* must parse; files named invalid_* must fail with an error naming them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "worker/safetensors.h"

namespace strata::worker {
namespace {

namespace fs = std::filesystem;

fs::path CorpusDir() {
  const char* source = std::getenv("STRATA_SOURCE_DIR");
  return fs::path(source ? source : ".") / "fuzz" / "corpus" / "safetensors_header";
}

TEST(SafetensorsCorpusTest, EveryInputIsHandled) {
  ASSERT_TRUE(fs::is_directory(CorpusDir())) << CorpusDir();
  int files = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(CorpusDir())) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string name = entry.path().filename().string();
    auto header = ParseSafetensorsHeader(bytes, bytes.size(), name);
    if (name.starts_with("valid_")) {
      EXPECT_TRUE(header.ok()) << name << ": " << header.status();
    } else if (name.starts_with("invalid_")) {
      ASSERT_FALSE(header.ok()) << name;
      EXPECT_NE(header.status().message().find(name), absl::string_view::npos) << header.status();
    }
    if (header.ok()) {  // whatever parses must describe a consistent layout
      for (const TensorEntry& t : header->tensors) {
        EXPECT_LE(t.begin, t.end) << name;
        EXPECT_LE(header->data_offset + t.end, bytes.size()) << name;
      }
    }
  }
  EXPECT_GE(files, 12);
}

}  // namespace
}  // namespace strata::worker
