// Range and consistency checks for a StrataConfig. ParseConfig and LoadConfig call these;
// code that builds a StrataConfig by hand (tests, embedders) can call them directly.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "config/strata_config.h"

namespace strata::config {

// Every violated rule as "key.path: reason", in schema order; empty when valid.
std::vector<std::string> ValidationErrors(const StrataConfig& config);

// OK, or InvalidArgument with ValidationErrors() joined one per line.
absl::Status ValidateConfig(const StrataConfig& config);

}  // namespace strata::config
