#include "loadtest/report/html_report.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "loadtest/metrics/stats.h"

namespace strata::loadtest {

using json = nlohmann::json;

namespace {

constexpr size_t kCdfPoints = 800;
constexpr size_t kScatterPoints = 4000;

// [[value, cumulative fraction], ...] at most kCdfPoints quantiles of `values`.
json CdfPoints(std::vector<double> values) {
  json points = json::array();
  if (values.empty()) return points;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const size_t k = std::min(n, kCdfPoints);
  for (size_t j = 0; j < k; ++j) {
    const double q = k == 1 ? 1.0 : static_cast<double>(j) / static_cast<double>(k - 1);
    const size_t i = std::min(n - 1, static_cast<size_t>(std::llround(q * (n - 1))));
    points.push_back(
        {std::round(values[i] * 1e3) / 1e3, static_cast<double>(i + 1) / static_cast<double>(n)});
  }
  return points;
}

double Number(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

}  // namespace

json HtmlReportData(const std::vector<json>& results, const std::vector<std::string>& names) {
  json runs = json::array();
  for (size_t r = 0; r < results.size(); ++r) {
    const json& result = results[r];
    std::vector<double> ttft, tpot, itl, e2e;
    json scatter = json::array();
    const json& requests = result.value("requests", json::array());
    const size_t stride = std::max<size_t>(1, requests.size() / kScatterPoints);
    size_t seen = 0;
    for (const json& q : requests) {
      if (q.contains("error")) continue;
      const double t = Number(q, "ttft_ms");
      if (!std::isnan(t)) ttft.push_back(t);
      const double p = Number(q, "tpot_ms");
      if (!std::isnan(p)) tpot.push_back(p);
      const double e = Number(q, "e2e_ms");
      if (!std::isnan(e)) e2e.push_back(e);
      if (q.contains("itl_ms") && q["itl_ms"].is_array()) {
        for (const json& g : q["itl_ms"]) {
          if (g.is_number()) itl.push_back(g.get<double>());
        }
      }
      double prompt = Number(q, "prompt_tokens");
      if (std::isnan(prompt)) prompt = Number(q, "prompt_len");
      if (!std::isnan(t) && !std::isnan(prompt) && seen++ % stride == 0) {
        scatter.push_back({prompt, t});
      }
    }
    json summary = json::object();
    for (const char* key : {"completed",
                            "failed",
                            "not_sent",
                            "duration_s",
                            "total_input_tokens",
                            "total_output_tokens",
                            "request_throughput_req_s",
                            "output_throughput_tok_s",
                            "total_throughput_tok_s",
                            "max_in_flight",
                            "goodput_req_s",
                            "goodput_fraction",
                            "ttft_ms",
                            "tpot_ms",
                            "itl_ms",
                            "e2e_ms",
                            "errors",
                            "slo",
                            "started_at",
                            "config"}) {
      if (result.contains(key)) summary[key] = result[key];
    }
    runs.push_back({{"name", names[r]},
                    {"summary", summary},
                    {"cdf",
                     {{"ttft", CdfPoints(ttft)},
                      {"tpot", CdfPoints(tpot)},
                      {"itl", CdfPoints(itl)},
                      {"e2e", CdfPoints(e2e)}}},
                    {"timeline", result.value("timeline", json::object())},
                    {"ttft_vs_prompt", scatter}});
  }
  return {{"runs", runs}};
}

std::string HtmlReport(const std::vector<json>& results, const std::vector<std::string>& names) {
  std::string data = HtmlReportData(results, names).dump();
  // '<' only occurs inside JSON strings, where \u003c means the same: nothing in the data can
  // end the <script> element that holds it.
  std::string safe;
  safe.reserve(data.size());
  for (char c : data) {
    if (c == '<') {
      safe += "\\u003c";
    } else {
      safe += c;
    }
  }
  std::string page = HtmlTemplate();
  constexpr std::string_view kPlaceholder = "@@DATA@@";
  const size_t at = page.find(kPlaceholder);
  page.replace(at, kPlaceholder.size(), safe);
  return page;
}

}  // namespace strata::loadtest
