// strata-openai-test-server: the HTTP serving stack (CpuWorker, EngineLoop,
// GenerationService, HttpServer) on a model directory, for the end-to-end tests.
//
//   strata-openai-test-server --model DIR [--port N] [--api-key KEY] [--api-key-file FILE]
//       [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]] [--max-body-bytes N]
//       [--max-queued N] [--num-blocks N] [--max-num-seqs N] [--io-threads N]
//       [--header-timeout-ms N] [--body-timeout-ms N] [--drain] [--backend cpu|cuda]
//
// --backend cuda (CUDA builds) serves through the CudaWorker on device 0, so the same
// end-to-end suite runs against the GPU path.
// Prints "LISTENING <port>" once serving, and shuts down when stdin reaches end of file.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "tests/server/http/test_stack.h"
#ifdef STRATA_HAVE_CUDA
#include "worker/cuda_worker.h"
#endif

namespace {

int Usage(const std::string& problem) {
  std::fprintf(stderr, "strata-openai-test-server: %s\n", problem.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using strata::server::testing::Stack;
  using strata::server::testing::StackOptions;
  std::string model_dir;
  StackOptions options;
  options.server.host = "127.0.0.1";
  options.server.http_port = 0;
  bool drain = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--drain") {
      drain = true;
      continue;
    }
    if (i + 1 >= argc) return Usage(arg + " needs a value");
    const std::string value = argv[++i];
    int64_t number = 0;
    const bool numeric = absl::SimpleAtoi(value, &number);
    if (arg == "--model") {
      model_dir = value;
    } else if (arg == "--api-key") {
      options.server.api_key = value;
    } else if (arg == "--api-key-file") {
      options.server.api_key_file = value;
    } else if (arg == "--tls-cert") {
      options.server.tls_cert_file = value;
    } else if (arg == "--tls-key") {
      options.server.tls_key_file = value;
    } else if (arg == "--tls-client-ca") {
      options.server.tls_client_ca_file = value;
    } else if (arg == "--backend") {
      if (value == "cuda") {
#ifdef STRATA_HAVE_CUDA
        options.make_worker = [&options](const std::string& dir)
            -> absl::StatusOr<std::unique_ptr<strata::worker::Worker>> {
          auto w = strata::worker::CudaWorker::Create(
              dir, {.block_size = 16,
                    .num_blocks = options.num_blocks,
                    .max_batch_tokens = options.max_batch_tokens,
                    .max_num_seqs = options.max_num_seqs,
                    .max_model_len = options.max_model_len});
          if (!w.ok()) return w.status();
          return std::unique_ptr<strata::worker::Worker>(std::move(*w));
        };
#else
        return Usage("--backend cuda needs a CUDA build");
#endif
      } else if (value != "cpu") {
        return Usage("--backend must be cpu or cuda");
      }
    } else if (!numeric) {
      return Usage(arg + ": not a number or an unknown option");
    } else if (arg == "--port") {
      options.server.http_port = static_cast<int>(number);
    } else if (arg == "--max-body-bytes") {
      options.server.max_request_body_bytes = number;
    } else if (arg == "--max-queued") {
      options.max_queued_requests = static_cast<int32_t>(number);
    } else if (arg == "--num-blocks") {
      options.num_blocks = static_cast<int32_t>(number);
    } else if (arg == "--max-num-seqs") {
      options.max_num_seqs = static_cast<int32_t>(number);
    } else if (arg == "--io-threads") {
      options.http.io_threads = static_cast<int>(number);
    } else if (arg == "--header-timeout-ms") {
      options.http.header_timeout = std::chrono::milliseconds(number);
    } else if (arg == "--body-timeout-ms") {
      options.http.body_timeout = std::chrono::milliseconds(number);
    } else {
      return Usage("unknown option " + arg);
    }
  }
  if (model_dir.empty()) return Usage("--model DIR is required");
  auto stack = Stack::Start(model_dir, options);
  if (!stack.ok()) return Usage(std::string(stack.status().message()));
  if (drain) (*stack)->server().BeginDrain();
  std::printf("LISTENING %d\n", (*stack)->port());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  (*stack).reset();
  return 0;
}
