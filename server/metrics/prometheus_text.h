// A writer for the Prometheus text exposition format, version 0.0.4: HELP and TYPE lines,
// samples grouped by family, escaped label values and help text, histograms as cumulative
// _bucket{le=...} lines ending in le="+Inf", then _sum and _count.
//
// Names are checked (STRATA_CHECK: a bad name is a programming error): metric names match
// [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__",
// counters end in "_total", histograms carry no "le" label of their own, a family keeps one
// type and one help text, and no two samples of a family have the same label set.
//
// Values: NaN, +Inf and -Inf as such; integral values below 1e15 in magnitude as integers
// ("3", "2560"); everything else in the shortest form that reads back to the same double
// ("0.25", "1e-05"). Bucket bounds in le="..." are written the same way.
//
// Not thread-safe; build one per scrape.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/histogram.h"

namespace strata::server {

// The Content-Type of a response that carries this format.
inline constexpr char kPrometheusTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Label name and value pairs, written in this order.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class PrometheusText {
 public:
  void Gauge(std::string_view name, std::string_view help, double value,
             const MetricLabels& labels = {});
  // `value` must not be negative or NaN.
  void Counter(std::string_view name, std::string_view help, double value,
               const MetricLabels& labels = {});
  // The histogram's bounds must be finite and strictly ascending.
  void Histogram(std::string_view name, std::string_view help, const strata::Histogram& histogram,
                 const MetricLabels& labels = {});

  // The exposition: families in the order first seen, each HELP, TYPE, then its samples in
  // the order added; every line ends in '\n'. Leaves the writer empty.
  std::string Finish();

 private:
  enum class Type { kGauge, kCounter, kHistogram };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::string samples;               // rendered sample lines
    std::set<std::string> label_sets;  // canonical (sorted) label sets already written
  };

  // The family `name`, created on first use; checks names, type, help and label uniqueness.
  Family& AddSample(std::string_view name, std::string_view help, Type type,
                    const MetricLabels& labels);

  std::vector<Family> families_;
  std::map<std::string, size_t, std::less<>> family_index_;
  // Every sample name in use (x, x_total, x_bucket, x_sum, x_count) and its family.
  std::map<std::string, size_t, std::less<>> sample_names_;
};

}  // namespace strata::server
