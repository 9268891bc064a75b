#include "scheduler/engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "scheduler/step_planner.h"

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
      eos_token_ids_(worker->model_config().eos_token_ids),
      kv_(worker->memory().num_kv_blocks, worker->memory().block_size) {}

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
  const int64_t blocks = kv_.BlocksFor(prompt + request.max_tokens);
  if (blocks > kv_.pool().num_blocks()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request needs ", blocks, " KV blocks but the cache has only ",
                     kv_.pool().num_blocks(), "; it can never be served"));
  }
  auto seq = std::make_unique<Sequence>();
  seq->tokens = request.prompt_tokens;
  seq->arrival = next_arrival_++;
  seq->request = std::move(request);
  const RequestId id = seq->request.id;
  sequences_.emplace(id, std::move(seq));
  waiting_.push_back(id);
  return absl::OkStatus();
}

bool Engine::Abort(RequestId id) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return false;
  kv_.Free(id);
  std::erase(running_, id);
  std::erase(waiting_, id);
  sequences_.erase(it);
  return true;
}

void Engine::Preempt(RequestId id) {
  // Recompute: drop the cache and start over from the prompt plus what was generated.
  kv_.Free(id);
  sequences_.at(id)->computed = 0;
  std::erase(running_, id);
  waiting_.push_front(id);
  ++stats_.preemptions;
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
  return FinishReason::kNone;
}

absl::StatusOr<std::vector<RequestOutput>> Engine::Step() {
  auto state = [&](RequestId id) {
    const Sequence& s = *sequences_.at(id);
    return SequenceState{
        id,         s.request.priority,
        s.arrival,  static_cast<int64_t>(s.tokens.size()),
        s.computed, kv_.Contains(id) ? static_cast<int32_t>(kv_.BlockTable(id).size()) : 0};
  };
  std::vector<SequenceState> running, waiting;
  for (RequestId id : running_) running.push_back(state(id));
  for (RequestId id : waiting_) waiting.push_back(state(id));
  const PlannerLimits limits{kv_.block_size(), kv_.pool().free_count(), options_.max_num_seqs,
                             options_.max_batch_tokens};
  const StepPlan plan = PlanStep(std::move(running), std::move(waiting), limits);
  for (RequestId id : plan.preempted) Preempt(id);
  newly_started_.clear();
  for (RequestId id : plan.admitted) {
    std::erase(waiting_, id);
    running_.push_back(id);
    Sequence& seq = *sequences_.at(id);
    if (!seq.started) newly_started_.push_back(id);
    seq.started = true;
  }

  // Reserve blocks, then describe the batch to the worker.
  std::vector<worker::SequenceWork> batch;
  for (const ScheduledChunk& chunk : plan.chunks) {
    Sequence& seq = *sequences_.at(chunk.id);
    const bool completes =
        seq.computed + chunk.num_tokens == static_cast<int64_t>(seq.tokens.size());
    STRATA_CHECK(kv_.Append(chunk.id, chunk.num_tokens, nullptr))
        << "planner scheduled more blocks than are free";
    worker::SequenceWork work;
    work.slice.tokens =
        std::span<const int32_t>(seq.tokens).subspan(seq.computed, chunk.num_tokens);
    work.slice.start_position = seq.computed;
    work.slice.block_table = kv_.BlockTable(chunk.id);
    work.slice.logits = completes ? worker::LogitsMode::kLast : worker::LogitsMode::kNone;
    work.sample = completes;
    work.params = &seq.request.sampling;
    work.prompt_tokens = seq.request.prompt_tokens;
    work.output_tokens =
        std::span<const int32_t>(seq.tokens).subspan(seq.request.prompt_tokens.size());
    work.sample_step = seq.generated();
    batch.push_back(work);
  }
  std::vector<RequestOutput> outputs;
  if (batch.empty()) return outputs;
  absl::StatusOr<std::vector<worker::SampledToken>> sampled = worker_->Execute(batch);
  if (!sampled.ok()) return sampled.status();
  ++stats_.steps;

  size_t next_sample = 0;
  for (const ScheduledChunk& chunk : plan.chunks) {
    Sequence& seq = *sequences_.at(chunk.id);
    const bool was_prompt = seq.computed < static_cast<int64_t>(seq.request.prompt_tokens.size());
    if (was_prompt) stats_.prompt_tokens_computed += chunk.num_tokens;
    seq.computed += chunk.num_tokens;
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
    if (out.finish != FinishReason::kNone) Abort(chunk.id);
    outputs.push_back(std::move(out));
  }
  return outputs;
}

}  // namespace strata::scheduler
