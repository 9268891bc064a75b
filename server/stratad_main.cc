// stratad: the Strata daemon.
//
//   stratad --config FILE [--set key.path=value ...] [--print-config]
//   stratad --config FILE --prompt TEXT [--max-tokens N] [--temperature T] [--seed S]
//
// Serves the OpenAI HTTP API and the gRPC API until SIGTERM / SIGINT. With --prompt it
// completes TEXT (no chat template), streams the completion to stdout and exits.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "config/strata_config.h"
#include "scheduler/engine.h"
#include "server/daemon.h"
#include "server/tokenizer/tokenizer.h"
#include "server/worker_factory.h"

namespace strata::server {
namespace {

struct CommandLine {
  std::string config_path;
  std::vector<std::string> overrides;
  std::optional<std::string> prompt;
  int32_t max_tokens = 64;
  float temperature = 0.0f;
  std::optional<uint64_t> seed;
  bool print_config = false;
};

constexpr char kUsage[] =
    "usage: stratad --config FILE [--set key.path=value ...] [--print-config]\n"
    "       stratad --config FILE --prompt TEXT [--max-tokens N] [--temperature T] [--seed S]\n";

absl::StatusOr<CommandLine> ParseCommandLine(int argc, char** argv) {
  CommandLine cl;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> absl::StatusOr<std::string> {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
      return std::string(argv[++i]);
    };
    auto number_error = [&](const std::string& v) {
      return absl::InvalidArgumentError(absl::StrCat(arg, ": not a valid number: '", v, "'"));
    };
    if (arg == "--config") {
      auto v = value();
      if (!v.ok()) return v.status();
      cl.config_path = *v;
    } else if (arg == "--set") {
      auto v = value();
      if (!v.ok()) return v.status();
      cl.overrides.push_back(*v);
    } else if (arg == "--prompt") {
      auto v = value();
      if (!v.ok()) return v.status();
      cl.prompt = *v;
    } else if (arg == "--max-tokens") {
      auto v = value();
      if (!v.ok()) return v.status();
      if (!absl::SimpleAtoi(*v, &cl.max_tokens) || cl.max_tokens < 1) return number_error(*v);
    } else if (arg == "--temperature") {
      auto v = value();
      if (!v.ok()) return v.status();
      if (!absl::SimpleAtof(*v, &cl.temperature) || cl.temperature < 0) return number_error(*v);
    } else if (arg == "--seed") {
      auto v = value();
      if (!v.ok()) return v.status();
      uint64_t seed;
      if (!absl::SimpleAtoi(*v, &seed)) return number_error(*v);
      cl.seed = seed;
    } else if (arg == "--print-config") {
      cl.print_config = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument '", arg, "'"));
    }
  }
  return cl;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "stratad: %s\n", std::string(status.message()).c_str());
  return 1;
}

int CompletePrompt(const config::StrataConfig& config, const CommandLine& cl) {
  const std::string& tokenizer_dir =
      config.model.tokenizer_path.empty() ? config.model.path : config.model.tokenizer_path;
  auto tokenizer = Tokenizer::Load(tokenizer_dir);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  auto worker = CreateWorker(config);
  if (!worker.ok()) return Fail(worker.status());
  scheduler::Engine engine(worker->get(), EngineOptionsFrom(config));

  scheduler::Request request;
  request.id = 1;
  request.prompt_tokens = (*tokenizer)->EncodeWithSpecial(*cl.prompt);
  request.max_tokens = cl.max_tokens;
  request.sampling.temperature = cl.temperature;
  request.sampling.seed = cl.seed ? *cl.seed : std::random_device{}();
  if (absl::Status s = engine.AddRequest(request); !s.ok()) return Fail(s);

  IncrementalDecoder decoder(**tokenizer, /*skip_special_tokens=*/true);
  while (engine.HasWork()) {
    auto outputs = engine.Step();
    if (!outputs.ok()) return Fail(outputs.status());
    for (const scheduler::RequestOutput& out : *outputs) {
      for (const worker::SampledToken& t : out.tokens) std::cout << decoder.Push(t.token);
      std::cout << std::flush;
      if (out.finish != scheduler::FinishReason::kNone) {
        std::cout << decoder.Finish() << std::endl;
        std::fprintf(stderr, "stratad: %d prompt tokens, %d completion tokens, finish_reason %s\n",
                     out.prompt_tokens, out.completion_tokens, FinishReasonName(out.finish));
      }
    }
  }
  return 0;
}

int Main(int argc, char** argv) {
  auto cl = ParseCommandLine(argc, argv);
  if (!cl.ok()) {
    std::fprintf(stderr, "stratad: %s\n%s", std::string(cl.status().message()).c_str(), kUsage);
    return 2;
  }
  auto config = config::LoadConfig(cl->config_path, cl->overrides);
  if (!config.ok()) return Fail(config.status());
  if (cl->print_config) {
    std::cout << config::ToYaml(*config);
    return 0;
  }
  if (auto level = ParseLogLevel(config->server.log_level); level.ok()) SetLogLevel(*level);
  if (cl->prompt) return CompletePrompt(*config, *cl);
  return RunDaemon(*config);
}

}  // namespace
}  // namespace strata::server

int main(int argc, char** argv) { return strata::server::Main(argc, argv); }
