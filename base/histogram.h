// A cumulative histogram with fixed upper bounds, as Prometheus exposes them. Not
// thread-safe: the owner serializes access (copy it to hand a snapshot to another thread).
#pragma once

#include <cstdint>
#include <vector>

namespace strata {

class Histogram {
 public:
  // `bounds` ascending; an implicit +Inf bucket follows the last.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // counts()[i]: observations <= bounds()[i] (cumulative); the last entry is +Inf (= count).
  std::vector<uint64_t> CumulativeCounts() const;
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> buckets_;  // per bucket, not cumulative; size bounds + 1
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

}  // namespace strata
