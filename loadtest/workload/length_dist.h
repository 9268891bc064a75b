// Distributions of token lengths, parsed from a command-line value:
//   "128"                 fixed
//   "uniform:64,256"      uniform integers in [64, 256]
//   "normal:128,32"       normal with mean 128 and standard deviation 32, rounded, >= 1
//   "hist:FILE"           a histogram file: one "length weight" (or "length,weight") pair a
//                         line, '#' comments; lengths drawn in proportion to their weights
// Immutable after parsing; Sample() takes the caller's Rng.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loadtest/random.h"

namespace strata::loadtest {

class LengthDist {
 public:
  enum class Kind { kFixed, kUniform, kNormal, kHistogram };

  static absl::StatusOr<LengthDist> Parse(absl::string_view spec);
  // The histogram form from the text of a histogram file (`name` labels errors).
  static absl::StatusOr<LengthDist> FromHistogramText(absl::string_view text,
                                                      absl::string_view name);
  static LengthDist Fixed(int32_t n);

  int32_t Sample(Rng& rng) const;
  double Mean() const;
  Kind kind() const { return kind_; }
  // The value as given on the command line (for the result file).
  const std::string& spec() const { return spec_; }

 private:
  Kind kind_ = Kind::kFixed;
  std::string spec_;
  double a_ = 0, b_ = 0;            // fixed: a; uniform: [a, b]; normal: mean a, stddev b
  std::vector<int32_t> values_;     // histogram lengths
  std::vector<double> cumulative_;  // histogram: cumulative weights, last = total
};

}  // namespace strata::loadtest
