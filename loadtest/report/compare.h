// `strata-loadtest compare`: two or more result files side by side, as a Markdown table
// (one row per figure, one column per run; later runs also show their change against the
// first), and optionally as one HTML report with every run overlaid.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace strata::loadtest {

std::string CompareTable(const std::vector<nlohmann::json>& results,
                         const std::vector<std::string>& names);

}  // namespace strata::loadtest
