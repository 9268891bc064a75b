// Summary statistics of a sample: mean, standard deviation, extremes and percentiles.
// Percentiles interpolate linearly between the closest ranks (numpy's default, as vLLM's
// benchmark reports them): the p-th percentile of sorted x[0..n-1] is at rank p/100*(n-1).
#pragma once

#include <cstdint>
#include <vector>

namespace strata::loadtest {

struct Summary {
  int64_t count = 0;
  double mean = 0, stddev = 0, min = 0, max = 0;
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0;
};

// `sorted` ascending and non-empty; p in [0, 100].
double PercentileOfSorted(const std::vector<double>& sorted, double p);
// Summary of `values` (any order); all zeros with count 0 when empty.
Summary Summarize(std::vector<double> values);

}  // namespace strata::loadtest
