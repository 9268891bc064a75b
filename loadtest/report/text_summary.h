// The plain-text summary printed at the end of a run (and by `strata-loadtest show`): counts,
// throughput, goodput and the latency table, read from a result JSON object.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace strata::loadtest {

std::string TextSummary(const nlohmann::json& result);

}  // namespace strata::loadtest
