#include "server/http/generation_exchange.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/http/http_session.h"
#include "server/http/server_context.h"
#include "server/openai/prepare.h"
#include "server/openai/request_parser.h"

namespace strata::server::http {
namespace {

using json = nlohmann::ordered_json;
using openai::ApiError;
using openai::ApiOr;

// The choices of a chat request: n generations of one rendered conversation.
ApiOr<std::vector<ChoiceSpec>> ChatChoices(const openai::ChatRequest& request,
                                           ServerContext& context, GenerationService& service) {
  ApiOr<openai::PreparedPrompt> prompt =
      openai::PrepareChatPrompt(request, context.render_chat, service.tokenizer());
  if (!prompt.ok()) return prompt.error();
  ApiOr<int32_t> max_tokens = openai::ResolveMaxTokens(request.options, prompt->tokens.size(),
                                                       service.max_model_len(), "messages", 0);
  if (!max_tokens.ok()) return max_tokens.error();
  std::vector<ChoiceSpec> choices;
  for (int i = 0; i < request.options.n; ++i) {
    choices.push_back(
        {openai::MakeGenerationParams(request.options, prompt->tokens, *max_tokens, i), 0, ""});
  }
  return choices;
}

// The choices of a completions request: n per prompt, indexed prompt-major (as vLLM).
ApiOr<std::vector<ChoiceSpec>> CompletionChoices(const openai::CompletionRequest& request,
                                                 GenerationService& service) {
  ApiOr<std::vector<openai::PreparedPrompt>> prompts = openai::PrepareCompletionPrompts(
      request, service.tokenizer(), service.loop().model_config().vocab_size);
  if (!prompts.ok()) return prompts.error();
  std::vector<ChoiceSpec> choices;
  for (size_t p = 0; p < prompts->size(); ++p) {
    const openai::PreparedPrompt& prompt = (*prompts)[p];
    ApiOr<int32_t> max_tokens =
        openai::ResolveMaxTokens(request.options, prompt.tokens.size(), service.max_model_len(),
                                 "prompt", openai::kDefaultCompletionMaxTokens);
    if (!max_tokens.ok()) return max_tokens.error();
    for (int i = 0; i < request.options.n; ++i) {
      choices.push_back(
          {openai::MakeGenerationParams(request.options, prompt.tokens, *max_tokens, i),
           static_cast<int>(p), request.echo ? prompt.text : std::string()});
    }
  }
  return choices;
}

ExchangeSpec MakeSpec(const openai::SamplingOptions& options, bool chat, ServerContext& context) {
  ExchangeSpec spec;
  spec.chat = chat;
  spec.stream = options.stream;
  spec.include_usage = options.include_usage;
  spec.logprobs = {options.logprobs, options.top_logprobs};
  spec.meta = {openai::NewResponseId(chat ? "chatcmpl-" : "cmpl-"), openai::UnixSeconds(),
               context.services.served_model_name};
  return spec;
}

}  // namespace

void HandleGeneration(const std::shared_ptr<HttpSession>& session, ServerContext& context,
                      const std::string& body, bool chat) {
  GenerationService* service = context.services.generation;
  if (service == nullptr) return session->SendError(openai::Unavailable("No model is loaded."));
  if (context.draining.load() || service->loop().draining()) {
    return session->SendError(
        openai::Unavailable("The server is shutting down and accepts no new requests."));
  }
  openai::SamplingOptions options;
  ApiOr<std::vector<ChoiceSpec>> choices = std::vector<ChoiceSpec>{};
  if (chat) {
    ApiOr<openai::ChatRequest> request = openai::ParseChatRequest(body);
    if (!request.ok()) return session->SendError(request.error());
    options = request->options;
    if (!options.model.empty() && options.model != context.services.served_model_name) {
      return session->SendError(openai::ModelNotFound(options.model));
    }
    choices = ChatChoices(*request, context, *service);
  } else {
    ApiOr<openai::CompletionRequest> request = openai::ParseCompletionRequest(body);
    if (!request.ok()) return session->SendError(request.error());
    options = request->options;
    if (!options.model.empty() && options.model != context.services.served_model_name) {
      return session->SendError(openai::ModelNotFound(options.model));
    }
    choices = CompletionChoices(*request, *service);
  }
  if (!choices.ok()) return session->SendError(choices.error());
  auto exchange = std::make_shared<GenerationExchange>(MakeSpec(options, chat, context), service,
                                                       context.gate, session);
  if (exchange->Start(std::move(*choices))) session->set_exchange(std::move(exchange));
}

GenerationExchange::GenerationExchange(ExchangeSpec spec, GenerationService* service,
                                       std::shared_ptr<EventGate> gate,
                                       std::shared_ptr<ResponseSink> sink)
    : spec_(std::move(spec)), service_(service), gate_(std::move(gate)), sink_(std::move(sink)) {}

GenerationExchange::~GenerationExchange() { CancelRunning(); }

bool GenerationExchange::Start(std::vector<ChoiceSpec> choices) {
  choices_.resize(choices.size());
  for (size_t i = 0; i < choices.size(); ++i) {
    choices_[i].spec = std::move(choices[i]);
    choices_[i].output.index = static_cast<int>(i);
  }
  gate_key_ = gate_->Attach(sink_->executor(), shared_from_this());
  if (gate_key_ == 0) {
    Fail(openai::Unavailable("The server is shutting down."));
    return false;
  }
  for (size_t i = 0; i < choices_.size(); ++i) {
    // The n choices of one prompt: the first prefills it, the others share its K/V.
    for (size_t first = 0; first < i; ++first) {
      if (choices_[first].spec.prompt_index == choices_[i].spec.prompt_index) {
        choices_[i].spec.params.share_prompt_with = choices_[first].id;
        break;
      }
    }
    absl::StatusOr<scheduler::RequestId> id =
        service_->Start(choices_[i].spec.params, gate_->Callback(gate_key_, static_cast<int>(i)));
    if (!id.ok()) {
      Fail(openai::FromStatus(id.status(), spec_.chat ? "messages" : "prompt"));
      return false;
    }
    choices_[i].id = *id;
  }
  if (!spec_.stream) return true;
  sink_->BeginEventStream();
  streaming_ = true;
  for (Choice& c : choices_) {
    if (spec_.chat) {
      sink_->WriteEvent(openai::SseData(openai::ChatChunkJson(
          spec_.meta, c.output.index, {{"role", "assistant"}, {"content", ""}}, nullptr,
          std::nullopt, spec_.include_usage)));
    } else if (!c.spec.echo.empty()) {
      sink_->WriteEvent(openai::SseData(openai::CompletionChunkJson(
          spec_.meta, c.output.index, c.spec.echo, nullptr, std::nullopt, spec_.include_usage)));
    }
  }
  return true;
}

void GenerationExchange::OnGenerationEvent(int index, GenerationEvent event) {
  if (done_ || index < 0 || static_cast<size_t>(index) >= choices_.size()) return;
  Choice& choice = choices_[index];
  if (choice.finished) return;
  if (!event.status.ok()) return Fail(openai::FromStatus(event.status, ""));
  if (event.finish_reason == "abort") {
    return Fail(openai::Unavailable("The request was aborted by the server."));
  }
  choice.completion_tokens = event.completion_tokens;
  if (spec_.stream) {
    StreamEvent(choice, event);
  } else {
    choice.output.text += event.text_delta;
    if (spec_.logprobs.enabled) {
      for (TokenInfo& t : event.tokens) choice.output.tokens.push_back(std::move(t));
    }
  }
  if (event.finish_reason) {
    choice.finished = true;
    choice.output.finish_reason = *event.finish_reason;
    choice.output.stop_reason = event.stop_reason;
    if (++finished_ == choices_.size()) Complete();
  }
}

void GenerationExchange::StreamEvent(Choice& choice, const GenerationEvent& event) {
  const bool with_logprobs = spec_.logprobs.enabled && !event.tokens.empty();
  if (event.text_delta.empty() && !with_logprobs && !event.finish_reason) return;
  const int index = choice.output.index;
  json chunk;
  if (spec_.chat) {
    json delta = json::object();
    if (!event.text_delta.empty() || with_logprobs) delta["content"] = event.text_delta;
    chunk = openai::ChatChunkJson(
        spec_.meta, index, std::move(delta),
        with_logprobs ? openai::ChatLogprobsJson(event.tokens, spec_.logprobs.top) : nullptr,
        event.finish_reason, spec_.include_usage);
  } else {
    chunk = openai::CompletionChunkJson(
        spec_.meta, index, event.text_delta,
        with_logprobs
            ? openai::CompletionLogprobsJson(event.tokens, spec_.logprobs.top, &choice.text_offset)
            : nullptr,
        event.finish_reason, spec_.include_usage);
  }
  sink_->WriteEvent(openai::SseData(chunk));
}

openai::Usage GenerationExchange::TotalUsage() const {
  openai::Usage usage;
  std::set<int> prompts_counted;  // n choices of one prompt count its tokens once
  for (const Choice& c : choices_) {
    if (prompts_counted.insert(c.spec.prompt_index).second) {
      usage.prompt_tokens += c.spec.params.prompt_tokens.size();
    }
    usage.completion_tokens += c.completion_tokens;
  }
  return usage;
}

void GenerationExchange::Complete() {
  const openai::Usage usage = TotalUsage();
  if (spec_.stream) {
    if (spec_.include_usage) {
      sink_->WriteEvent(openai::SseData(openai::UsageChunkJson(
          spec_.meta, spec_.chat ? "chat.completion.chunk" : "text_completion", usage)));
    }
    sink_->WriteEvent(openai::kSseDone);
    sink_->EndEventStream();
  } else {
    std::vector<openai::ChoiceOutput> outputs;
    for (Choice& c : choices_) {
      outputs.push_back(std::move(c.output));
      if (!c.spec.echo.empty()) outputs.back().text.insert(0, c.spec.echo);
    }
    const json body = spec_.chat
                          ? openai::ChatCompletionJson(spec_.meta, outputs, usage, spec_.logprobs)
                          : openai::CompletionJson(spec_.meta, outputs, usage, spec_.logprobs);
    sink_->SendResponse(200, "application/json", openai::DumpJson(body));
  }
  Release();
}

void GenerationExchange::Fail(const ApiError& error) {
  CancelRunning();
  if (streaming_) {
    // The status line went out already: report the error in the stream, as vLLM does.
    sink_->WriteEvent(openai::SseData(error.ToJson()));
    sink_->WriteEvent(openai::kSseDone);
    sink_->EndEventStream();
  } else {
    sink_->SendError(error);
  }
  Release();
}

void GenerationExchange::Abort() {
  CancelRunning();
  Release();
}

void GenerationExchange::CancelRunning() {
  for (Choice& c : choices_) {
    if (c.id >= 0 && !c.finished) {
      c.finished = true;
      service_->Cancel(c.id);
    }
  }
}

void GenerationExchange::Release() {
  if (done_) return;
  done_ = true;
  std::shared_ptr<GenerationExchange> keep_alive;  // Detach may drop the gate's reference
  if (gate_key_ != 0) keep_alive = shared_from_this();
  gate_->Detach(gate_key_);
  sink_.reset();
}

}  // namespace strata::server::http
