#include "server/metrics/prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>

#include "base/check.h"

namespace strata::server {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || c == ':' || (i > 0 && IsAsciiDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || (i > 0 && IsAsciiDigit(c));
    if (!ok) return false;
  }
  return true;
}

// HELP text: backslash and line feed escaped.
std::string EscapeHelp(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Label values: backslash, double quote and line feed escaped.
void AppendLabelValue(std::string_view value, std::string& out) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  STRATA_CHECK(result.ec == std::errc()) << "cannot format " << value;
  return std::string(buffer, result.ptr);
}

// {a="x",b="y"} plus an optional trailing le="..."; nothing when there are no labels.
std::string RenderLabels(const MetricLabels& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    AppendLabelValue(value, out);
    out += '"';
  }
  if (le != nullptr) {
    if (!first) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
  return out;
}

void AppendSample(std::string_view name, const std::string& labels, const std::string& value,
                  std::string& out) {
  out += name;
  out += labels;
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

PrometheusText::Family& PrometheusText::AddSample(std::string_view name, std::string_view help,
                                                  Type type, const MetricLabels& labels) {
  STRATA_CHECK(IsValidMetricName(name)) << "invalid metric name '" << name << "'";
  if (type == Type::kCounter) {
    STRATA_CHECK(name.ends_with("_total")) << "counter '" << name << "' must end in _total";
  }
  std::vector<std::string_view> label_names;
  for (const auto& [label, value] : labels) {
    STRATA_CHECK(IsValidLabelName(label)) << "invalid label name '" << label << "' on " << name;
    STRATA_CHECK(type != Type::kHistogram || label != "le")
        << "histogram '" << name << "' has its own le label";
    label_names.push_back(label);
  }
  std::sort(label_names.begin(), label_names.end());
  STRATA_CHECK(std::adjacent_find(label_names.begin(), label_names.end()) == label_names.end())
      << "repeated label name on " << name;

  size_t index;
  if (auto it = family_index_.find(name); it != family_index_.end()) {
    index = it->second;
    const Family& family = families_[index];
    STRATA_CHECK(family.type == type) << "metric '" << name << "' added with two types";
    STRATA_CHECK(family.help == help) << "metric '" << name << "' added with two help texts";
  } else {
    index = families_.size();
    std::vector<std::string> sample_names;
    if (type == Type::kHistogram) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        sample_names.push_back(std::string(name) + suffix);
      }
    } else {
      sample_names.emplace_back(name);
    }
    for (const std::string& sample : sample_names) {
      STRATA_CHECK(!sample_names_.contains(sample))
          << "metric '" << name << "' clashes with the samples of '"
          << families_[sample_names_.find(sample)->second].name << "'";
    }
    for (std::string& sample : sample_names) sample_names_.emplace(std::move(sample), index);
    family_index_.emplace(std::string(name), index);
    families_.push_back(Family{std::string(name), std::string(help), type, "", {}});
  }

  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  const bool inserted = families_[index].label_sets.insert(RenderLabels(sorted)).second;
  STRATA_CHECK(inserted) << "metric '" << name << "' written twice with the same labels";
  return families_[index];
}

void PrometheusText::Gauge(std::string_view name, std::string_view help, double value,
                           const MetricLabels& labels) {
  Family& family = AddSample(name, help, Type::kGauge, labels);
  AppendSample(name, RenderLabels(labels), FormatValue(value), family.samples);
}

void PrometheusText::Counter(std::string_view name, std::string_view help, double value,
                             const MetricLabels& labels) {
  STRATA_CHECK(value >= 0) << "counter '" << name << "' has value " << value;
  Family& family = AddSample(name, help, Type::kCounter, labels);
  AppendSample(name, RenderLabels(labels), FormatValue(value), family.samples);
}

void PrometheusText::Histogram(std::string_view name, std::string_view help,
                               const strata::Histogram& histogram, const MetricLabels& labels) {
  const std::vector<double>& bounds = histogram.bounds();
  for (size_t i = 0; i < bounds.size(); ++i) {
    STRATA_CHECK(std::isfinite(bounds[i]))
        << "histogram '" << name << "' has a bound " << bounds[i];
    STRATA_CHECK(i == 0 || bounds[i - 1] < bounds[i])
        << "histogram '" << name << "' bounds do not strictly ascend";
  }
  Family& family = AddSample(name, help, Type::kHistogram, labels);
  const std::vector<uint64_t> cumulative = histogram.CumulativeCounts();
  STRATA_CHECK_EQ(cumulative.size(), bounds.size() + 1);
  STRATA_CHECK_EQ(cumulative.back(), histogram.count());

  const std::string bucket_name = std::string(name) + "_bucket";
  for (size_t i = 0; i <= bounds.size(); ++i) {
    const std::string le = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    AppendSample(bucket_name, RenderLabels(labels, &le), std::to_string(cumulative[i]),
                 family.samples);
  }
  const std::string rendered = RenderLabels(labels);
  AppendSample(std::string(name) + "_sum", rendered, FormatValue(histogram.sum()), family.samples);
  AppendSample(std::string(name) + "_count", rendered, std::to_string(histogram.count()),
               family.samples);
}

std::string PrometheusText::Finish() {
  std::string out;
  for (const Family& family : families_) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    out += EscapeHelp(family.help);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    switch (family.type) {
      case Type::kGauge:
        out += "gauge";
        break;
      case Type::kCounter:
        out += "counter";
        break;
      case Type::kHistogram:
        out += "histogram";
        break;
    }
    out += '\n';
    out += family.samples;
  }
  families_.clear();
  family_index_.clear();
  sample_names_.clear();
  return out;
}

}  // namespace strata::server
