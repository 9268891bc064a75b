// The serving daemon: loads the model, starts the engine thread and both frontends (HTTP and
// gRPC), and shuts down gracefully on SIGTERM / SIGINT: stop admitting, let in-flight
// requests finish up to server.shutdown_timeout_seconds, then stop everything.
#pragma once

#include "config/strata_config.h"

namespace strata::server {

// Runs until a termination signal; returns the process exit code (0 after a clean drain).
int RunDaemon(const config::StrataConfig& config);

}  // namespace strata::server
