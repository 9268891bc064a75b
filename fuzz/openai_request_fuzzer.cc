// libFuzzer target: arbitrary bytes as the body of POST /v1/chat/completions and
// /v1/completions through the OpenAI request parser and validator. Every input must give a
// request or a 400 naming the problem, never crash, hang or throw; an accepted request's
// values must lie in their documented ranges.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/openai/request_parser.h"

namespace {

using strata::server::openai::SamplingOptions;

void CheckOptions(const SamplingOptions& o) {
  namespace oa = strata::server::openai;
  if (o.n < 1 || o.n > oa::kMaxChoices) __builtin_trap();
  if (o.max_tokens && *o.max_tokens < 1) __builtin_trap();
  if (!(o.temperature >= 0 && o.temperature <= 2)) __builtin_trap();
  if (!(o.top_p > 0 && o.top_p <= 1)) __builtin_trap();
  if (o.top_k < 0) __builtin_trap();
  if (!(o.min_p >= 0 && o.min_p <= 1)) __builtin_trap();
  if (!(std::fabs(o.presence_penalty) <= 2 && std::fabs(o.frequency_penalty) <= 2)) {
    __builtin_trap();
  }
  if (!(o.repetition_penalty > 0)) __builtin_trap();
  if (o.stop.size() > static_cast<size_t>(oa::kMaxStopSequences)) __builtin_trap();
  for (const auto& s : o.stop) {
    if (s.empty()) __builtin_trap();
  }
  if (o.top_logprobs < 0 || o.top_logprobs > oa::kMaxTopLogprobs) __builtin_trap();
  if (o.kv_budget_tokens && *o.kv_budget_tokens < 0) __builtin_trap();
  if (o.include_usage && !o.stream) __builtin_trap();
}

void CheckError(const strata::server::openai::ApiError& error) {
  if (error.http_status != 400 || error.message.empty()) __builtin_trap();
  (void)error.Body();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace oa = strata::server::openai;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  oa::ApiOr<oa::ChatRequest> chat = oa::ParseChatRequest(body);
  if (chat.ok()) {
    CheckOptions(chat->options);
    if (chat->messages.empty()) __builtin_trap();
    for (const auto& m : chat->messages) {
      if (!m.is_object() || !m["content"].is_string() || !m["role"].is_string()) __builtin_trap();
    }
    (void)oa::DumpJson(chat->messages);
  } else {
    CheckError(chat.error());
  }
  oa::ApiOr<oa::CompletionRequest> completion = oa::ParseCompletionRequest(body);
  if (completion.ok()) {
    CheckOptions(completion->options);
    if (completion->prompts.empty()) __builtin_trap();
    if (completion->options.top_logprobs > oa::kMaxCompletionLogprobs) __builtin_trap();
    for (const auto& p : completion->prompts) {
      if (!p.text && p.tokens.empty()) __builtin_trap();
      for (int32_t t : p.tokens) {
        if (t < 0) __builtin_trap();
      }
    }
  } else {
    CheckError(completion.error());
  }
  return 0;
}
