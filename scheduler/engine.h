// The engine core: owns every request's state and the KV block bookkeeping, and runs one
// continuous-batching iteration per Step(): plan (scheduler/step_planner.h), execute on the
// worker, apply the sampled tokens. Single-threaded by contract: one thread (the engine
// thread) calls every method; there are no locks inside.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cache/eviction_policy.h"
#include "cache/kv_cache_manager.h"
#include "scheduler/request.h"
#include "scheduler/step_planner.h"
#include "worker/worker.h"

namespace strata::scheduler {

enum class PreemptionMode { kRecompute, kSwap };

struct EngineOptions {
  int32_t max_num_seqs = 64;
  int32_t max_batch_tokens = 4096;
  int64_t max_model_len = 0;  // 0: the model's max_position_embeddings
  PreemptionMode preemption = PreemptionMode::kRecompute;
  bool prefix_caching = false;
  std::string eviction_policy = "none";  // default for requests that name none
  int64_t default_kv_budget_tokens = 0;  // 0: unlimited
  int64_t streaming_sink_tokens = 4;
  PrefillMode prefill_mode = PrefillMode::kChunked;
  LayeredOptions layered;  // layer groups of a layered-prefill cohort
  int64_t prefill_cost_context = 0;  // PlannerLimits::cost_context (PromptChunkCost)
  int64_t heavy_hitter_recent_tokens = 64;
  int64_t adaptive_sink_tokens = 4;     // adaptive_precision: full-precision sinks
  int64_t adaptive_recent_tokens = 64;  // adaptive_precision: full-precision recent window
};

struct EngineStats {
  int64_t steps = 0;
  int64_t preemptions = 0;       // both kinds
  int64_t swap_preemptions = 0;  // of those, by swapping out
  int64_t prompt_tokens_computed = 0;
  int64_t generated_tokens = 0;
  // Requests admitted with a fork of their leader's prompt K/V (Request::share_prompt_with)
  // and the prompt tokens they did not compute for it.
  int64_t prompt_forks = 0;
  int64_t prompt_tokens_shared = 0;
  // Of those, forks given back before admission (memory pressure): they prefilled alone.
  int64_t prompt_forks_released = 0;
};

class Engine {
 public:
  // `worker` outlives the engine. The KV pool mirrors the worker's cache.
  Engine(worker::Worker* worker, const EngineOptions& options);

  int64_t max_model_len() const { return max_model_len_; }

  // Queues a request. InvalidArgument for an empty prompt, a duplicate id, out-of-vocabulary
  // tokens, prompt + max_tokens beyond max_model_len, an unknown eviction policy, or a KV
  // budget the policy cannot work with (or, for "none", smaller than the prompt);
  // ResourceExhausted when the request could never fit in the KV cache even alone.
  absl::Status AddRequest(Request request);
  // Drops a request wherever it is; its blocks are freed at once. Returns false if unknown.
  bool Abort(RequestId id);

  bool HasWork() const { return !running_.empty() || !waiting_.empty(); }
  size_t num_running() const { return running_.size(); }
  size_t num_waiting() const { return waiting_.size(); }
  const cache::KvCacheManager& kv_cache() const { return kv_; }
  const EngineStats& stats() const { return stats_; }
  // Requests that started running (first admission, not re-admission) in the last Step().
  const std::vector<RequestId>& newly_started() const { return newly_started_; }

  // One iteration. Returns the new tokens and finishes of this step.
  absl::StatusOr<std::vector<RequestOutput>> Step();

  // Empty when the cache bookkeeping is consistent and no sequence holds more resident KV
  // than its budget; otherwise the first violation. Checked after every step in debug
  // builds.
  std::string CheckInvariants() const;

 private:
  struct Sequence {
    Request request;
    std::vector<int32_t> tokens;  // prompt then generated
    int64_t computed = 0;         // tokens whose K/V were computed (resident or dropped)
    int64_t arrival = 0;
    bool started = false;
    // Request::share_prompt_with may still be acted on: not started, no fork tried yet.
    // While it stays open the request waits for its leader's prefill (not planned).
    bool share_open = false;
    int32_t cap_blocks = 0;  // KV budget in blocks; 0: none
    const cache::EvictionPolicy* policy = nullptr;
    // Layered prefill: tokens [computed, computed + cohort_tokens) have their K/V written
    // up to layer group cohort_next_group of cohort_groups (0: no chunk in flight); their
    // K/V slots are the last cohort_tokens of the table (reserved when the cohort formed).
    int64_t cohort_tokens = 0;
    int32_t cohort_groups = 0;
    int32_t cohort_next_group = 0;
    // Policies that score blocks: per table index, the attention mass the worker
    // accumulated and the steps it was scored in (compacted with the table on drops).
    std::vector<float> block_mass;
    std::vector<int32_t> block_steps;
    // Policies that quantize: the block ids this step's slice converts to int8, the
    // per-layer statistics of the last prompt chunk's last row, and the full-precision
    // share derived from them (cache::FullPrecisionRatio).
    std::vector<int32_t> quantize_now;
    std::vector<float> layer_stats;
    float full_precision_ratio = 0.0f;
    bool quantizing() const { return cap_blocks > 0 && policy->quantizes(); }
    int32_t generated() const {
      return static_cast<int32_t>(tokens.size() - request.prompt_tokens.size());
    }
  };

  FinishReason CheckFinished(const Sequence& seq, int32_t token) const;
  void Preempt(RequestId id, bool swap);
  SequenceState State(RequestId id) const;
  cache::BudgetView Budget(RequestId id) const;
  // Applies the policy's choice: quantizes (remembering the block ids for the worker), then
  // drops from the table and from the block scores alike.
  void ApplyBudgetAction(RequestId id, const cache::BudgetAction& action);
  // The budget cost of a sequence's resident blocks (full_block_bytes_ units when it does
  // not quantize).
  int64_t BudgetCost(RequestId id) const;
  // Starts this step's block copies; waits for them when no forward pass follows.
  absl::Status MoveBlocks(bool forward_pass_follows);
  // Waiting followers (Request::share_prompt_with) whose leader has computed all of their
  // prompt but its last token, with its blocks on the device: forked from it, they stay in
  // the queue holding the shared blocks and compute only the last prompt token once
  // admitted (a step that preempts makes them give the blocks back first). A follower whose leader is still prefilling (or not yet started) keeps
  // waiting; any other case closes the share and the follower prefills as usual.
  void SharePrompts();
  // Why `follower` cannot fork `leader`'s prompt, or empty when it may.
  std::string ShareRefusal(const Sequence& follower, const Sequence& leader) const;

  worker::Worker* worker_;
  EngineOptions options_;
  int64_t max_model_len_;
  int32_t num_layers_;
  // The budget cost of a full-precision and of an int8 device block (bytes; the latter 0
  // when the worker cannot quantize).
  int64_t full_block_bytes_;
  int64_t quantized_block_bytes_;
  std::vector<int32_t> eos_token_ids_;
  cache::KvCacheManager kv_;
  std::map<std::string, std::unique_ptr<cache::EvictionPolicy>, std::less<>> policies_;
  std::map<RequestId, std::unique_ptr<Sequence>> sequences_;
  std::vector<RequestId> running_;
  std::deque<RequestId> waiting_;
  int64_t next_arrival_ = 0;
  std::vector<RequestId> newly_started_;
  EngineStats stats_;
  // When the last forward pass's step returned; the debug line's "since" is measured from
  // it (the caller's delivery and waiting between two steps).
  std::optional<std::chrono::steady_clock::time_point> last_step_end_;
};

}  // namespace strata::scheduler
