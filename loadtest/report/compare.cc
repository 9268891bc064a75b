#include "loadtest/report/compare.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace strata::loadtest {

using json = nlohmann::json;

namespace {

struct Row {
  std::string label;
  std::string key;  // top-level key, or "ttft_ms.p99"
  bool integer = false;
};

const json* Find(const json& r, const std::string& key) {
  const size_t dot = key.find('.');
  if (dot == std::string::npos) {
    const auto it = r.find(key);
    return it == r.end() ? nullptr : &*it;
  }
  const auto it = r.find(key.substr(0, dot));
  if (it == r.end() || !it->is_object()) return nullptr;
  const auto inner = it->find(key.substr(dot + 1));
  return inner == it->end() ? nullptr : &*inner;
}

}  // namespace

std::string CompareTable(const std::vector<json>& results, const std::vector<std::string>& names) {
  std::vector<Row> rows = {
      {"completed", "completed", true},
      {"failed", "failed", true},
      {"duration (s)", "duration_s"},
      {"request throughput (req/s)", "request_throughput_req_s"},
      {"output throughput (tok/s)", "output_throughput_tok_s"},
      {"total throughput (tok/s)", "total_throughput_tok_s"},
      {"goodput (req/s)", "goodput_req_s"},
  };
  for (const char* metric : {"ttft", "tpot", "itl", "e2e"}) {
    for (const char* stat : {"mean", "p50", "p90", "p99", "p99.9"}) {
      rows.push_back(
          {absl::StrFormat("%s %s (ms)", metric, stat), absl::StrFormat("%s_ms.%s", metric, stat)});
    }
  }
  std::string out = "| figure | " + absl::StrJoin(names, " | ") + " |\n|---|";
  for (size_t i = 0; i < names.size(); ++i) out += "---:|";
  out += "\n";
  for (const Row& row : rows) {
    std::vector<std::string> cells;
    const json* base = Find(results[0], row.key);
    bool any = false;
    for (size_t i = 0; i < results.size(); ++i) {
      const json* v = Find(results[i], row.key);
      if (v == nullptr || !v->is_number()) {
        cells.push_back("–");
        continue;
      }
      any = true;
      const double x = v->get<double>();
      std::string cell =
          row.integer ? absl::StrFormat("%d", static_cast<int64_t>(x)) : absl::StrFormat("%.3f", x);
      if (i > 0 && base != nullptr && base->is_number() && base->get<double>() != 0) {
        const double change = (x / base->get<double>() - 1) * 100;
        if (std::isfinite(change)) cell += absl::StrFormat(" (%+.1f%%)", change);
      }
      cells.push_back(cell);
    }
    if (!any) continue;
    out += "| " + row.label + " | " + absl::StrJoin(cells, " | ") + " |\n";
  }
  return out;
}

}  // namespace strata::loadtest
