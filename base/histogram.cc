#include "base/histogram.h"

#include <algorithm>

#include "base/check.h"

namespace strata {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1, 0) {
  STRATA_CHECK(std::is_sorted(bounds_.begin(), bounds_.end())) << "bounds must ascend";
}

void Histogram::Observe(double value) {
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++buckets_[bucket];
  ++count_;
  sum_ += value;
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> cumulative(buckets_.size());
  uint64_t running = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) cumulative[i] = running += buckets_[i];
  return cumulative;
}

}  // namespace strata
