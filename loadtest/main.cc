// strata-loadtest: trace replay and synthetic load against an OpenAI-compatible server or
// Strata's gRPC API, with latency/throughput reports. See loadtest/README.md.
#include <cstdio>
#include <string>
#include <vector>

#include "loadtest/cli/commands.h"
#include "loadtest/cli/options.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    std::fputs(strata::loadtest::kUsage, stdout);
    return 0;
  }
  if (!args.empty() && args[0] == "compare") {
    return strata::loadtest::CompareCommand({args.begin() + 1, args.end()});
  }
  if (!args.empty() && args[0] == "report") {
    return strata::loadtest::ReportCommand({args.begin() + 1, args.end()});
  }
  if (!args.empty() && args[0] == "run") args.erase(args.begin());
  return strata::loadtest::RunCommand(args);
}
