// The self-contained HTML report of one or more runs: a summary table, latency CDFs (TTFT,
// TPOT, ITL, end-to-end), output throughput, completions and requests in flight over time,
// and TTFT against prompt length, drawn as inline SVG by an inline script from data embedded
// in the page. No network access, no external files. When the script has drawn everything
// it sets <body data-rendered="ok"> (and "error: ..." on a script error), which the
// headless-browser test reads.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace strata::loadtest {

// `results`: result JSON objects (ResultJson); `names`: one label per run.
std::string HtmlReport(const std::vector<nlohmann::json>& results,
                       const std::vector<std::string>& names);

// The data the page's script draws from (exposed for tests): per run, its summary, sampled
// CDF points, time series and (prompt tokens, TTFT) points.
nlohmann::json HtmlReportData(const std::vector<nlohmann::json>& results,
                              const std::vector<std::string>& names);

// The page template with the data placeholder (html_template.cc).
const char* HtmlTemplate();

}  // namespace strata::loadtest
