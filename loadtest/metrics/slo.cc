#include "loadtest/metrics/slo.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace strata::loadtest {

absl::StatusOr<double> ParseDuration(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  double scale;
  absl::string_view number = text;
  if (absl::ConsumeSuffix(&number, "us")) {
    scale = 1e-6;
  } else if (absl::ConsumeSuffix(&number, "ms")) {
    scale = 1e-3;
  } else if (absl::ConsumeSuffix(&number, "s")) {
    scale = 1;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("duration '", text, "': needs a unit (us, ms or s), e.g. 200ms"));
  }
  double value;
  if (!absl::SimpleAtod(number, &value) || !std::isfinite(value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("duration '", text, "': not a number >= 0"));
  }
  return value * scale;
}

absl::StatusOr<Slo> ParseSlo(absl::string_view text) {
  Slo slo;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    const std::vector<absl::string_view> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("slo '", item, "': expected KEY=DURATION"));
    }
    const absl::string_view key = absl::StripAsciiWhitespace(kv[0]);
    absl::StatusOr<double> value = ParseDuration(kv[1]);
    if (!value.ok()) return value.status();
    std::optional<double>* field = nullptr;
    if (key == "ttft") {
      field = &slo.ttft_s;
    } else if (key == "tpot") {
      field = &slo.tpot_s;
    } else if (key == "e2e" || key == "e2el") {
      field = &slo.e2e_s;
    } else if (key == "itl") {
      field = &slo.itl_s;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("slo key '", key, "': expected ttft, tpot, e2e or itl"));
    }
    if (field->has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("slo key '", key, "' given twice"));
    }
    *field = *value;
  }
  if (slo.empty()) return absl::InvalidArgumentError("slo: no objective given");
  return slo;
}

std::string Slo::ToString() const {
  std::vector<std::string> parts;
  auto add = [&](const char* key, const std::optional<double>& v) {
    if (v) parts.push_back(absl::StrCat(key, "=", *v * 1e3, "ms"));
  };
  add("ttft", ttft_s);
  add("tpot", tpot_s);
  add("e2e", e2e_s);
  add("itl", itl_s);
  return absl::StrJoin(parts, ",");
}

bool MeetsSlo(const RequestRecord& record, const Slo& slo) {
  if (!record.ok()) return false;
  if (slo.ttft_s && (!record.ttft_s || *record.ttft_s > *slo.ttft_s)) return false;
  if (slo.tpot_s) {
    const std::optional<double> tpot = record.tpot_s();
    if (tpot && *tpot > *slo.tpot_s) return false;
  }
  if (slo.e2e_s && record.e2e_s() > *slo.e2e_s) return false;
  if (slo.itl_s && !record.itl_s.empty() &&
      *std::max_element(record.itl_s.begin(), record.itl_s.end()) > *slo.itl_s) {
    return false;
  }
  return true;
}

}  // namespace strata::loadtest
