// A byte-level BPE model as stored in the "model" object of a Hugging Face tokenizer.json:
// vocabulary, merges ranked by position, optional ignore_merges. Encodes one pre-token (raw
// bytes) at a time. Immutable after construction apart from an internal, mutex-guarded
// cache of recent words, so const methods are safe to call from several threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/tokenizer/string_map.h"

namespace strata::server {

class BpeModel {
 public:
  // Parses {"type": "BPE", "vocab": {...}, "merges": [...], ...}. Merges may be "a b" strings or
  // ["a", "b"] pairs. Unsupported options (dropout, byte_fallback, continuing_subword_prefix,
  // end_of_word_suffix) are InvalidArgument errors.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model);

  // Appends the ids of one pre-token, given as raw bytes (not byte-level spelled).
  void EncodeWord(std::string_view word, std::vector<int32_t>* ids) const;

  // Vocabulary in byte-level spelling.
  const StringMap<int32_t>& vocab() const { return vocab_; }
  bool ignore_merges() const { return ignore_merges_; }

 private:
  BpeModel() = default;
  void MergeWord(std::string_view word, std::vector<int32_t>* ids) const;

  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  StringMap<int32_t> vocab_;
  // Vocabulary entries spelled entirely in the byte-level alphabet, keyed by their raw bytes.
  StringMap<int32_t> raw_vocab_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_;  // -1 where a byte has no token
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;

  // Bounded cache of merged words: a few shards, each cleared when it fills up.
  static constexpr int kCacheShards = 16;
  static constexpr size_t kCacheShardCapacity = 4096;
  static constexpr size_t kMaxCachedWordBytes = 128;
  struct CacheShard {
    std::mutex mu;
    StringMap<std::vector<int32_t>> words;  // guarded by mu
  };
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace strata::server
