// The measured facts of one request, in seconds relative to the start of the run (the
// moment the first measured request was due). Derived from a client's Outcome.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loadtest/client/outcome.h"
#include "loadtest/workload/request_spec.h"

namespace strata::loadtest {

struct RequestRecord {
  int64_t index = 0;
  double scheduled_s = 0;             // when it was due
  double start_s = 0;                 // when it was sent (later than due under the concurrency cap)
  double end_s = 0;                   // last byte of the answer (or the failure)
  std::optional<double> ttft_s;       // first output chunk - start
  std::vector<double> itl_s;          // gaps between consecutive output chunks
  std::vector<int32_t> chunk_tokens;  // tokens per chunk when known (gRPC); else empty
  int32_t prompt_len = 0;             // intended
  int32_t output_len = 0;             // requested (max_tokens)
  std::optional<int32_t> prompt_tokens;      // usage
  std::optional<int32_t> completion_tokens;  // usage
  std::string finish_reason;
  std::string error_kind;  // empty: completed
  std::string error_message;
  int32_t prefix_group = -1;
  std::string session_id;

  bool ok() const { return error_kind.empty(); }
  double e2e_s() const { return end_s - start_s; }
  // Output tokens: usage, else the number of output chunks.
  int32_t output_tokens() const;
  // Time per output token after the first: (e2e - ttft) / (output_tokens - 1); none for
  // fewer than 2 tokens or no first token.
  std::optional<double> tpot_s() const;
};

RequestRecord MakeRecord(const RequestSpec& spec, const Outcome& outcome, Clock::time_point origin,
                         double scheduled_s);

}  // namespace strata::loadtest
