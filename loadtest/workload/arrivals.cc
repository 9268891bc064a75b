#include "loadtest/workload/arrivals.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "loadtest/random.h"

namespace strata::loadtest {

absl::StatusOr<ArrivalKind> ParseArrivalKind(absl::string_view name) {
  if (name == "all-at-once" || name == "burst") return ArrivalKind::kAllAtOnce;
  if (name == "constant") return ArrivalKind::kConstant;
  if (name == "poisson") return ArrivalKind::kPoisson;
  if (name == "gamma") return ArrivalKind::kGamma;
  if (name == "trace" || name == "recorded") return ArrivalKind::kRecorded;
  return absl::InvalidArgumentError(absl::StrCat(
      "arrival '", name, "': expected all-at-once, constant, poisson, gamma or trace"));
}

std::string ArrivalKindName(ArrivalKind kind) {
  switch (kind) {
    case ArrivalKind::kAllAtOnce:
      return "all-at-once";
    case ArrivalKind::kConstant:
      return "constant";
    case ArrivalKind::kPoisson:
      return "poisson";
    case ArrivalKind::kGamma:
      return "gamma";
    case ArrivalKind::kRecorded:
      return "trace";
  }
  return "?";
}

absl::StatusOr<std::vector<double>> ArrivalOffsets(const ArrivalOptions& options, size_t n,
                                                   const std::vector<RequestSpec>& specs,
                                                   uint64_t seed) {
  std::vector<double> offsets;
  offsets.reserve(n);
  const bool needs_rate = options.kind == ArrivalKind::kConstant ||
                          options.kind == ArrivalKind::kPoisson ||
                          options.kind == ArrivalKind::kGamma;
  if (needs_rate && !(options.rate > 0 && std::isfinite(options.rate))) {
    return absl::InvalidArgumentError(
        absl::StrCat(ArrivalKindName(options.kind), " arrivals need a request rate > 0"));
  }
  if (options.kind == ArrivalKind::kGamma && !(options.burstiness > 0)) {
    return absl::InvalidArgumentError("burstiness must be > 0");
  }
  Rng rng(seed ^ 0xa0761d6478bd642full);
  double t = 0;
  for (size_t i = 0; i < n; ++i) {
    switch (options.kind) {
      case ArrivalKind::kAllAtOnce:
        break;
      case ArrivalKind::kConstant:
        t = static_cast<double>(i) / options.rate;
        break;
      case ArrivalKind::kPoisson:
        if (i > 0) t += rng.Exponential() / options.rate;
        break;
      case ArrivalKind::kGamma:
        if (i > 0) {
          // Shape k, scale 1/(rate k): mean 1/rate, variance 1/(k rate^2).
          t += rng.Gamma(options.burstiness) / (options.rate * options.burstiness);
        }
        break;
      case ArrivalKind::kRecorded:
        if (!(options.time_scale > 0)) {
          return absl::InvalidArgumentError("time scale must be > 0");
        }
        if (i >= specs.size() || !specs[i].arrival_s) {
          return absl::InvalidArgumentError(
              "trace arrivals need a trace with arrival times (--trace)");
        }
        t = *specs[i].arrival_s * options.time_scale;
        break;
    }
    offsets.push_back(t);
  }
  return offsets;
}

}  // namespace strata::loadtest
