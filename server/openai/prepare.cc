#include "server/openai/prepare.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace strata::server::openai {

using json = nlohmann::ordered_json;

ApiOr<PreparedPrompt> PrepareChatPrompt(const ChatRequest& request, const ChatRenderFn& render,
                                        const Tokenizer& tokenizer) {
  if (!render) {
    return InvalidRequest("messages",
                          "The model has no chat template; use /v1/completions instead.");
  }
  json extra =
      request.chat_template_kwargs.is_object() ? request.chat_template_kwargs : json::object();
  if (!request.tools.is_null()) extra["tools"] = request.tools;
  absl::StatusOr<std::string> rendered =
      render(request.messages, request.add_generation_prompt, extra);
  if (!rendered.ok()) {
    return InvalidRequest("messages", absl::StrCat("The chat template failed on these messages: ",
                                                   std::string(rendered.status().message())));
  }
  PreparedPrompt prompt;
  prompt.text = std::move(*rendered);
  if (request.continue_final_message) {
    // Leave the final assistant message open: cut the text right after its content.
    const std::string& last = request.messages.back()["content"].get_ref<const std::string&>();
    const size_t pos = last.empty() ? std::string::npos : prompt.text.rfind(last);
    if (pos == std::string::npos) {
      return InvalidRequest("continue_final_message",
                            "The final assistant message was not found in the rendered chat.");
    }
    prompt.text.resize(pos + last.size());
  }
  prompt.tokens = tokenizer.Encode(prompt.text);
  if (prompt.tokens.empty()) {
    return InvalidRequest("messages", "The rendered conversation is empty.");
  }
  return prompt;
}

ApiOr<std::vector<PreparedPrompt>> PrepareCompletionPrompts(const CompletionRequest& request,
                                                            const Tokenizer& tokenizer,
                                                            int64_t vocab_size) {
  std::vector<PreparedPrompt> prompts;
  prompts.reserve(request.prompts.size());
  for (size_t i = 0; i < request.prompts.size(); ++i) {
    const CompletionPrompt& in = request.prompts[i];
    PreparedPrompt out;
    if (in.text) {
      out.text = *in.text;
      out.tokens = tokenizer.EncodeWithSpecial(*in.text);
    } else {
      for (size_t j = 0; j < in.tokens.size(); ++j) {
        if (in.tokens[j] >= vocab_size) {
          return InvalidRequest("prompt",
                                absl::StrCat("Invalid 'prompt': token id ", in.tokens[j],
                                             " is outside the vocabulary [0, ", vocab_size, ")."));
        }
      }
      out.tokens = in.tokens;
      out.text = tokenizer.Decode(in.tokens, /*skip_special_tokens=*/false);
    }
    if (out.tokens.empty()) {
      return InvalidRequest("prompt", request.prompts.size() > 1
                                          ? absl::StrCat("Invalid 'prompt[", i, "]': it is empty.")
                                          : std::string("Invalid 'prompt': it is empty."));
    }
    prompts.push_back(std::move(out));
  }
  return prompts;
}

ApiOr<int32_t> ResolveMaxTokens(const SamplingOptions& options, int64_t prompt_tokens,
                                int64_t max_model_len, const std::string& prompt_param,
                                int32_t default_max_tokens) {
  if (prompt_tokens >= max_model_len) {
    return InvalidRequest(
        prompt_param,
        absl::StrCat("This model's maximum context length is ", max_model_len,
                     " tokens. However, your request has ", prompt_tokens,
                     " input tokens. Please reduce the length of the input ", prompt_param, "."));
  }
  const int64_t room = max_model_len - prompt_tokens;
  if (options.max_tokens) {
    if (*options.max_tokens > room) {
      return InvalidRequest(
          options.max_tokens_param,
          absl::StrCat("'", options.max_tokens_param, "' is too large: ", *options.max_tokens,
                       ". This model's maximum context length is ", max_model_len,
                       " tokens. However, you requested ", prompt_tokens + *options.max_tokens,
                       " tokens (", prompt_tokens, " in the ", prompt_param, ", ",
                       *options.max_tokens,
                       " in the completion). Please reduce the length of "
                       "the ",
                       prompt_param, " or completion."));
    }
    return *options.max_tokens;
  }
  if (default_max_tokens <= 0) return static_cast<int32_t>(room);
  return static_cast<int32_t>(std::min<int64_t>(default_max_tokens, room));
}

GenerationParams MakeGenerationParams(const SamplingOptions& options,
                                      std::vector<int32_t> prompt_tokens, int32_t max_tokens,
                                      int choice) {
  GenerationParams params;
  params.prompt_tokens = std::move(prompt_tokens);
  worker::SamplingParams& s = params.sampling;
  s.temperature = options.temperature;
  s.top_k = options.top_k;
  s.top_p = options.top_p;
  s.min_p = options.min_p;
  s.presence_penalty = options.presence_penalty;
  s.frequency_penalty = options.frequency_penalty;
  s.repetition_penalty = options.repetition_penalty;
  s.top_logprobs = options.logprobs ? options.top_logprobs : 0;
  if (options.seed) {
    params.seed = *options.seed + static_cast<uint64_t>(choice);
    s.seed = *params.seed;
  }
  params.max_tokens = max_tokens;
  params.stop = options.stop;
  params.stop_token_ids = options.stop_token_ids;
  params.ignore_eos = options.ignore_eos;
  params.skip_special_tokens = options.skip_special_tokens;
  params.priority = options.priority;
  params.kv_budget_tokens = options.kv_budget_tokens.value_or(0);
  params.eviction_policy = options.kv_eviction_policy;
  params.cache_salt = options.cache_salt;
  return params;
}

}  // namespace strata::server::openai
