// Turning a workload description into the requests to send: synthetic lengths (with optional
// shared system prompts) or recorded trace entries, prompts built by a PromptBuilder. Pure
// functions of their inputs and the seed: the same arguments give the same requests.
#pragma once

#include <cstdint>
#include <vector>

#include "loadtest/workload/length_dist.h"
#include "loadtest/workload/prompt_builder.h"
#include "loadtest/workload/request_spec.h"
#include "loadtest/workload/trace.h"

namespace strata::loadtest {

struct PromptOptions {
  bool token_ids = false;      // send prompts as token ids (needs an exact builder)
  int32_t max_input_len = 0;   // clamp prompt lengths (trace replay); 0: no clamp
  int32_t max_output_len = 0;  // clamp output lengths; 0: no clamp
};

struct SyntheticWorkload {
  int64_t num_requests = 0;
  LengthDist input_len = LengthDist::Fixed(128);  // the whole prompt, or the part after the
                                                  // shared prefix when num_prefixes > 0
  LengthDist output_len = LengthDist::Fixed(128);
  int32_t num_prefixes = 0;  // shared-prefix workloads: N system prompts...
  int32_t prefix_len = 0;    // ...of this many tokens; request i uses prefix i % N
};

std::vector<RequestSpec> BuildSynthetic(const SyntheticWorkload& workload,
                                        const PromptBuilder& builder, const PromptOptions& options,
                                        uint64_t seed);

// Requests of a session (same session_id) whose prompts are given as lengths share their
// context: each prompt starts with the previous one's words (a growing conversation), cut
// to the requested length when it is shorter.
std::vector<RequestSpec> BuildFromTrace(const std::vector<TraceRecord>& records,
                                        const PromptBuilder& builder, const PromptOptions& options,
                                        uint64_t seed);

}  // namespace strata::loadtest
