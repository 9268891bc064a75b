#include "server/daemon.h"

#include <pthread.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "base/log.h"
#include "scheduler/engine_loop.h"
#include "server/chat_template/chat_template.h"
#include "server/generation/generation_service.h"
#include "server/grpc/grpc_server.h"
#include "server/http/http_server.h"
#include "server/metrics/engine_metrics_text.h"
#include "server/security/api_keys.h"
#include "server/security/tls_files.h"
#include "server/tokenizer/tokenizer.h"
#include "server/worker_factory.h"

namespace strata::server {
namespace {

using Clock = std::chrono::steady_clock;

int Fail(const absl::Status& status) {
  STRATA_LOG(kError) << status.message();
  return 1;
}

std::string ServedName(const config::StrataConfig& config) {
  if (!config.model.served_name.empty()) return config.model.served_name;
  std::filesystem::path path(config.model.path);
  if (!path.has_filename()) path = path.parent_path();
  return path.filename().string();
}

// Blocks SIGTERM and SIGINT in this thread and every thread it starts, so that WaitForSignal
// receives them synchronously.
sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

int RunDaemon(const config::StrataConfig& config) {
  const sigset_t signals = BlockTerminationSignals();
  // Key and certificate problems fail now, before the model loads. (Each frontend loads
  // them again for itself; the files are small.)
  auto api_keys = security::ApiKeys::Load(config.server);
  if (!api_keys.ok()) return Fail(api_keys.status());
  auto tls_files = security::LoadTlsFiles(config.server);
  if (!tls_files.ok()) return Fail(tls_files.status());
  if (api_keys->enabled()) {
    STRATA_LOG(kInfo) << "API keys required on /v1/* and strata.v1.Strata (" << api_keys->size()
                      << " accepted)";
  }
  const std::string& tokenizer_dir =
      config.model.tokenizer_path.empty() ? config.model.path : config.model.tokenizer_path;
  auto tokenizer = Tokenizer::Load(tokenizer_dir);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  // An unsupported template construct is an error now, not a wrong prompt later.
  std::optional<ChatTemplate> chat_template;
  if (!(*tokenizer)->chat_template().empty()) {
    auto compiled = ChatTemplate::Compile((*tokenizer)->chat_template());
    if (!compiled.ok()) return Fail(compiled.status());
    chat_template = std::move(*compiled);
  } else {
    STRATA_LOG(kWarning) << "the model has no chat template; /v1/chat/completions answers 400";
  }
  auto worker = CreateWorker(config);
  if (!worker.ok()) return Fail(worker.status());
  const worker::MemoryReport memory = (*worker)->memory();
  STRATA_LOG(kInfo) << "memory plan: weights " << memory.weight_bytes << " bytes, KV cache "
                    << memory.kv_cache_bytes << " bytes in " << memory.num_kv_blocks
                    << " blocks of " << memory.block_size << " tokens";

  scheduler::EngineLoop loop(std::move(*worker), EngineOptionsFrom(config),
                             {.max_queued_requests = config.server.max_queued_requests});
  loop.Start();
  GenerationService generation(&loop, tokenizer->get());
  const std::string served_name = ServedName(config);

  http::HttpServices services;
  services.generation = &generation;
  services.chat_template = chat_template ? &*chat_template : nullptr;
  services.served_model_name = served_name;
  services.metrics_renderer = [&loop, memory, served_name] {
    return RenderEngineMetrics(loop.Metrics(), memory, served_name);
  };
  http::HttpServerOptions http_options;
  http_options.io_threads = config.server.http_threads;
  http_options.idle_timeout = Millis(config.server.idle_timeout_seconds);
  http_options.header_timeout = Millis(config.server.header_timeout_seconds);
  http_options.body_timeout = Millis(config.server.body_timeout_seconds);
  auto http_server = http::HttpServer::Start(config.server, std::move(services), http_options);
  if (!http_server.ok()) return Fail(http_server.status());
  auto grpc_server = GrpcServer::Start(config.server, &generation, served_name);
  if (!grpc_server.ok()) return Fail(grpc_server.status());
  const char* grpc_security = !(*grpc_server)->tls()        ? ""
                              : tls_files->value().mutual() ? " (TLS, client certificates)"
                                                            : " (TLS)";
  STRATA_LOG(kInfo) << "serving '" << served_name << "': OpenAI API on "
                    << ((*http_server)->tls() ? "https://" : "http://") << config.server.host << ":"
                    << (*http_server)->port() << "/v1, gRPC" << grpc_security << " on "
                    << config.server.host << ":" << (*grpc_server)->port();

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  const auto grace = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(config.server.shutdown_timeout_seconds));
  STRATA_LOG(kInfo) << "signal " << signal_number << ": draining " << loop.InFlight()
                    << " in-flight requests (up to " << config.server.shutdown_timeout_seconds
                    << " s)";
  (*http_server)->BeginDrain();
  (*grpc_server)->BeginDrain();
  loop.Drain();
  const auto deadline = Clock::now() + grace;
  while (loop.InFlight() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int64_t unfinished = loop.InFlight();
  (*grpc_server)->Shutdown(std::chrono::system_clock::now());
  (*http_server)->Shutdown();
  loop.Stop();
  if (unfinished > 0) {
    STRATA_LOG(kWarning) << unfinished << " requests did not finish before the deadline";
  }
  STRATA_LOG(kInfo) << "stopped";
  return 0;
}

}  // namespace strata::server
