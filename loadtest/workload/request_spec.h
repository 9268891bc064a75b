// One request of a workload, as it will be sent: the prompt (text, or token ids), how many
// tokens to generate, and, for trace replay, when it arrived. Plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace strata::loadtest {

struct RequestSpec {
  int64_t index = 0;                // position in the workload (0-based)
  std::optional<double> arrival_s;  // recorded arrival, seconds after the trace's first
  std::string prompt;               // the prompt text (used unless prompt_ids is set)
  std::vector<int32_t> prompt_ids;  // the prompt as token ids (token-id prompts only)
  int32_t prompt_len = 0;           // intended prompt tokens; 0 when unknown
  int32_t output_len = 0;           // max_tokens, >= 1
  std::string session_id;           // empty: none
  int32_t prefix_group = -1;        // shared-prefix workloads: which system prompt; else -1
};

}  // namespace strata::loadtest
