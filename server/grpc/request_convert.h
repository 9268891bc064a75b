// Translation between the gRPC API's messages (proto/strata/v1/strata.proto) and the
// text-level generation layer: request validation with field-named errors, and the merging
// of generation events into response messages. Pure functions; thread-safe.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"
#include "server/generation/generation_service.h"
#include "server/tokenizer/tokenizer.h"
#include "strata/v1/strata.pb.h"

namespace strata::server::grpc_api {

struct ModelLimits {
  int64_t max_model_len = 0;  // prompt + completion tokens at most
  int64_t vocab_size = 0;     // valid token ids are [0, vocab_size)
};

// Validates `request` (ranges as the OpenAI API has them) and tokenizes its text input.
// InvalidArgument messages start with the offending field, e.g.
// "sampling.temperature: must be in [0, 2], got 3". Does not check `model`.
absl::StatusOr<GenerationParams> ToGenerationParams(const strata::v1::GenerateRequest& request,
                                                    const Tokenizer& tokenizer,
                                                    const ModelLimits& limits);

// Appends `event` (tokens, text, logprobs when `logprobs`; finish reason, stop string and
// usage when it is the last event) to `response`, so that events that arrive while a write
// is in flight coalesce into one message.
void AppendEvent(const GenerationEvent& event, bool logprobs,
                 strata::v1::GenerateResponse* response);

// "stop" | "length" | "abort" to the enum; anything else is FINISH_REASON_UNSPECIFIED.
strata::v1::FinishReason FinishReasonFromName(const std::string& name);

// absl and gRPC share their status code numbering.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace strata::server::grpc_api
