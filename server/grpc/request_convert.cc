#include "server/grpc/request_convert.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace strata::server::grpc_api {
namespace {

using strata::v1::GenerateRequest;

constexpr int kMaxStopStrings = 4;
constexpr int kMaxTopLogprobs = 20;

absl::Status FieldError(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// `value` within [lo, hi] (or (lo, hi] when `open_low`); NaN is always out of range.
absl::Status CheckRange(const std::string& field, float value, float lo, float hi,
                        bool open_low = false) {
  const bool ok = (open_low ? value > lo : value >= lo) && value <= hi;
  if (ok) return absl::OkStatus();
  return FieldError(
      field, absl::StrCat("must be in ", open_low ? "(" : "[", lo, ", ", hi, "], got ", value));
}

absl::Status CheckTokenIds(const std::string& field,
                           const google::protobuf::RepeatedField<int32_t>& ids,
                           int64_t vocab_size) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return FieldError(absl::StrCat(field, "[", i, "]"),
                        absl::StrCat(ids[i], " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ConvertSampling(const GenerateRequest& request, GenerationParams* params) {
  const strata::v1::SamplingParams& in = request.sampling();
  worker::SamplingParams& out = params->sampling;
  out.temperature = in.has_temperature() ? in.temperature() : 1.0f;
  if (absl::Status s = CheckRange("sampling.temperature", out.temperature, 0, 2); !s.ok()) {
    return s;
  }
  out.top_p = in.has_top_p() ? in.top_p() : 1.0f;
  if (absl::Status s = CheckRange("sampling.top_p", out.top_p, 0, 1, /*open_low=*/true); !s.ok()) {
    return s;
  }
  if (in.top_k() < -1) {
    return FieldError("sampling.top_k",
                      absl::StrCat("must be -1 or 0 (off) or at least 1, got ", in.top_k()));
  }
  out.top_k = in.top_k() == -1 ? 0 : in.top_k();
  out.min_p = in.min_p();
  if (absl::Status s = CheckRange("sampling.min_p", out.min_p, 0, 1); !s.ok()) return s;
  out.presence_penalty = in.presence_penalty();
  if (absl::Status s = CheckRange("sampling.presence_penalty", out.presence_penalty, -2, 2);
      !s.ok()) {
    return s;
  }
  out.frequency_penalty = in.frequency_penalty();
  if (absl::Status s = CheckRange("sampling.frequency_penalty", out.frequency_penalty, -2, 2);
      !s.ok()) {
    return s;
  }
  out.repetition_penalty = in.has_repetition_penalty() ? in.repetition_penalty() : 1.0f;
  if (absl::Status s = CheckRange("sampling.repetition_penalty", out.repetition_penalty, 0, 2,
                                  /*open_low=*/true);
      !s.ok()) {
    return s;
  }
  if (in.has_seed()) {
    params->seed = in.seed();
    out.seed = in.seed();
  }
  return absl::OkStatus();
}

absl::Status ConvertPrompt(const GenerateRequest& request, const Tokenizer& tokenizer,
                           const ModelLimits& limits, GenerationParams* params) {
  switch (request.input_case()) {
    case GenerateRequest::kText:
      if (request.text().empty()) return FieldError("text", "must not be empty");
      params->prompt_tokens = tokenizer.EncodeWithSpecial(request.text());
      if (params->prompt_tokens.empty()) return FieldError("text", "encodes to no tokens");
      for (int32_t id : params->prompt_tokens) {
        if (id >= limits.vocab_size) {
          return FieldError("text", absl::StrCat("encodes to token id ", id,
                                                 ", outside the model's vocabulary [0, ",
                                                 limits.vocab_size, ")"));
        }
      }
      return absl::OkStatus();
    case GenerateRequest::kTokenIds:
      if (request.token_ids().ids().empty()) return FieldError("token_ids", "must not be empty");
      if (absl::Status s =
              CheckTokenIds("token_ids.ids", request.token_ids().ids(), limits.vocab_size);
          !s.ok()) {
        return s;
      }
      params->prompt_tokens.assign(request.token_ids().ids().begin(),
                                   request.token_ids().ids().end());
      return absl::OkStatus();
    case GenerateRequest::INPUT_NOT_SET:
      break;
  }
  return FieldError("input", "set either text or token_ids");
}

absl::Status CheckLength(const GenerateRequest& request, const ModelLimits& limits,
                         GenerationParams* params) {
  const int64_t prompt = static_cast<int64_t>(params->prompt_tokens.size());
  if (!request.has_max_tokens()) {
    params->max_tokens = 0;  // up to the context length
    if (prompt >= limits.max_model_len) {
      return FieldError("input", absl::StrCat("the prompt has ", prompt,
                                              " tokens, leaving no room for a completion in the "
                                              "model's context length of ",
                                              limits.max_model_len, " tokens"));
    }
    return absl::OkStatus();
  }
  if (request.max_tokens() < 1) {
    return FieldError("max_tokens", absl::StrCat("must be at least 1, got ", request.max_tokens()));
  }
  params->max_tokens = request.max_tokens();
  if (prompt + request.max_tokens() > limits.max_model_len) {
    return FieldError(
        "max_tokens",
        absl::StrCat("the prompt (", prompt, " tokens) plus max_tokens (", request.max_tokens(),
                     ") is ", prompt + request.max_tokens(),
                     " tokens, beyond the model's context length of ", limits.max_model_len));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GenerationParams> ToGenerationParams(const GenerateRequest& request,
                                                    const Tokenizer& tokenizer,
                                                    const ModelLimits& limits) {
  GenerationParams params;
  if (absl::Status s = ConvertSampling(request, &params); !s.ok()) return s;

  if (request.stop_size() > kMaxStopStrings) {
    return FieldError("stop", absl::StrCat("at most ", kMaxStopStrings, " stop strings, got ",
                                           request.stop_size()));
  }
  for (int i = 0; i < request.stop_size(); ++i) {
    if (request.stop(i).empty()) return FieldError(absl::StrCat("stop[", i, "]"), "is empty");
    params.stop.push_back(request.stop(i));
  }
  if (absl::Status s = CheckTokenIds("stop_token_ids", request.stop_token_ids(), limits.vocab_size);
      !s.ok()) {
    return s;
  }
  params.stop_token_ids.assign(request.stop_token_ids().begin(), request.stop_token_ids().end());
  params.ignore_eos = request.ignore_eos();

  if (request.top_logprobs() < 0 || request.top_logprobs() > kMaxTopLogprobs) {
    return FieldError("top_logprobs", absl::StrCat("must be in [0, ", kMaxTopLogprobs, "], got ",
                                                   request.top_logprobs()));
  }
  if (request.top_logprobs() > 0 && !request.logprobs()) {
    return FieldError("top_logprobs", "requires logprobs to be true");
  }
  params.sampling.top_logprobs = request.logprobs() ? request.top_logprobs() : 0;

  if (request.kv_budget_tokens() < 0) {
    return FieldError("kv_budget_tokens",
                      absl::StrCat("must be >= 0 (0: no bound), got ", request.kv_budget_tokens()));
  }
  if (!request.eviction_policy().empty() && request.eviction_policy() != "none" &&
      request.eviction_policy() != "streaming" && request.eviction_policy() != "heavy_hitter" &&
      request.eviction_policy() != "adaptive_precision") {
    return FieldError("eviction_policy",
                      absl::StrCat("must be \"none\", \"streaming\", \"heavy_hitter\" or "
                                   "\"adaptive_precision\", got \"",
                                   request.eviction_policy(), "\""));
  }
  params.kv_budget_tokens = request.kv_budget_tokens();
  params.eviction_policy = request.eviction_policy();
  params.cache_salt = request.cache_salt();
  params.priority = request.priority();
  params.skip_special_tokens =
      request.has_skip_special_tokens() ? request.skip_special_tokens() : true;

  if (absl::Status s = ConvertPrompt(request, tokenizer, limits, &params); !s.ok()) return s;
  if (absl::Status s = CheckLength(request, limits, &params); !s.ok()) return s;
  return params;
}

void AppendEvent(const GenerationEvent& event, bool logprobs,
                 strata::v1::GenerateResponse* response) {
  for (const TokenInfo& token : event.tokens) {
    response->add_token_ids(token.token);
    if (!logprobs) continue;
    strata::v1::TokenLogprob* lp = response->add_logprobs();
    lp->set_token_id(token.token);
    lp->set_token(token.text);
    lp->set_logprob(token.logprob);
    for (const TopLogprob& alt : token.top) {
      strata::v1::TopLogprob* top = lp->add_top_logprobs();
      top->set_token_id(alt.token);
      top->set_token(alt.text);
      top->set_logprob(alt.logprob);
    }
  }
  response->mutable_text()->append(event.text_delta);
  if (event.finish_reason) {
    response->set_finish_reason(FinishReasonFromName(*event.finish_reason));
    if (event.stop_reason) response->set_stop_string(*event.stop_reason);
    strata::v1::Usage* usage = response->mutable_usage();
    usage->set_prompt_tokens(event.prompt_tokens);
    usage->set_completion_tokens(event.completion_tokens);
    usage->set_total_tokens(event.prompt_tokens + event.completion_tokens);
  }
}

strata::v1::FinishReason FinishReasonFromName(const std::string& name) {
  if (name == "stop") return strata::v1::FINISH_REASON_STOP;
  if (name == "length") return strata::v1::FINISH_REASON_LENGTH;
  if (name == "abort") return strata::v1::FINISH_REASON_ABORT;
  return strata::v1::FINISH_REASON_UNSPECIFIED;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace strata::server::grpc_api
