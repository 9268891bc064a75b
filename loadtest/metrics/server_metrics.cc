#include "loadtest/metrics/server_metrics.h"

#include <cctype>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace strata::loadtest {
namespace {

std::optional<double> ParseValue(absl::string_view v) {
  if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (v == "+Inf" || v == "Inf") return std::numeric_limits<double>::infinity();
  if (v == "-Inf") return -std::numeric_limits<double>::infinity();
  double d;
  if (!absl::SimpleAtod(v, &d)) return std::nullopt;
  return d;
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}

}  // namespace

std::map<std::string, double> ParsePrometheusText(std::string_view text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i])) ++i;
    if (i == 0) continue;
    const absl::string_view name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {  // labels: skip to the closing brace
      bool quoted = false, closed = false;
      for (++i; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted && c == '\\') {
          ++i;  // the escaped character
        } else if (c == '"') {
          quoted = !quoted;
        } else if (!quoted && c == '}') {
          closed = true;
          ++i;
          break;
        }
      }
      if (!closed) continue;
    }
    if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) continue;  // no value
    const absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(i));
    const size_t end = rest.find_first_of(" \t");
    const std::optional<double> value = ParseValue(rest.substr(0, end));
    if (!value) continue;
    out[std::string(name)] += *value;
  }
  return out;
}

std::optional<double> ServerCounterDeltas::ExpertBytesPerToken() const {
  if (!has_expert_bytes || !has_generation_tokens || expert_weight_bytes <= 0 ||
      generation_tokens <= 0) {
    return std::nullopt;
  }
  return expert_weight_bytes / generation_tokens;
}

ServerCounterDeltas DiffServerCounters(const std::map<std::string, double>& before,
                                       const std::map<std::string, double>& after) {
  ServerCounterDeltas d;
  auto delta = [&](const char* name, bool* has, double* value) {
    const auto a = after.find(name);
    if (a == after.end()) return;
    *has = true;
    const auto b = before.find(name);
    *value = a->second - (b == before.end() ? 0.0 : b->second);
  };
  delta(kExpertBytesMetric, &d.has_expert_bytes, &d.expert_weight_bytes);
  delta(kGenerationTokensMetric, &d.has_generation_tokens, &d.generation_tokens);
  return d;
}

nlohmann::json ServerCountersJson(const ServerCounterDeltas& d) {
  using json = nlohmann::json;
  json j = json::object();
  j["expert_weight_bytes"] = d.has_expert_bytes ? json(d.expert_weight_bytes) : json(nullptr);
  j["generation_tokens"] = d.has_generation_tokens ? json(d.generation_tokens) : json(nullptr);
  const std::optional<double> per_token = d.ExpertBytesPerToken();
  j["expert_weight_bytes_per_token"] =
      per_token ? json(std::round(*per_token * 10) / 10) : json(nullptr);
  return j;
}

}  // namespace strata::loadtest
