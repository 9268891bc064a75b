#include "loadtest/metrics/request_record.h"

namespace strata::loadtest {
namespace {

double Seconds(Clock::time_point t, Clock::time_point origin) {
  return std::chrono::duration<double>(t - origin).count();
}

}  // namespace

int32_t RequestRecord::output_tokens() const {
  if (completion_tokens) return *completion_tokens;
  if (!chunk_tokens.empty()) {
    int32_t sum = 0;
    for (int32_t n : chunk_tokens) sum += n;
    return sum;
  }
  return ttft_s ? static_cast<int32_t>(itl_s.size()) + 1 : 0;
}

std::optional<double> RequestRecord::tpot_s() const {
  const int32_t n = output_tokens();
  if (!ttft_s || n < 2) return std::nullopt;
  return (e2e_s() - *ttft_s) / (n - 1);
}

RequestRecord MakeRecord(const RequestSpec& spec, const Outcome& outcome, Clock::time_point origin,
                         double scheduled_s) {
  RequestRecord r;
  r.index = spec.index;
  r.scheduled_s = scheduled_s;
  r.start_s = Seconds(outcome.sent, origin);
  r.end_s = Seconds(outcome.finished, origin);
  if (!outcome.chunk_times.empty()) {
    r.ttft_s = std::chrono::duration<double>(outcome.chunk_times.front() - outcome.sent).count();
    r.itl_s.reserve(outcome.chunk_times.size() - 1);
    for (size_t i = 1; i < outcome.chunk_times.size(); ++i) {
      r.itl_s.push_back(
          std::chrono::duration<double>(outcome.chunk_times[i] - outcome.chunk_times[i - 1])
              .count());
    }
  }
  r.chunk_tokens = outcome.chunk_tokens;
  r.prompt_len = spec.prompt_len;
  r.output_len = spec.output_len;
  r.prompt_tokens = outcome.prompt_tokens;
  r.completion_tokens = outcome.completion_tokens;
  r.finish_reason = outcome.finish_reason;
  r.error_kind = outcome.error_kind;
  r.error_message = outcome.error_message;
  r.prefix_group = spec.prefix_group;
  r.session_id = spec.session_id;
  return r;
}

}  // namespace strata::loadtest
