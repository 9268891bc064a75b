#include "server/tokenizer/bpe_model.h"

#include <queue>

#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/tokenizer/byte_level.h"

namespace strata::server {
namespace {

using Json = nlohmann::json;

bool IsNullOrEmptyString(const Json& j) {
  return j.is_null() || (j.is_string() && j.get<std::string>().empty());
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const Json& model) {
  if (!model.is_object())
    return absl::InvalidArgumentError("tokenizer.json: model is not an object");
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer.json: unsupported model type '", type, "' (only BPE)"));
  }
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0)) {
    return absl::InvalidArgumentError("tokenizer.json: BPE dropout is not supported");
  }
  if (model.value("byte_fallback", false)) {
    return absl::InvalidArgumentError("tokenizer.json: BPE byte_fallback is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !IsNullOrEmptyString(model[key])) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer.json: BPE ", key, " is not supported"));
    }
  }
  const auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) {
    return absl::InvalidArgumentError("tokenizer.json: model.vocab is missing or not an object");
  }

  auto bpe = std::unique_ptr<BpeModel>(new BpeModel());
  bpe->vocab_.reserve(vocab_it->size());
  for (const auto& [token, id] : vocab_it->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer.json: bad id for vocabulary entry '", token, "'"));
    }
    const int32_t value = id.get<int32_t>();
    bpe->vocab_[token] = value;
    if (std::optional<std::string> raw = byte_level::Decode(token)) {
      bpe->raw_vocab_[*raw] = value;
    }
  }
  for (int b = 0; b < 256; ++b) {
    const std::string spelled = byte_level::Encode(std::string(1, static_cast<char>(b)));
    const auto it = bpe->vocab_.find(spelled);
    bpe->byte_ids_[b] = it == bpe->vocab_.end() ? -1 : it->second;
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto it = bpe->vocab_.find(model["unk_token"].get<std::string>());
    if (it == bpe->vocab_.end()) {
      return absl::InvalidArgumentError("tokenizer.json: unk_token is not in the vocabulary");
    }
    bpe->unk_id_ = it->second;
    bpe->fuse_unk_ = model.value("fuse_unk", false);
  }
  bpe->ignore_merges_ = model.value("ignore_merges", false);

  const auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) {
    return absl::InvalidArgumentError("tokenizer.json: model.merges is missing or not an array");
  }
  bpe->merges_.reserve(merges_it->size());
  int32_t rank = 0;
  for (const Json& merge : *merges_it) {
    std::string left, right;
    if (merge.is_string()) {
      // "a b": byte-level tokens never contain a plain space.
      const std::string s = merge.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("tokenizer.json: merge ", rank, " is not two tokens: '", s, "'"));
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer.json: merge ", rank, " is neither \"a b\" nor [\"a\", \"b\"]"));
    }
    const auto l = bpe->vocab_.find(left);
    const auto r = bpe->vocab_.find(right);
    const auto m = bpe->vocab_.find(left + right);
    if (l == bpe->vocab_.end() || r == bpe->vocab_.end() || m == bpe->vocab_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge ", rank, " ('", left,
                                                     "', '", right, "') uses unknown tokens"));
    }
    // As in the reference implementation, a repeated pair takes its last rank.
    bpe->merges_[PairKey(l->second, r->second)] = Merge{rank, m->second};
    ++rank;
  }
  return bpe;
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto it = raw_vocab_.find(word); it != raw_vocab_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  if (word.size() == 1) {
    MergeWord(word, ids);
    return;
  }
  if (word.size() > kMaxCachedWordBytes) {
    MergeWord(word, ids);
    return;
  }
  CacheShard& shard = cache_[StringViewHash()(word) % kCacheShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (const auto it = shard.words.find(word); it != shard.words.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids->size();
  MergeWord(word, ids);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.words.size() >= kCacheShardCapacity) shard.words.clear();
  shard.words.emplace(word, std::vector<int32_t>(ids->begin() + first, ids->end()));
}

void BpeModel::MergeWord(std::string_view word, std::vector<int32_t>* ids) const {
  // Symbols form a doubly linked list over the initial one-byte symbols; a merge folds the
  // right symbol into the left one. Candidate merges wait in a min-heap ordered by (rank,
  // position) and are re-validated when popped, as in the reference implementation.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  bool last_was_unk = false;
  for (char ch : word) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(ch)];
    if (id >= 0) {
      symbols.push_back({id, 0, 0});
      last_was_unk = false;
    } else if (unk_id_.has_value() && !(fuse_unk_ && last_was_unk)) {
      symbols.push_back({*unk_id_, 0, 0});
      last_was_unk = true;
    }
    // Without an unk token, bytes missing from the vocabulary are dropped (as upstream does).
  }
  const int32_t n = static_cast<int32_t>(symbols.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < n ? i + 1 : -1;
  }

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t left_id;
    int32_t right_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    const auto it = merges_.find(PairKey(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) {
      queue.push({it->second.rank, pos, symbols[pos].id, symbols[next].id});
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);

  std::vector<bool> dead(n, false);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    if (dead[c.pos]) continue;
    const int32_t next = symbols[c.pos].next;
    if (next < 0 || symbols[c.pos].id != c.left_id || symbols[next].id != c.right_id) continue;
    symbols[c.pos].id = merges_.find(PairKey(c.left_id, c.right_id))->second.new_id;
    dead[next] = true;
    symbols[c.pos].next = symbols[next].next;
    if (symbols[next].next >= 0) symbols[symbols[next].next].prev = c.pos;
    if (symbols[c.pos].prev >= 0) consider(symbols[c.pos].prev);
    consider(c.pos);
  }
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) ids->push_back(symbols[i].id);
}

}  // namespace strata::server
