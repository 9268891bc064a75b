#include "loadtest/workload/workload.h"

#include <algorithm>
#include <map>
#include <string>

namespace strata::loadtest {
namespace {

int32_t Clamp(int32_t n, int32_t max) { return max > 0 ? std::min(n, max) : n; }

// Fills prompt / prompt_ids / prompt_len of `spec` from a word sequence.
void SetPrompt(const PromptBuilder& builder, const PromptOptions& options,
               const std::vector<int32_t>& words, RequestSpec* spec) {
  if (options.token_ids && builder.exact()) {
    spec->prompt_ids = builder.Ids(words);
    spec->prompt_len = static_cast<int32_t>(spec->prompt_ids.size());
  } else {
    spec->prompt = builder.Text(words);
    spec->prompt_len = static_cast<int32_t>(words.size()) + builder.special_tokens();
  }
}

// Words for a prompt of `tokens` tokens in all.
int32_t WordsFor(const PromptBuilder& builder, int32_t tokens) {
  return std::max<int32_t>(1, tokens - builder.special_tokens());
}

}  // namespace

std::vector<RequestSpec> BuildSynthetic(const SyntheticWorkload& workload,
                                        const PromptBuilder& builder, const PromptOptions& options,
                                        uint64_t seed) {
  Rng lengths(seed);
  Rng words_rng(seed ^ 0x5bd1e995u);
  std::vector<std::vector<int32_t>> prefixes(std::max(0, workload.num_prefixes));
  for (auto& prefix : prefixes) builder.AppendRandomWords(workload.prefix_len, words_rng, &prefix);
  std::vector<RequestSpec> specs;
  specs.reserve(workload.num_requests);
  for (int64_t i = 0; i < workload.num_requests; ++i) {
    RequestSpec spec;
    spec.index = i;
    const int32_t input = workload.input_len.Sample(lengths);
    spec.output_len = workload.output_len.Sample(lengths);
    std::vector<int32_t> words;
    if (!prefixes.empty()) {
      spec.prefix_group = static_cast<int32_t>(i % static_cast<int64_t>(prefixes.size()));
      words = prefixes[spec.prefix_group];
      builder.AppendRandomWords(input, words_rng, &words);
    } else {
      builder.AppendRandomWords(WordsFor(builder, input), words_rng, &words);
    }
    SetPrompt(builder, options, words, &spec);
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::vector<RequestSpec> BuildFromTrace(const std::vector<TraceRecord>& records,
                                        const PromptBuilder& builder, const PromptOptions& options,
                                        uint64_t seed) {
  Rng words_rng(seed ^ 0x5bd1e995u);
  std::map<std::string, std::vector<int32_t>> sessions;  // session id -> its words so far
  std::vector<RequestSpec> specs;
  specs.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const TraceRecord& r = records[i];
    RequestSpec spec;
    spec.index = static_cast<int64_t>(i);
    spec.arrival_s = r.arrival_s;
    spec.session_id = r.session_id;
    spec.output_len = Clamp(r.output_len, options.max_output_len);
    if (r.prompt) {
      spec.prompt = *r.prompt;
      spec.prompt_len = builder.CountTokens(spec.prompt);
      specs.push_back(std::move(spec));
      continue;
    }
    const int32_t n = WordsFor(builder, Clamp(r.prompt_len, options.max_input_len));
    std::vector<int32_t> words;
    if (r.session_id.empty()) {
      builder.AppendRandomWords(n, words_rng, &words);
    } else {
      std::vector<int32_t>& context = sessions[r.session_id];
      if (static_cast<int32_t>(context.size()) < n) {
        builder.AppendRandomWords(n - static_cast<int32_t>(context.size()), words_rng, &context);
      }
      words.assign(context.begin(), context.begin() + n);
    }
    SetPrompt(builder, options, words, &spec);
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace strata::loadtest
