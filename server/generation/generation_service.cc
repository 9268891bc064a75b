#include "server/generation/generation_service.h"

#include <atomic>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "server/generation/stop_matcher.h"

namespace strata::server {
namespace {

uint64_t FreshSeed() {
  static std::atomic<uint64_t> counter{std::random_device{}() * 0x9e3779b97f4a7c15ull};
  return counter.fetch_add(0x632be59bd9b4e019ull);
}

// Per-generation state, touched only on the engine thread after Start() returns.
struct Stream {
  Stream(const Tokenizer& tokenizer, const GenerationParams& params)
      : decoder(tokenizer, params.skip_special_tokens), stops(params.stop) {}
  IncrementalDecoder decoder;
  StopMatcher stops;
  bool finished = false;
};

}  // namespace

GenerationService::GenerationService(scheduler::EngineLoop* loop, const Tokenizer* tokenizer)
    : loop_(loop), tokenizer_(tokenizer) {}

absl::StatusOr<scheduler::RequestId> GenerationService::Start(GenerationParams params,
                                                              GenerationCallback callback) {
  const int64_t prompt = params.prompt_tokens.size();
  if (prompt == 0) return absl::InvalidArgumentError("the prompt is empty");
  const int64_t vocab = loop_->model_config().vocab_size;
  for (int32_t token : params.prompt_tokens) {
    if (token < 0 || token >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", token, " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  const int64_t context = loop_->max_model_len();
  if (params.max_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be at least 1, got ", params.max_tokens));
  }
  if (params.max_tokens == 0) {
    if (prompt >= context) {
      return absl::InvalidArgumentError(absl::StrCat(
          "This model's maximum context length is ", context, " tokens. However, your prompt is ",
          prompt, " tokens, leaving no room for the completion."));
    }
    params.max_tokens = static_cast<int32_t>(context - prompt);
  }
  if (prompt + params.max_tokens > context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "This model's maximum context length is ", context, " tokens. However, you requested ",
        prompt + params.max_tokens, " tokens (", prompt, " in the prompt, ", params.max_tokens,
        " in the completion). Please reduce the length of the prompt or completion."));
  }

  scheduler::Request request;
  request.id = loop_->NextRequestId();
  request.prompt_tokens = std::move(params.prompt_tokens);
  request.sampling = params.sampling;
  request.sampling.seed = params.seed ? *params.seed : FreshSeed();
  request.max_tokens = params.max_tokens;
  request.stop_token_ids = params.stop_token_ids;
  request.ignore_eos = params.ignore_eos;
  request.priority = params.priority;
  request.kv_budget_tokens = params.kv_budget_tokens;
  request.eviction_policy = params.eviction_policy;
  request.cache_salt = params.cache_salt;
  request.share_prompt_with = params.share_prompt_with;
  const scheduler::RequestId id = request.id;

  auto stream = std::make_shared<Stream>(*tokenizer_, params);
  const Tokenizer* tokenizer = tokenizer_;
  scheduler::EngineLoop* loop = loop_;
  auto on_event = [stream, tokenizer, loop, id,
                   callback = std::move(callback)](const scheduler::StreamEvent& e) {
    if (stream->finished) return;  // after a stop-string match the engine's abort is ignored
    GenerationEvent event;
    event.prompt_tokens = e.output.prompt_tokens;
    event.completion_tokens = e.output.completion_tokens;
    if (!e.status.ok()) {
      stream->finished = true;
      event.status = e.status;
      callback(std::move(event));
      return;
    }
    const bool stopped_by_token = e.output.finish == scheduler::FinishReason::kStop;
    std::string text;
    for (size_t i = 0; i < e.output.tokens.size(); ++i) {
      const worker::SampledToken& t = e.output.tokens[i];
      TokenInfo info{t.token, std::string(tokenizer->TokenBytes(t.token)), t.logprob, {}};
      for (const worker::TokenLogprob& alt : t.top) {
        info.top.push_back({alt.token, std::string(tokenizer->TokenBytes(alt.token)), alt.logprob});
      }
      event.tokens.push_back(std::move(info));
      // The token that stopped generation (EOS or a stop token id) adds no text.
      if (!(stopped_by_token && i + 1 == e.output.tokens.size())) {
        text += stream->decoder.Push(t.token);
      }
    }
    const bool engine_finished = e.output.finish != scheduler::FinishReason::kNone;
    if (engine_finished) text += stream->decoder.Finish();
    StopMatcher::Result matched = stream->stops.Push(text);
    event.text_delta = std::move(matched.text);
    if (matched.match) {
      stream->finished = true;
      event.finish_reason = "stop";
      event.stop_reason = *matched.match;
      loop->Cancel(id);
    } else if (engine_finished) {
      stream->finished = true;
      event.text_delta += stream->stops.Flush();
      event.finish_reason = scheduler::FinishReasonName(e.output.finish);
    }
    callback(std::move(event));
  };
  if (absl::Status s = loop_->Submit(std::move(request), std::move(on_event)); !s.ok()) return s;
  return id;
}

void GenerationService::Cancel(scheduler::RequestId id) { loop_->Cancel(id); }

}  // namespace strata::server
