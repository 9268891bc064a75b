// Turns validated OpenAI requests into token prompts and per-choice GenerationParams: chat
// template rendering, tokenization, vocabulary and context-length checks, max_tokens
// defaults. Pure functions of their inputs (the tokenizer and the template renderer are
// passed in); every error is an OpenAI error naming the parameter.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/generation/generation_service.h"
#include "server/openai/api_error.h"
#include "server/openai/request_parser.h"
#include "server/tokenizer/tokenizer.h"

namespace strata::server::openai {

// Renders a conversation with the model's chat template. `extra_variables` holds `tools`
// (when given) and the request's chat_template_kwargs.
using ChatRenderFn = std::function<absl::StatusOr<std::string>(
    const nlohmann::ordered_json& messages, bool add_generation_prompt,
    const nlohmann::ordered_json& extra_variables)>;

inline constexpr int32_t kDefaultCompletionMaxTokens = 16;  // /v1/completions, as OpenAI

struct PreparedPrompt {
  std::vector<int32_t> tokens;
  std::string text;  // the prompt as text (rendered chat, or decoded token ids)
};

// The rendered and tokenized conversation. A null `render` (no chat template) is a 400.
ApiOr<PreparedPrompt> PrepareChatPrompt(const ChatRequest& request, const ChatRenderFn& render,
                                        const Tokenizer& tokenizer);

// One prompt per request prompt: text is tokenized with the model's special tokens
// (EncodeWithSpecial, as vLLM's add_special_tokens=True); token ids are checked against
// the vocabulary `vocab_size`.
ApiOr<std::vector<PreparedPrompt>> PrepareCompletionPrompts(const CompletionRequest& request,
                                                            const Tokenizer& tokenizer,
                                                            int64_t vocab_size);

// The number of tokens to generate. An explicit max_tokens must fit: prompt + max_tokens
// <= max_model_len, else a 400 naming options.max_tokens_param. Otherwise
// `default_max_tokens` (0: all the room left) is clamped to the room left. A prompt that
// leaves no room is a 400 naming `prompt_param`.
ApiOr<int32_t> ResolveMaxTokens(const SamplingOptions& options, int64_t prompt_tokens,
                                int64_t max_model_len, const std::string& prompt_param,
                                int32_t default_max_tokens);

// The GenerationParams of choice `choice` (0-based): with a seed, choice i uses seed + i.
GenerationParams MakeGenerationParams(const SamplingOptions& options,
                                      std::vector<int32_t> prompt_tokens, int32_t max_tokens,
                                      int choice);

}  // namespace strata::server::openai
