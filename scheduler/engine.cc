#include "scheduler/engine.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace strata::scheduler {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAborted:
      return "abort";
  }
  return "?";
}

Engine::Engine(worker::Worker* worker, const EngineOptions& options)
    : worker_(worker),
      options_(options),
      max_model_len_(options.max_model_len > 0 ? options.max_model_len
                                               : worker->model_config().max_position_embeddings),
      num_layers_(static_cast<int32_t>(worker->model_config().num_hidden_layers)),
      full_block_bytes_(worker->memory().num_kv_blocks > 0
                            ? worker->memory().kv_cache_bytes / worker->memory().num_kv_blocks
                            : 1),
      quantized_block_bytes_(worker->memory().quantized_kv_block_bytes),
      eos_token_ids_(worker->model_config().eos_token_ids),
      kv_(cache::KvCacheOptions{worker->memory().block_size, worker->memory().num_kv_blocks,
                                worker->memory().num_host_kv_blocks, options.prefix_caching}) {
  for (const char* name : {"none", "streaming", "heavy_hitter", "adaptive_precision"}) {
    auto policy = cache::MakeEvictionPolicy(
        name, {.streaming_sink_tokens = options.streaming_sink_tokens,
               .heavy_hitter_recent_tokens = options.heavy_hitter_recent_tokens,
               .adaptive_sink_tokens = options.adaptive_sink_tokens,
               .adaptive_recent_tokens = options.adaptive_recent_tokens});
    STRATA_CHECK(policy.ok()) << policy.status();
    policies_.emplace(name, std::move(*policy));
  }
  STRATA_CHECK(policies_.contains(options.eviction_policy))
      << "unknown eviction policy " << options.eviction_policy;
}

absl::Status Engine::AddRequest(Request request) {
  const int64_t prompt = request.prompt_tokens.size();
  if (prompt == 0) return absl::InvalidArgumentError("the prompt is empty");
  if (sequences_.contains(request.id)) {
    return absl::InvalidArgumentError(absl::StrCat("duplicate request id ", request.id));
  }
  if (request.max_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be at least 1, got ", request.max_tokens));
  }
  const int64_t vocab = worker_->model_config().vocab_size;
  for (int32_t token : request.prompt_tokens) {
    if (token < 0 || token >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt token id ", token, " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  if (prompt + request.max_tokens > max_model_len_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt (", prompt, " tokens) plus max_tokens (", request.max_tokens,
                     ") exceeds the model's context length of ", max_model_len_, " tokens"));
  }
  const std::string& policy_name =
      request.eviction_policy.empty() ? options_.eviction_policy : request.eviction_policy;
  auto policy = policies_.find(policy_name);
  if (policy == policies_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown KV eviction policy \"", policy_name,
                                                   "\"; supported: ",
                                                   cache::SupportedEvictionPolicies()));
  }
  const int64_t budget = request.kv_budget_tokens > 0 ? request.kv_budget_tokens
                                                      : options_.default_kv_budget_tokens;
  const int32_t cap_blocks = budget > 0 ? kv_.BlocksFor(budget) : 0;
  if (budget > 0) {
    const int64_t minimum = policy->second->MinBudgetTokens(kv_.block_size());
    if (budget < minimum) {
      return absl::InvalidArgumentError(absl::StrCat("kv_budget_tokens ", budget,
                                                     " is below the minimum of ", minimum,
                                                     " for eviction policy ", policy_name));
    }
    if (policy->second->quantizes() &&
        (quantized_block_bytes_ <= 0 || quantized_block_bytes_ >= full_block_bytes_)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "eviction policy ", policy_name,
          " needs int8 KV blocks smaller than full ones, which this worker does not report; "
          "use none, streaming or heavy_hitter"));
    }
    if (policy_name == "none" && prompt > int64_t{cap_blocks} * kv_.block_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the prompt (", prompt, " tokens) exceeds kv_budget_tokens (", budget,
                       ") and eviction policy none keeps every token"));
    }
  }
  int64_t blocks = kv_.BlocksFor(prompt + request.max_tokens);
  if (cap_blocks > 0) {
    // Quantized blocks cost less of the budget, so more of them fit under it.
    const int64_t held = policy->second->quantizes()
                             ? int64_t{cap_blocks} * full_block_bytes_ / quantized_block_bytes_
                             : cap_blocks;
    blocks = std::min<int64_t>(blocks, held);
  }
  if (blocks > kv_.pool().num_blocks()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request needs ", blocks, " KV blocks but the cache has only ",
                     kv_.pool().num_blocks(), "; it can never be served"));
  }
  auto seq = std::make_unique<Sequence>();
  seq->tokens = request.prompt_tokens;
  seq->arrival = next_arrival_++;
  seq->cap_blocks = cap_blocks;
  seq->policy = policy->second.get();
  seq->share_open = request.share_prompt_with.has_value() && *request.share_prompt_with != request.id;
  seq->request = std::move(request);
  const RequestId id = seq->request.id;
  sequences_.emplace(id, std::move(seq));
  waiting_.push_back(id);
  return absl::OkStatus();
}

bool Engine::Abort(RequestId id) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return false;
  if (it->second->cohort_groups > 0) worker_->DiscardCarried(id);
  kv_.Free(id);
  std::erase(running_, id);
  std::erase(waiting_, id);
  sequences_.erase(it);
  return true;
}

void Engine::Preempt(RequestId id, bool swap) {
  if (swap) {
    // Swap: the blocks move to the host tier; it resumes where it stopped.
    STRATA_CHECK(kv_.SwapOut(id)) << "the planner swapped out more than the host tier holds";
    ++stats_.swap_preemptions;
  } else {
    // Recompute: drop the cache and start over from the prompt plus what was generated
    // (prefix-cached blocks of it may still be reused).
    kv_.Free(id);
    Sequence& seq = *sequences_.at(id);
    seq.computed = 0;
    seq.block_mass.clear();
    seq.block_steps.clear();
    seq.full_precision_ratio = 0.0f;
  }
  std::erase(running_, id);
  waiting_.push_front(id);
  ++stats_.preemptions;
}

cache::BudgetView Engine::Budget(RequestId id) const {
  const Sequence& s = *sequences_.at(id);
  const bool held = kv_.Contains(id);
  cache::BudgetView view;
  view.block_size = kv_.block_size();
  view.cap_blocks = s.cap_blocks;
  view.held_blocks = held ? static_cast<int32_t>(kv_.BlockTable(id).size()) : 0;
  view.resident_tokens = kv_.NumTokens(id);
  view.block_mass = s.block_mass;
  view.block_steps = s.block_steps;
  if (s.quantizing()) {
    if (held) view.block_precision = kv_.BlockPrecision(id);
    view.quantized_blocks = kv_.QuantizedBlocks(id);
    view.full_block_cost = full_block_bytes_;
    view.quantized_block_cost = quantized_block_bytes_;
    view.full_precision_ratio = s.full_precision_ratio;
  }
  return view;
}

int64_t Engine::BudgetCost(RequestId id) const {
  const Sequence& s = *sequences_.at(id);
  const int64_t blocks = kv_.BlockTable(id).size();
  if (!s.quantizing()) return blocks * full_block_bytes_;
  const int64_t int8 = kv_.QuantizedBlocks(id);
  return (blocks - int8) * full_block_bytes_ + int8 * quantized_block_bytes_;
}

void Engine::ApplyBudgetAction(RequestId id, const cache::BudgetAction& action) {
  Sequence& s = *sequences_.at(id);
  if (!action.quantize.empty()) {
    const std::span<const cache::BlockId> table = kv_.BlockTable(id);
    for (int32_t i : action.quantize) s.quantize_now.push_back(table[i]);
    kv_.QuantizeBlocks(id, action.quantize);
  }
  const std::span<const int32_t> drop = action.drop;
  if (drop.empty()) return;
  kv_.DropBlocks(id, drop);
  auto compact = [&](auto& scores) {
    if (scores.empty()) return;
    size_t next_drop = 0, out = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (next_drop < drop.size() && static_cast<size_t>(drop[next_drop]) == i) {
        ++next_drop;
      } else {
        scores[out++] = scores[i];
      }
    }
    scores.resize(out);
  };
  compact(s.block_mass);
  compact(s.block_steps);
}

SequenceState Engine::State(RequestId id) const {
  const Sequence& s = *sequences_.at(id);
  const int64_t dropped = kv_.DroppedTokens(id);
  const bool on_device = kv_.Contains(id) && kv_.residence(id) == cache::Tier::kDevice;
  SequenceState state{id,
                      s.request.priority,
                      s.arrival,
                      static_cast<int64_t>(s.tokens.size()) - dropped,
                      s.computed - dropped,
                      on_device ? static_cast<int32_t>(kv_.BlockTable(id).size()) : 0,
                      kv_.FreeableBlocks(id)};
  if (s.cap_blocks > 0) state.max_chunk = s.policy->MaxChunk(Budget(id));
  state.cohort_tokens = s.cohort_tokens;
  state.cohort_groups = s.cohort_groups;
  state.cohort_next_group = s.cohort_next_group;
  return state;
}

absl::Status Engine::MoveBlocks(bool forward_pass_follows) {
  const cache::CopyBatch copies = kv_.TakeCopies();
  if (copies.empty()) return absl::OkStatus();
  auto convert = [](const std::vector<cache::BlockCopy>& in) {
    std::vector<worker::KvBlockCopy> out;
    out.reserve(in.size());
    for (const cache::BlockCopy& c : in) {
      STRATA_CHECK(c.from == cache::Tier::kDevice || c.to == cache::Tier::kDevice)
          << "a host -> host block copy";
      const worker::KvCopyDirection direction =
          c.from == cache::Tier::kHost  ? worker::KvCopyDirection::kHostToDevice
          : c.to == cache::Tier::kHost ? worker::KvCopyDirection::kDeviceToHost
                                       : worker::KvCopyDirection::kDeviceToDevice;
      out.push_back({direction, c.src, c.dst});
    }
    return out;
  };
  STRATA_RETURN_IF_ERROR(
      worker_->StartCopies(convert(copies.before_compute), convert(copies.overlapped)));
  if (!forward_pass_follows) STRATA_RETURN_IF_ERROR(worker_->WaitForCopies());
  return absl::OkStatus();
}

std::string Engine::CheckInvariants() const {
  if (std::string e = kv_.CheckInvariants(); !e.empty()) return e;
  if (kv_.CopyOnWriteReserve() > kv_.pool().available()) {
    return absl::StrCat("copy-on-write may need ", kv_.CopyOnWriteReserve(),
                        " device blocks but only ", kv_.pool().available(), " are available");
  }
  for (const auto& [id, seq] : sequences_) {
    if (seq->cap_blocks > 0 && kv_.Contains(id) &&
        BudgetCost(id) > int64_t{seq->cap_blocks} * full_block_bytes_) {
      return absl::StrCat("request ", id, " holds ", kv_.BlockTable(id).size(), " blocks (",
                          kv_.QuantizedBlocks(id), " int8) costing ", BudgetCost(id),
                          " bytes, over its budget of ", seq->cap_blocks, " blocks (",
                          int64_t{seq->cap_blocks} * full_block_bytes_, " bytes)");
    }
  }
  return "";
}

std::string Engine::ShareRefusal(const Sequence& follower, const Sequence& leader) const {
  const int64_t shared = static_cast<int64_t>(follower.request.prompt_tokens.size()) - 1;
  if (shared < 1) return "a one-token prompt has nothing to share";
  if (follower.request.prompt_tokens != leader.request.prompt_tokens) return "the prompts differ";
  if (follower.request.cache_salt != leader.request.cache_salt) return "the cache salts differ";
  if (follower.quantizing() || leader.quantizing()) {
    return "int8 blocks change in place and are never shared";
  }
  if (follower.cap_blocks > 0 && shared > int64_t{follower.cap_blocks - 1} * kv_.block_size()) {
    return "the shared prompt leaves no room under the KV budget";
  }
  return "";
}

void Engine::SharePrompts() {
  for (RequestId id : waiting_) {
    Sequence& follower = *sequences_.at(id);
    if (!follower.share_open) continue;
    auto it = sequences_.find(*follower.request.share_prompt_with);
    if (follower.started || kv_.Contains(id) || it == sequences_.end()) {
      follower.share_open = false;  // the leader is gone: prefill alone
      continue;
    }
    const Sequence& leader = *it->second;
    if (std::string why = ShareRefusal(follower, leader); !why.empty()) {
      STRATA_LOG(kDebug) << "request " << id << " prefills its prompt alone: " << why;
      follower.share_open = false;
      continue;
    }
    if (std::ranges::find(running_, leader.request.id) == running_.end()) {
      // Not started yet: wait for its prefill. Started, yet waiting: it was preempted.
      if (leader.started) follower.share_open = false;
      continue;
    }
    const int64_t shared = static_cast<int64_t>(follower.request.prompt_tokens.size()) - 1;
    if (leader.cohort_groups > 0 || leader.computed < shared) continue;  // still prefilling
    follower.share_open = false;
    const cache::ForkResult result = kv_.Fork(leader.request.id, id, shared);
    if (result != cache::ForkResult::kForked) {
      STRATA_LOG(kDebug) << "request " << id << " prefills its prompt alone: "
                         << cache::ForkResultName(result);
      continue;
    }
    // Its first token's K/V lands in a private copy of the shared partial block: keep a
    // free block for every copy that may come.
    if (kv_.CopyOnWriteReserve() > kv_.pool().available()) {
      kv_.Free(id);
      STRATA_LOG(kDebug) << "request " << id
                         << " prefills its prompt alone: no block free for its copy";
      continue;
    }
    follower.computed = shared;
    ++stats_.prompt_forks;
    stats_.prompt_tokens_shared += shared;
  }
}

FinishReason Engine::CheckFinished(const Sequence& seq, int32_t token) const {
  const Request& r = seq.request;
  if (!r.ignore_eos && std::ranges::find(eos_token_ids_, token) != eos_token_ids_.end()) {
    return FinishReason::kStop;
  }
  if (std::ranges::find(r.stop_token_ids, token) != r.stop_token_ids.end()) {
    return FinishReason::kStop;
  }
  if (seq.generated() >= r.max_tokens) return FinishReason::kLength;
  if (static_cast<int64_t>(seq.tokens.size()) >= max_model_len_) return FinishReason::kLength;
  // The KV budget: the policy cannot make room for the new token's K/V.
  if (seq.cap_blocks > 0 && seq.policy->MustFinish(Budget(seq.request.id), 1)) {
    return FinishReason::kLength;
  }
  return FinishReason::kNone;
}

namespace {

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// One debug line per iteration: what ran and where its time went (the caller's time
// since the previous forward pass's step returned, -1 for the first; planning and batch
// building before the forward pass, the worker's Execute, bookkeeping after it).
void LogIteration(std::span<const worker::SequenceWork> batch, int32_t num_layers, double since_ms,
                  double plan_ms, double execute_ms, double after_ms) {
  int64_t decodes = 0, prefill_tokens = 0, longest_context = 0, longest_decode = 0;
  std::string prefills;
  for (const worker::SequenceWork& work : batch) {
    const worker::SequenceSlice& slice = work.slice;
    const auto n = static_cast<int64_t>(slice.tokens.size());
    longest_context = std::max(longest_context, slice.start_position + n);
    const bool all_layers = slice.layer_begin == 0 && slice.layer_end >= num_layers;
    // A decode's one token is an output token; a prompt's last token alone is prefill.
    const bool output_token = slice.start_position >= std::ssize(work.prompt_tokens);
    if (n == 1 && all_layers && output_token) {
      ++decodes;
      longest_decode = std::max(longest_decode, slice.start_position + 1);
      continue;
    }
    prefill_tokens += n;
    absl::StrAppend(&prefills, prefills.empty() ? "" : ", ", n, "@", slice.start_position);
    if (!all_layers) {
      absl::StrAppend(&prefills, " layers [", slice.layer_begin, ", ", slice.layer_end, ")");
    }
  }
  STRATA_LOG(kDebug) << "iteration: " << decodes << " decodes, " << prefill_tokens
                     << " prefill tokens (" << prefills << "), longest context " << longest_context
                     << ", longest decode context " << longest_decode << "; plan " << plan_ms
                     << " ms, execute " << execute_ms << " ms, after " << after_ms
                     << " ms; since the previous step " << since_ms << " ms";
}

}  // namespace

absl::StatusOr<std::vector<RequestOutput>> Engine::Step() {
  const auto step_start = std::chrono::steady_clock::now();
  SharePrompts();
  std::vector<SequenceState> running, waiting;
  for (RequestId id : running_) running.push_back(State(id));
  for (RequestId id : waiting_) {
    if (!sequences_.at(id)->share_open) waiting.push_back(State(id));  // else: its leader's prefill first
  }
  // Blocks that copy-on-write may take are not the planner's to give (it counts blocks
  // from table sizes).
  const PlannerLimits limits{kv_.block_size(),
                             std::max(kv_.pool().available() - kv_.CopyOnWriteReserve(), 0),
                             options_.max_num_seqs,
                             options_.max_batch_tokens,
                             options_.preemption == PreemptionMode::kSwap,
                             kv_.pool(cache::Tier::kHost).available(),
                             options_.prefill_mode,
                             num_layers_,
                             options_.layered,
                             options_.prefill_cost_context};
  StepPlan plan = PlanStep(std::move(running), std::move(waiting), limits);
  for (RequestId id : plan.swapped_out) Preempt(id, /*swap=*/true);
  for (RequestId id : plan.preempted) Preempt(id, /*swap=*/false);
  if (!plan.preempted.empty() || !plan.swapped_out.empty()) {
    // Under pressure a forked follower still in the queue gives its blocks back (a waiting
    // sequence is never a victim, so it must not pin memory a running one needs): it
    // prefills alone once admitted. Nothing is admitted in such a step.
    for (RequestId id : waiting_) {
      if (kv_.Contains(id) && kv_.residence(id) == cache::Tier::kDevice) {
        kv_.Free(id);
        sequences_.at(id)->computed = 0;
        ++stats_.prompt_forks_released;
      }
    }
  }
  newly_started_.clear();
  for (RequestId id : plan.admitted) {
    std::erase(waiting_, id);
    running_.push_back(id);
    Sequence& seq = *sequences_.at(id);
    if (!seq.started) newly_started_.push_back(id);
    seq.started = true;
    if (kv_.Contains(id) && kv_.residence(id) == cache::Tier::kHost) {
      STRATA_CHECK(kv_.SwapIn(id)) << "the planner admitted a swapped sequence without room";
    } else if (kv_.Contains(id)) {
      // Forked from its leader's prompt (SharePrompts): only the last prompt token is left.
    } else {
      // Reuse cached prefix blocks; at least the last token is computed, for its logits,
      // and a budgeted request keeps room for it under its cap.
      int64_t limit = static_cast<int64_t>(seq.tokens.size()) - 1;
      if (seq.cap_blocks > 0) limit = std::min<int64_t>(limit, (seq.cap_blocks - 1) * kv_.block_size());
      // A quantizing sequence neither shares nor offers prefix blocks: its blocks change
      // in place.
      seq.computed = seq.quantizing() ? 0
                                      : kv_.MatchPrefix(id, seq.tokens,
                                                        cache::RootKey(seq.request.cache_salt),
                                                        limit);
    }
  }

  // Make room under each budget, reserve blocks, then describe the batch to the worker.
  std::vector<worker::SequenceWork> batch;
  std::vector<ScheduledChunk> chunks;
  for (ScheduledChunk chunk : plan.chunks) {
    Sequence& seq = *sequences_.at(chunk.id);
    seq.quantize_now.clear();
    // A cohort in flight reserved its chunk's slots when it formed: they end its table.
    int64_t resident = kv_.Contains(chunk.id) ? kv_.NumTokens(chunk.id) - seq.cohort_tokens : 0;
    if (chunk.layer_begin == 0) {
      chunk.num_tokens = std::min<int64_t>(chunk.num_tokens,
                                           static_cast<int64_t>(seq.tokens.size()) - seq.computed);
      if (seq.cap_blocks > 0) {
        chunk.num_tokens = std::min(chunk.num_tokens, seq.policy->MaxChunk(Budget(chunk.id)));
        if (chunk.num_tokens <= 0) continue;
        const cache::BudgetAction action =
            seq.policy->MakeRoom(Budget(chunk.id), chunk.num_tokens);
        STRATA_CHECK(!action.finish) << "the planner overran request " << chunk.id << "'s budget";
        ApplyBudgetAction(chunk.id, action);
      }
      resident = kv_.NumTokens(chunk.id);
      STRATA_CHECK(kv_.Append(chunk.id, chunk.num_tokens, nullptr))
          << "planner scheduled more blocks than are free";
      if (chunk.layer_end < num_layers_) {
        STRATA_LOG(kDebug) << "request " << chunk.id << ": " << chunk.num_tokens
                           << " prompt tokens join a layered-prefill cohort of " << chunk.groups
                           << " layer groups";
        seq.cohort_tokens = chunk.num_tokens;
        seq.cohort_groups = chunk.groups;
        seq.cohort_next_group = 0;
      }
    }
    const bool completes = chunk.layer_end >= num_layers_ &&
                           seq.computed + chunk.num_tokens ==
                               static_cast<int64_t>(seq.tokens.size());
    worker::SequenceWork work;
    work.slice.sequence_id = chunk.id;
    work.slice.layer_begin = chunk.layer_begin;
    work.slice.layer_end = chunk.layer_end;
    work.slice.tokens =
        std::span<const int32_t>(seq.tokens).subspan(seq.computed, chunk.num_tokens);
    work.slice.start_position = resident;
    work.slice.position_offset = kv_.DroppedTokens(chunk.id);
    work.slice.block_table = kv_.BlockTable(chunk.id);
    work.slice.logits = completes ? worker::LogitsMode::kLast : worker::LogitsMode::kNone;
    if (seq.cap_blocks > 0 && seq.policy->wants_attention_mass()) {
      seq.block_mass.resize(work.slice.block_table.size(), 0.0f);
      seq.block_steps.resize(work.slice.block_table.size(), 0);
      work.slice.attention_mass = seq.block_mass;
    }
    if (seq.quantizing()) {
      work.slice.block_precision = kv_.BlockPrecision(chunk.id);
      work.slice.quantize_blocks = seq.quantize_now;
      if (seq.computed < static_cast<int64_t>(seq.request.prompt_tokens.size())) {
        seq.layer_stats.resize(3 * num_layers_);
        work.slice.attention_stats = seq.layer_stats;
      }
    }
    work.sample = completes;
    work.params = &seq.request.sampling;
    work.prompt_tokens = seq.request.prompt_tokens;
    work.output_tokens =
        std::span<const int32_t>(seq.tokens).subspan(seq.request.prompt_tokens.size());
    work.sample_step = seq.generated();
    batch.push_back(work);
    chunks.push_back(chunk);
  }
  std::vector<RequestOutput> outputs;
  STRATA_RETURN_IF_ERROR(MoveBlocks(/*forward_pass_follows=*/!batch.empty()));
  if (batch.empty()) {
    kv_.CopiesLanded();
    return outputs;
  }
  const double plan_ms = MillisecondsSince(step_start);
  const auto execute_start = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<worker::SampledToken>> sampled = worker_->Execute(batch);
  if (!sampled.ok()) return sampled.status();
  const double execute_ms = MillisecondsSince(execute_start);
  const auto after_start = std::chrono::steady_clock::now();
  kv_.CopiesLanded();
  ++stats_.steps;

  size_t next_sample = 0;
  std::vector<RequestId> finished;
  for (const ScheduledChunk& chunk : chunks) {
    Sequence& seq = *sequences_.at(chunk.id);
    if (chunk.layer_end < num_layers_) {  // its cohort has layer groups to go
      seq.cohort_next_group += 1;
      continue;
    }
    seq.cohort_groups = 0;
    const bool was_prompt = seq.computed < static_cast<int64_t>(seq.request.prompt_tokens.size());
    if (was_prompt) stats_.prompt_tokens_computed += chunk.num_tokens;
    if (was_prompt && seq.quantizing()) {
      seq.full_precision_ratio = cache::FullPrecisionRatio(seq.layer_stats, kv_.NumTokens(chunk.id));
    }
    seq.computed += chunk.num_tokens;
    for (int32_t& steps : seq.block_steps) ++steps;  // every table entry was just scored
    if (kv_.prefix_caching()) kv_.IndexFullBlocks(chunk.id, seq.tokens);
    if (seq.computed < static_cast<int64_t>(seq.tokens.size())) continue;
    const worker::SampledToken& token = (*sampled)[next_sample++];
    seq.tokens.push_back(token.token);
    ++stats_.generated_tokens;
    RequestOutput out;
    out.id = chunk.id;
    out.tokens.push_back(token);
    out.finish = CheckFinished(seq, token.token);
    out.prompt_tokens = static_cast<int32_t>(seq.request.prompt_tokens.size());
    out.completion_tokens = seq.generated();
    if (out.finish == FinishReason::kLength && seq.cap_blocks > 0 &&
        seq.generated() < seq.request.max_tokens &&
        static_cast<int64_t>(seq.tokens.size()) < max_model_len_) {
      out.finish_detail =
          absl::StrCat("the KV budget of ", int64_t{seq.cap_blocks} * kv_.block_size(),
                       " tokens is full (eviction policy ", std::string(seq.policy->name()), ")");
    }
    if (out.finish != FinishReason::kNone) finished.push_back(chunk.id);
    outputs.push_back(std::move(out));
  }
  // A leader that finished in this very step can still lend its prompt's blocks.
  SharePrompts();
  for (RequestId id : finished) Abort(id);
  if (GetLogLevel() <= LogLevel::kDebug) {
    const double since_ms =
        last_step_end_
            ? std::chrono::duration<double, std::milli>(step_start - *last_step_end_).count()
            : -1.0;
    LogIteration(batch, num_layers_, since_ms, plan_ms, execute_ms, MillisecondsSince(after_start));
  }
  last_step_end_ = std::chrono::steady_clock::now();
#ifndef NDEBUG
  if (std::string e = CheckInvariants(); !e.empty()) STRATA_CHECK(false) << e;
#endif
  return outputs;
}

}  // namespace strata::scheduler
