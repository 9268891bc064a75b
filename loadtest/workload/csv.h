// Splitting one CSV line into fields (RFC 4180 quoting: "a ""b""",c). Quoted fields may not
// span lines; trace files never need that.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace strata::loadtest {

std::vector<std::string> SplitCsvLine(std::string_view line);

}  // namespace strata::loadtest
