// What a client observed of one request, in steady_clock time: when it was sent, when each
// stream message carrying output arrived, the server's usage figures, and how it ended.
// Plain data, filled by one client and handed to the runner.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "loadtest/workload/request_spec.h"

namespace strata::loadtest {

using Clock = std::chrono::steady_clock;

struct Outcome {
  Clock::time_point sent;
  Clock::time_point finished;
  // Arrival of each stream message with output (non-empty text or token ids), in order.
  std::vector<Clock::time_point> chunk_times;
  // Tokens per message when the protocol says (gRPC token_ids); empty when it does not.
  std::vector<int32_t> chunk_tokens;
  std::optional<int32_t> prompt_tokens;      // from usage
  std::optional<int32_t> completion_tokens;  // from usage
  std::string finish_reason;                 // "stop", "length", ... when reported
  // Empty on success; else a short kind: "connect", "http_429", "stream_error", "timeout",
  // "truncated", "protocol", "deadline", "grpc_UNAVAILABLE", ...
  std::string error_kind;
  std::string error_message;
  bool ok() const { return error_kind.empty(); }
};

// A way to send requests (OpenAI HTTP, Strata gRPC). Send() is called on the runner's
// thread; `done` is called exactly once, on the runner's thread (the client posts to it).
class Client {
 public:
  virtual ~Client() = default;
  virtual void Send(const RequestSpec& spec, std::function<void(Outcome)> done) = 0;
  // Ends every request in flight; each still gets its `done` call, with error_kind
  // "deadline".
  virtual void CancelAll() = 0;
};

}  // namespace strata::loadtest
