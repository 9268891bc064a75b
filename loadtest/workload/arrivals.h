// When each request is sent, as offsets in seconds from the start of the measured run:
//   kAllAtOnce  every request at 0 (the concurrency cap then paces them)
//   kConstant   one every 1/rate seconds
//   kPoisson    exponential gaps with mean 1/rate
//   kGamma      gamma gaps with mean 1/rate and shape = burstiness: the coefficient of
//               variation is 1/sqrt(burstiness); 1 is Poisson, < 1 burstier, > 1 smoother
//   kRecorded   the trace's own arrival times multiplied by time_scale (0.5: twice as fast)
// Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loadtest/workload/request_spec.h"

namespace strata::loadtest {

enum class ArrivalKind { kAllAtOnce, kConstant, kPoisson, kGamma, kRecorded };

struct ArrivalOptions {
  ArrivalKind kind = ArrivalKind::kAllAtOnce;
  double rate = 0;        // requests per second (kConstant, kPoisson, kGamma)
  double burstiness = 1;  // kGamma's shape
  double time_scale = 1;  // kRecorded
};

absl::StatusOr<ArrivalKind> ParseArrivalKind(absl::string_view name);
std::string ArrivalKindName(ArrivalKind kind);

// Offsets for `n` requests (sorted, the first at 0 except kRecorded, which keeps the trace's
// first offset, 0 after import). kRecorded takes the offsets from `specs` (every spec needs
// arrival_s); the others ignore `specs`.
absl::StatusOr<std::vector<double>> ArrivalOffsets(const ArrivalOptions& options, size_t n,
                                                   const std::vector<RequestSpec>& specs,
                                                   uint64_t seed);

}  // namespace strata::loadtest
