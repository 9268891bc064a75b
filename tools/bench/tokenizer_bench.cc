// strata-bench-tokenizer: encode throughput on a mixed corpus of a given size.
//
//   strata-bench-tokenizer --tokenizer DIR [--corpus FILE.jsonl] [--megabytes 10]
//
// The corpus (one JSON string per line; default tests/fixtures/tokenizer/corpus.jsonl:
// prose, code, CJK, Arabic, Devanagari, emoji, digits, whitespace) is repeated, each copy
// as its own document, until the total reaches --megabytes. Every document is encoded once
// after a warm-up pass; prints MB/s and tokens/s.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "server/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  std::string dir, corpus_path = "tests/fixtures/tokenizer/corpus.jsonl";
  double megabytes = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--tokenizer") {
      dir = value;
    } else if (flag == "--corpus") {
      corpus_path = value;
    } else if (flag == "--megabytes" && absl::SimpleAtod(value, &megabytes) && megabytes > 0) {
    } else {
      std::fprintf(stderr, "strata-bench-tokenizer: bad argument %s\n", flag.c_str());
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr,
                 "usage: strata-bench-tokenizer --tokenizer DIR [--corpus F] [--megabytes N]\n");
    return 2;
  }
  auto tokenizer = strata::server::Tokenizer::Load(dir);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
    return 1;
  }
  std::vector<std::string> lines;
  std::ifstream in(corpus_path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  if (lines.empty()) {
    std::fprintf(stderr, "empty corpus %s\n", corpus_path.c_str());
    return 1;
  }
  std::vector<std::string> documents;
  size_t bytes = 0;
  const size_t target = static_cast<size_t>(megabytes * 1e6);
  for (size_t i = 0; bytes < target; ++i) {
    documents.push_back(lines[i % lines.size()]);
    bytes += documents.back().size();
  }
  for (size_t i = 0; i < lines.size(); ++i) (void)(*tokenizer)->Encode(documents[i]);  // warm-up
  const auto start = std::chrono::steady_clock::now();
  size_t tokens = 0;
  for (const std::string& d : documents) tokens += (*tokenizer)->Encode(d).size();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "| encode | %.1f MB | %zu documents | %zu tokens | %.2f s | %.2f MB/s | %.0f tokens/s |\n",
      bytes / 1e6, documents.size(), tokens, seconds, bytes / 1e6 / seconds, tokens / seconds);
  return 0;
}
