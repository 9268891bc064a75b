#include "tests/server/grpc/test_server.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "worker/cpu_worker.h"

namespace strata::server::testing {
namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

// Generates the model into a private directory, then renames it into place, so that test
// processes running at once never see a half-written model.
std::string GenerateTinyModel(std::string* why) {
  namespace fs = std::filesystem;
  const std::string binary_dir = EnvOr("STRATA_BINARY_DIR", "build");
  const std::string mkmodel = binary_dir + "/bin/strata-mkmodel";
  const std::string dir = binary_dir + "/tests/grpc_tiny_model";
  if (fs::exists(dir + "/tokenizer.json")) return dir;
  if (!fs::exists(mkmodel)) {
    *why = "strata-mkmodel is not built (" + mkmodel + "): no tokenizer for the gRPC tests";
    return "";
  }
  const std::string tmp = dir + ".tmp." + std::to_string(getpid());
  const std::string command = "'" + mkmodel + "' --shape tiny --seed 0 --quiet --force --out '" +
                              tmp + "' > '" + tmp + ".log' 2>&1";
  if (std::system(command.c_str()) != 0) {
    *why = "strata-mkmodel failed; see " + tmp + ".log";
    return "";
  }
  std::error_code error;
  fs::rename(tmp, dir, error);
  if (error) fs::remove_all(tmp);  // another process got there first
  fs::remove(tmp + ".log");
  if (!fs::exists(dir + "/tokenizer.json")) {
    *why = "strata-mkmodel wrote no tokenizer.json into " + dir;
    return "";
  }
  return dir;
}

}  // namespace

std::string ReferenceModelDir() {
  return EnvOr("STRATA_SOURCE_DIR", ".") + std::string("/tests/fixtures/reference/qwen3");
}

std::string TinyModelDir(std::string* why) {
  static std::mutex mutex;
  static std::string dir, reason;
  static bool done = false;
  std::lock_guard lock(mutex);
  if (!done) {
    dir = GenerateTinyModel(&reason);
    done = true;
  }
  if (dir.empty()) *why = reason;
  return dir;
}

const Tokenizer* SharedTokenizer(std::string* why) {
  static std::mutex mutex;
  static std::unique_ptr<Tokenizer> tokenizer;
  static std::string reason;
  static bool done = false;
  std::lock_guard lock(mutex);
  if (!done) {
    done = true;
    const std::string dir = TinyModelDir(&reason);
    if (!dir.empty()) {
      auto loaded = Tokenizer::Load(dir);
      if (loaded.ok()) {
        tokenizer = std::move(*loaded);
      } else {
        reason = "cannot load the tiny model's tokenizer: " + loaded.status().ToString();
      }
    }
  }
  if (tokenizer == nullptr) *why = reason;
  return tokenizer.get();
}

TestServer::TestServer(TestServerOptions options) {
  std::string why;
  tokenizer_ = SharedTokenizer(&why);
  if (tokenizer_ == nullptr) {
    ADD_FAILURE() << why;
    return;
  }
  const std::string dir = options.model_dir.empty() ? ReferenceModelDir() : options.model_dir;
  auto worker = worker::CpuWorker::Create(
      dir, {.block_size = 16, .num_blocks = options.num_blocks, .num_threads = 2});
  if (!worker.ok()) {
    ADD_FAILURE() << worker.status();
    return;
  }
  loop_ = std::make_unique<scheduler::EngineLoop>(
      std::move(*worker), scheduler::EngineOptions{.max_num_seqs = 8, .max_batch_tokens = 256},
      scheduler::EngineLoopOptions{.max_queued_requests = options.max_queued_requests});
  loop_->Start();
  generation_ = std::make_unique<GenerationService>(loop_.get(), tokenizer_);
  config::ServerOptions server_options = options.server;
  server_options.host = "127.0.0.1";
  server_options.grpc_port = 0;
  server_options.api_key = options.api_key;
  auto server = GrpcServer::Start(server_options, generation_.get(), "test-model");
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return;
  }
  server_ = std::move(*server);
  channel_ = NewChannel(options.credentials != nullptr ? options.credentials
                                                       : grpc::InsecureChannelCredentials());
  stub_ = strata::v1::Strata::NewStub(channel_);
}

std::shared_ptr<grpc::Channel> TestServer::NewChannel(
    std::shared_ptr<grpc::ChannelCredentials> credentials) const {
  grpc::ChannelArguments arguments;
  arguments.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()), credentials,
                                   arguments);
}

TestServer::~TestServer() {
  // Streams first, then the generation layer, then the engine.
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_.reset();
  generation_.reset();
  loop_.reset();
}

bool TestServer::WaitIdle(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const scheduler::EngineMetricsSnapshot m = loop_->Metrics();
    if (m.num_requests_running == 0 && m.num_requests_waiting == 0 && m.kv_blocks_used == 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

StreamResult Generate(strata::v1::Strata::Stub& stub, const strata::v1::GenerateRequest& request,
                      const std::string& api_key) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  if (!api_key.empty()) context.AddMetadata("authorization", "Bearer " + api_key);
  StreamResult result;
  auto reader = stub.Generate(&context, request);
  strata::v1::GenerateResponse response;
  while (reader->Read(&response)) {
    result.tokens.insert(result.tokens.end(), response.token_ids().begin(),
                         response.token_ids().end());
    result.text += response.text();
    result.messages.push_back(response);
  }
  result.status = reader->Finish();
  return result;
}

strata::v1::GenerateRequest GreedyRequest(int32_t max_tokens) {
  strata::v1::GenerateRequest request;
  for (int32_t id : {5, 6, 7}) request.mutable_token_ids()->add_ids(id);
  request.mutable_sampling()->set_temperature(0.0f);
  request.set_max_tokens(max_tokens);
  request.set_ignore_eos(true);
  return request;
}

}  // namespace strata::server::testing
