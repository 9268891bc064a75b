// The OpenAI-compatible wire format as the load generator uses it: request bodies for
// /v1/completions and /v1/chat/completions (streaming, stream_options.include_usage), and
// the meaning of each streamed event. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "loadtest/workload/request_spec.h"
#include "nlohmann/json.hpp"

namespace strata::loadtest {

struct OpenAiRequestOptions {
  std::string model;
  bool chat = false;       // /v1/chat/completions instead of /v1/completions
  bool ignore_eos = true;  // ask for exactly output_len tokens (vLLM/Strata extension)
  std::optional<double> temperature;
  nlohmann::json extra_body = nlohmann::json::object();  // merged into every body last
};

// The JSON body for `spec`.
std::string OpenAiRequestBody(const RequestSpec& spec, const OpenAiRequestOptions& options);

// What one SSE event of a completion stream says.
struct StreamEventInfo {
  bool done = false;        // the "[DONE]" sentinel
  bool has_output = false;  // carries generated text (or reasoning text)
  std::optional<int32_t> prompt_tokens, completion_tokens;  // a usage object
  std::string finish_reason;                                // non-empty when a choice finished
  std::string error;       // an error object's message (the stream failed)
  bool malformed = false;  // not JSON, or not an object
};

StreamEventInfo ParseStreamEvent(const std::string& data);

// The message of an error response body ({"error": {"message": ...}}), else the body
// itself, shortened.
std::string ErrorBodyMessage(const std::string& body);

}  // namespace strata::loadtest
