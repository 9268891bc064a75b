// Parses and validates the JSON bodies of POST /v1/chat/completions and POST /v1/completions
// into plain structs. Every error is a 400 naming the offending parameter (`param`, e.g.
// "temperature" or "messages[2].role") in the OpenAI error shape. Unknown fields are ignored,
// as vLLM does. Objects keep the request's key order (ordered_json), so a template's tojson
// prints tools and arguments as the client sent them, as Python would. Pure functions: no
// tokenizer, no I/O; safe on arbitrary input (fuzzed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/openai/api_error.h"

namespace strata::server::openai {

inline constexpr int kMaxChoices = 16;            // n
inline constexpr int kMaxStopSequences = 4;       // stop
inline constexpr int kMaxTopLogprobs = 20;        // chat top_logprobs
inline constexpr int kMaxCompletionLogprobs = 5;  // completions logprobs
inline constexpr int kMaxJsonDepth = 64;          // nesting of the request body

// Parameters shared by both endpoints, validated and defaulted.
struct SamplingOptions {
  std::string model;                            // empty when absent
  int32_t n = 1;                                // choices per prompt, 1..kMaxChoices
  std::optional<int32_t> max_tokens;            // absent: the endpoint's default
  std::string max_tokens_param = "max_tokens";  // the name the client used
  float temperature = 1.0f;                     // [0, 2]; 0 is greedy
  float top_p = 1.0f;                           // (0, 1]
  int32_t top_k = 0;                            // 0 (or -1 in the request): off
  float min_p = 0.0f;                           // [0, 1]
  float presence_penalty = 0.0f;                // [-2, 2]
  float frequency_penalty = 0.0f;               // [-2, 2]
  float repetition_penalty = 1.0f;              // > 0
  std::optional<uint64_t> seed;                 // a negative seed is taken modulo 2^64
  std::vector<std::string> stop;                // up to kMaxStopSequences non-empty strings
  std::vector<int32_t> stop_token_ids;          // extension (vLLM)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;       // log-probabilities requested
  int32_t top_logprobs = 0;    // alternatives per token
  bool ignore_eos = false;
  bool skip_special_tokens = true;
  int32_t priority = 0;                     // lower runs first
  std::optional<int64_t> kv_budget_tokens;  // extension: resident KV cap; 0: server default
  // extension: "none" | "streaming" | "heavy_hitter" | "adaptive_precision"; empty: default
  std::string kv_eviction_policy;
  std::string cache_salt;                   // extension (vLLM): prefix-cache namespace
  std::string user;
};

struct ChatRequest {
  SamplingOptions options;
  // Messages as the chat template sees them: role (developer mapped to system), content
  // as a string (text parts joined with "\n"), and name / tool_calls / tool_call_id /
  // reasoning_content passed through (tool call arguments parsed from JSON strings).
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null, or the request's non-empty tools array
  nlohmann::ordered_json chat_template_kwargs = nlohmann::ordered_json::object();
  bool add_generation_prompt = true;
  bool continue_final_message = false;
};

struct CompletionPrompt {
  std::optional<std::string> text;  // a text prompt, else `tokens` came in the request
  std::vector<int32_t> tokens;
};

struct CompletionRequest {
  SamplingOptions options;
  std::vector<CompletionPrompt> prompts;  // at least one
  bool echo = false;
};

ApiOr<ChatRequest> ParseChatRequest(std::string_view body);
ApiOr<CompletionRequest> ParseCompletionRequest(std::string_view body);

// Whether `body` nests arrays/objects deeper than `max_depth` (checked before parsing).
bool JsonTooDeep(std::string_view body, int max_depth);

}  // namespace strata::server::openai
