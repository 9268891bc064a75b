#include "loadtest/workload/length_dist.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/read_file.h"

namespace strata::loadtest {
namespace {

absl::Status Invalid(absl::string_view spec, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("length '", spec, "': ", why));
}

bool ParsePair(absl::string_view text, double* a, double* b) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  if (parts.size() != 2) return false;
  return absl::SimpleAtod(absl::StripAsciiWhitespace(parts[0]), a) &&
         absl::SimpleAtod(absl::StripAsciiWhitespace(parts[1]), b);
}

}  // namespace

LengthDist LengthDist::Fixed(int32_t n) {
  LengthDist d;
  d.kind_ = Kind::kFixed;
  d.a_ = n;
  d.spec_ = std::to_string(n);
  return d;
}

absl::StatusOr<LengthDist> LengthDist::Parse(absl::string_view spec) {
  LengthDist d;
  d.spec_ = std::string(spec);
  absl::string_view rest = spec;
  if (absl::ConsumePrefix(&rest, "uniform:")) {
    if (!ParsePair(rest, &d.a_, &d.b_)) return Invalid(spec, "expected uniform:MIN,MAX");
    if (d.a_ < 1 || d.b_ < d.a_ || d.a_ != std::floor(d.a_) || d.b_ != std::floor(d.b_)) {
      return Invalid(spec, "expected integers 1 <= MIN <= MAX");
    }
    d.kind_ = Kind::kUniform;
    return d;
  }
  if (absl::ConsumePrefix(&rest, "normal:")) {
    if (!ParsePair(rest, &d.a_, &d.b_)) return Invalid(spec, "expected normal:MEAN,STDDEV");
    if (d.a_ < 1 || d.b_ < 0) return Invalid(spec, "expected MEAN >= 1 and STDDEV >= 0");
    d.kind_ = Kind::kNormal;
    return d;
  }
  if (absl::ConsumePrefix(&rest, "hist:")) {
    absl::StatusOr<std::string> text = ReadFileToString(std::string(rest), 64 << 20);
    if (!text.ok()) return Invalid(spec, text.status().message());
    absl::StatusOr<LengthDist> hist = FromHistogramText(*text, rest);
    if (hist.ok()) hist->spec_ = std::string(spec);
    return hist;
  }
  int64_t n;
  if (!absl::SimpleAtoi(spec, &n) || n < 1 || n > (1 << 30)) {
    return Invalid(spec, "expected N >= 1, uniform:MIN,MAX, normal:MEAN,STDDEV or hist:FILE");
  }
  d.kind_ = Kind::kFixed;
  d.a_ = static_cast<double>(n);
  return d;
}

absl::StatusOr<LengthDist> LengthDist::FromHistogramText(absl::string_view text,
                                                         absl::string_view name) {
  LengthDist d;
  d.kind_ = Kind::kHistogram;
  d.spec_ = absl::StrCat("hist:", name);
  double total = 0;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::ByAnyChar(", \t"), absl::SkipEmpty());
    int64_t length;
    double weight;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &length) ||
        !absl::SimpleAtod(parts[1], &weight)) {
      // A header line ("length,count") is allowed as the first entry.
      if (d.values_.empty() && total == 0 && parts.size() == 2 &&
          !absl::SimpleAtoi(parts[0], &length)) {
        continue;
      }
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", line_no, ": expected 'length weight', got '", line, "'"));
    }
    if (length < 1 || weight < 0 || !std::isfinite(weight)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", line_no, ": length must be >= 1 and weight >= 0"));
    }
    if (weight == 0) continue;
    total += weight;
    d.values_.push_back(static_cast<int32_t>(length));
    d.cumulative_.push_back(total);
  }
  if (d.values_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": no length with a positive weight"));
  }
  return d;
}

int32_t LengthDist::Sample(Rng& rng) const {
  switch (kind_) {
    case Kind::kFixed:
      return static_cast<int32_t>(a_);
    case Kind::kUniform:
      return static_cast<int32_t>(
          rng.UniformInt(static_cast<int64_t>(a_), static_cast<int64_t>(b_)));
    case Kind::kNormal: {
      const double x = std::round(a_ + b_ * rng.Normal());
      return static_cast<int32_t>(std::clamp(x, 1.0, 1e9));
    }
    case Kind::kHistogram: {
      const double u = rng.Uniform() * cumulative_.back();
      const size_t i =
          std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin();
      return values_[std::min(i, values_.size() - 1)];
    }
  }
  return 1;
}

double LengthDist::Mean() const {
  switch (kind_) {
    case Kind::kFixed:
    case Kind::kNormal:  // the clamp at 1 is ignored
      return a_;
    case Kind::kUniform:
      return (a_ + b_) / 2;
    case Kind::kHistogram: {
      double sum = 0, prev = 0;
      for (size_t i = 0; i < values_.size(); ++i) {
        sum += values_[i] * (cumulative_[i] - prev);
        prev = cumulative_[i];
      }
      return sum / cumulative_.back();
    }
  }
  return 0;
}

}  // namespace strata::loadtest
