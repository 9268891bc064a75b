// The sub-commands of strata-loadtest. Each returns the process exit code: 0 done, 1 a
// setup or I/O error (printed), 2 a usage error.
#pragma once

#include <string>
#include <vector>

namespace strata::loadtest {

int RunCommand(const std::vector<std::string>& args);
int CompareCommand(const std::vector<std::string>& args);
int ReportCommand(const std::vector<std::string>& args);

}  // namespace strata::loadtest
