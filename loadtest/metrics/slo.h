// Service-level objectives given on the command line ("ttft=200ms,tpot=20ms,e2e=5s,itl=50ms")
// and the test of one request against them. A request is "good" when it completed and meets
// every objective given: its TTFT, its TPOT (requests of one output token have none and pass
// it), its end-to-end latency and its largest inter-token gap are each at most the bound.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loadtest/metrics/request_record.h"

namespace strata::loadtest {

struct Slo {
  std::optional<double> ttft_s, tpot_s, e2e_s, itl_s;
  bool empty() const { return !ttft_s && !tpot_s && !e2e_s && !itl_s; }
  // "ttft=200ms,tpot=20ms" (canonical form, milliseconds).
  std::string ToString() const;
};

// Durations take a unit: us, ms, s (e.g. "200ms", "1.5s"); keys ttft, tpot, e2e (or e2el),
// itl. Repeated keys are errors.
absl::StatusOr<Slo> ParseSlo(absl::string_view text);
// A duration such as "200ms" in seconds.
absl::StatusOr<double> ParseDuration(absl::string_view text);

bool MeetsSlo(const RequestRecord& record, const Slo& slo);

}  // namespace strata::loadtest
