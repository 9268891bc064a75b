// Builds the JSON of OpenAI responses: chat.completion, text_completion, their streaming
// chunks, usage, log-probabilities, the model list, and SSE framing. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/generation/generation_service.h"

namespace strata::server::openai {

inline constexpr char kSseDone[] = "data: [DONE]\n\n";

struct ResponseMeta {
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// How log-probabilities were requested: off, or with `top` alternatives per token.
struct LogprobsSpec {
  bool enabled = false;
  int32_t top = 0;
};

// One finished choice of a non-streaming response.
struct ChoiceOutput {
  int index = 0;
  std::string text;
  std::vector<TokenInfo> tokens;           // kept when log-probabilities were asked for
  std::string finish_reason;               // "stop" | "length"
  std::optional<std::string> stop_reason;  // the stop string matched (vLLM's field)
};

// `prefix` plus 32 random hex digits.
std::string NewResponseId(std::string_view prefix);
int64_t UnixSeconds();

// Valid UTF-8 for any bytes: each maximal ill-formed subsequence becomes U+FFFD.
std::string Utf8Lossy(std::string_view bytes);

nlohmann::ordered_json UsageJson(const Usage& usage);

// Chat: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
nlohmann::ordered_json ChatLogprobsJson(const std::vector<TokenInfo>& tokens, int32_t top);
// Completions: {tokens, token_logprobs, top_logprobs: [{text: logprob}], text_offset}.
// `text_offset` is the offset (in characters) of the first token; advanced past the last.
nlohmann::ordered_json CompletionLogprobsJson(const std::vector<TokenInfo>& tokens, int32_t top,
                                              int64_t* text_offset);

nlohmann::ordered_json ChatCompletionJson(const ResponseMeta& meta,
                                          const std::vector<ChoiceOutput>& choices,
                                          const Usage& usage, const LogprobsSpec& logprobs);
nlohmann::ordered_json CompletionJson(const ResponseMeta& meta,
                                      const std::vector<ChoiceOutput>& choices, const Usage& usage,
                                      const LogprobsSpec& logprobs);

// A chat.completion.chunk for one choice. `delta` is e.g. {"role": "assistant",
// "content": ""} or {"content": "..."} or {}; `logprobs` null or ChatLogprobsJson(...).
// With `include_usage` the chunk carries "usage": null.
nlohmann::ordered_json ChatChunkJson(const ResponseMeta& meta, int index,
                                     nlohmann::ordered_json delta, nlohmann::ordered_json logprobs,
                                     const std::optional<std::string>& finish_reason,
                                     bool include_usage);
// A text_completion chunk for one choice.
nlohmann::ordered_json CompletionChunkJson(const ResponseMeta& meta, int index,
                                           const std::string& text, nlohmann::ordered_json logprobs,
                                           const std::optional<std::string>& finish_reason,
                                           bool include_usage);
// The final usage chunk: "choices": [] and the request's usage. `object` is
// "chat.completion.chunk" or "text_completion".
nlohmann::ordered_json UsageChunkJson(const ResponseMeta& meta, std::string_view object,
                                      const Usage& usage);

// "data: <json>\n\n".
std::string SseData(const nlohmann::ordered_json& value);

// GET /v1/models and GET /v1/models/{id}.
nlohmann::ordered_json ModelJson(const std::string& name, int64_t created, int64_t max_model_len);
nlohmann::ordered_json ModelListJson(const std::string& name, int64_t created,
                                     int64_t max_model_len);

}  // namespace strata::server::openai
