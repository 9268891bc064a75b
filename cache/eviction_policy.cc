#include "cache/eviction_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace strata::cache {
namespace {

int64_t CapTokens(const BudgetView& v) { return int64_t{v.cap_blocks} * v.block_size; }

int32_t BlocksFor(int64_t tokens, int32_t block_size) {
  return static_cast<int32_t>((tokens + block_size - 1) / block_size);
}

class NoEviction : public EvictionPolicy {
 public:
  std::string_view name() const override { return "none"; }
  int64_t MinBudgetTokens(int32_t block_size) const override { return 1; }
  int64_t MaxChunk(const BudgetView& v) const override {
    return std::max<int64_t>(CapTokens(v) - v.resident_tokens, 0);
  }
  BudgetAction MakeRoom(const BudgetView& v, int64_t new_tokens) const override {
    return {.finish = v.resident_tokens + new_tokens > CapTokens(v)};
  }
};

class StreamingEviction : public EvictionPolicy {
 public:
  explicit StreamingEviction(int64_t sink_tokens) : sink_tokens_(sink_tokens) {}
  std::string_view name() const override { return "streaming"; }
  int64_t MinBudgetTokens(int32_t block_size) const override {
    return int64_t{SinkBlocks(block_size) + 2} * block_size;
  }
  int64_t MaxChunk(const BudgetView& v) const override {
    return CapTokens(v) - (v.resident_tokens - int64_t{Droppable(v)} * v.block_size);
  }
  BudgetAction MakeRoom(const BudgetView& v, int64_t new_tokens) const override {
    const int32_t over = BlocksFor(v.resident_tokens + new_tokens, v.block_size) - v.cap_blocks;
    if (over <= 0) return {};
    if (over > Droppable(v)) return {.finish = true};
    return {.drop_first = SinkBlocks(v.block_size), .drop_count = over};
  }

 private:
  int32_t SinkBlocks(int32_t block_size) const { return BlocksFor(sink_tokens_, block_size); }
  // Blocks between the sinks and the last block (the last one is never dropped).
  int32_t Droppable(const BudgetView& v) const {
    return std::max(v.held_blocks - 1 - SinkBlocks(v.block_size), 0);
  }
  int64_t sink_tokens_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(
    std::string_view name, const EvictionPolicyParams& params) {
  if (name == "none") return std::make_unique<NoEviction>();
  if (name == "streaming") {
    if (params.streaming_sink_tokens < 0) {
      return absl::InvalidArgumentError("streaming sink tokens must be >= 0");
    }
    return std::make_unique<StreamingEviction>(params.streaming_sink_tokens);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown KV eviction policy \"", std::string(name),
                                                 "\"; supported: none, streaming"));
}

}  // namespace strata::cache
