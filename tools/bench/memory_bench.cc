// strata-bench-memory: the KV memory manager under pressure on the CUDA worker, driven
// through the engine itself (random bf16 weights of a named shape; only config.json is
// written, to a temporary directory).
//
//   strata-bench-memory [--shape llama-3.1-8b] [--layers N] [--requests 64] [--input 1024]
//                       [--output 128] [--pool-fraction 0.25] [--host-gib 32]
//                       [--system 2048] [--suffix 64] [--prefix-requests 8]
//
// Pressure: --requests prompts of --input tokens arrive at once, each generating exactly
// --output tokens (greedy, no stop token), with the device KV pool sized to
// --pool-fraction of their working set; run once with swap and once with recompute
// preemption. Reports generated tokens/s over the whole run and TTFT mean/p99 (from the
// common arrival to the step that returned the request's first token).
// Prefix: --prefix-requests requests one after another, each a shared --system-token
// prompt plus its own --suffix tokens, generating one token; TTFT per request without
// the prefix cache, with it (device hits), and with the shared blocks pushed to the host
// tier before each request (promoted back). The first request (cold) is excluded.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "scheduler/engine.h"
#include "worker/cuda_worker.h"
#include "worker/memory_plan.h"
#include "worker/model_shapes.h"

namespace {

using namespace strata;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::string shape = "llama-3.1-8b";
  int64_t layers = 0, requests = 64, input = 1024, output = 128, host_gib = 32, system = 2048,
          suffix = 64, prefix_requests = 8;
  double pool_fraction = 0.25;
};

std::vector<int32_t> Tokens(int64_t n, int64_t seed, int64_t vocab) {
  std::vector<int32_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int32_t>((seed * 7919 + i * 104729) % (vocab - 10) + 5);
  return v;
}

scheduler::Request Greedy(int64_t id, std::vector<int32_t> prompt, int32_t max_tokens) {
  scheduler::Request r;
  r.id = id;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0.0f;
  return r;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}
double Mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

// Runs the requests to completion; returns per-request TTFT (s) and fills generated/wall.
std::vector<double> Serve(scheduler::Engine& engine, const std::vector<scheduler::Request>& requests,
                          int64_t* generated, double* wall) {
  const auto start = Clock::now();
  std::map<int64_t, double> ttft;
  for (const auto& r : requests) STRATA_CHECK(engine.AddRequest(r).ok());
  *generated = 0;
  while (engine.HasWork()) {
    auto outputs = engine.Step();
    STRATA_CHECK(outputs.ok()) << outputs.status();
    const double now = std::chrono::duration<double>(Clock::now() - start).count();
    for (const auto& out : *outputs) {
      *generated += out.tokens.size();
      if (!out.tokens.empty() && !ttft.contains(out.id)) ttft[out.id] = now;
    }
  }
  *wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> v;
  for (auto& [id, t] : ttft) v.push_back(t);
  return v;
}

std::unique_ptr<worker::CudaWorker> MakeWorker(const std::string& dir, int64_t blocks,
                                               int64_t host_bytes, int64_t max_len,
                                               int32_t max_seqs) {
  worker::CudaWorkerOptions o;
  o.random_weights = true;
  o.num_blocks = blocks;
  o.host_cache_bytes = host_bytes;
  o.max_batch_tokens = 8192;
  o.max_num_seqs = max_seqs;
  o.max_model_len = max_len;
  auto w = worker::CudaWorker::Create(dir, o);
  STRATA_CHECK(w.ok()) << w.status();
  return std::move(*w);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    bool ok = true;
    if (flag == "--shape") f.shape = value;
    else if (flag == "--pool-fraction") ok = absl::SimpleAtod(value, &f.pool_fraction);
    else {
      int64_t* t = flag == "--layers" ? &f.layers : flag == "--requests" ? &f.requests
                 : flag == "--input" ? &f.input : flag == "--output" ? &f.output
                 : flag == "--host-gib" ? &f.host_gib : flag == "--system" ? &f.system
                 : flag == "--suffix" ? &f.suffix : flag == "--prefix-requests" ? &f.prefix_requests
                 : nullptr;
      ok = t != nullptr && absl::SimpleAtoi(value, t);
    }
    if (!ok) {
      std::fprintf(stderr, "unknown flag or bad value: %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
  auto shape = worker::NamedModelShape(f.shape);
  STRATA_CHECK(shape.ok()) << shape.status();
  worker::ModelConfig c = shape->config;
  if (f.layers > 0) c.num_hidden_layers = f.layers;
  char dir_template[] = "/tmp/strata-bench-memory-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  std::ofstream(dir + "/config.json") << worker::ModelConfigToJson(c);
  cudaDeviceProp prop;
  STRATA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const int64_t block = 16;
  const int64_t block_bytes = worker::KvBytesPerToken(c, 2) * block;
  const int64_t host_bytes = f.host_gib << 30;
  std::printf("# KV memory manager on %s: %s shape, %d layers, block %lld tokens (%.2f MiB)\n\n",
              prop.name, f.shape.c_str(), c.num_hidden_layers, static_cast<long long>(block),
              block_bytes / 1048576.0);

  // Pressure: swap vs recompute.
  std::vector<scheduler::Request> load;
  for (int64_t i = 0; i < f.requests; ++i) {
    load.push_back(Greedy(i + 1, Tokens(f.input, i, c.vocab_size), static_cast<int32_t>(f.output)));
  }
  const int64_t per_request = (f.input + f.output + block - 1) / block;
  const int64_t pool = std::max<int64_t>(per_request + 1, f.requests * per_request * f.pool_fraction);
  std::printf("## %lld requests x %lld in / %lld out, device pool %lld blocks = %.0f%% of the "
              "working set (%lld blocks), host tier %lld GiB\n\n",
              static_cast<long long>(f.requests), static_cast<long long>(f.input),
              static_cast<long long>(f.output), static_cast<long long>(pool),
              100.0 * pool / (f.requests * per_request),
              static_cast<long long>(f.requests * per_request), static_cast<long long>(f.host_gib));
  std::printf("| preemption | tokens/s | TTFT mean s | TTFT p99 s | preemptions | swapped out GB | swap GB/s during run |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  {
    auto w = MakeWorker(dir, pool, host_bytes, f.input + f.output + 16,
                        static_cast<int32_t>(f.requests));
    for (auto mode : {scheduler::PreemptionMode::kSwap, scheduler::PreemptionMode::kRecompute}) {
      scheduler::Engine engine(w.get(), {.max_num_seqs = static_cast<int32_t>(f.requests),
                                         .max_batch_tokens = 8192,
                                         .preemption = mode});
      int64_t generated = 0;
      double wall = 0;
      const std::vector<double> ttft = Serve(engine, load, &generated, &wall);
      const double out_gb = engine.kv_cache().stats().blocks_swapped_out * double(block_bytes) / 1e9;
      std::printf("| %s | %.0f | %.3f | %.3f | %lld | %.2f | %.1f |\n",
                  mode == scheduler::PreemptionMode::kSwap ? "swap" : "recompute", generated / wall,
                  Mean(ttft), Percentile(ttft, 0.99),
                  static_cast<long long>(engine.stats().preemptions), out_gb,
                  2 * out_gb / wall);
    }
  }

  // Prefix: a shared system prompt.
  std::printf("\n## Shared %lld-token system prompt + %lld-token suffix, one request at a time, "
              "TTFT over %lld requests after a cold one\n\n",
              static_cast<long long>(f.system), static_cast<long long>(f.suffix),
              static_cast<long long>(f.prefix_requests));
  std::printf("| prefix cache | TTFT mean ms | TTFT p99 ms | prefix hit tokens | from host |\n");
  std::printf("| --- | --- | --- | --- | --- |\n");
  const std::vector<int32_t> system = Tokens(f.system, 424242, c.vocab_size);
  const int64_t system_blocks = f.system / block;
  for (int variant = 0; variant < 3; ++variant) {
    // Variant 2: the device pool holds one request plus a filler that pushes the system
    // prompt out (demoted to the host tier) before every measured request.
    const int64_t pool_blocks = variant == 2 ? system_blocks + 2 * (f.suffix / block + 2) + 4
                                             : 4 * (system_blocks + f.suffix / block + 4);
    auto w = MakeWorker(dir, pool_blocks, host_bytes, f.system + f.suffix + 16, 4);
    scheduler::Engine engine(w.get(), {.max_num_seqs = 4, .max_batch_tokens = 8192,
                                       .prefix_caching = variant > 0});
    std::vector<double> ttft;
    for (int64_t i = 0; i <= f.prefix_requests; ++i) {
      if (variant == 2 && i > 0) {
        int64_t g;
        double t;
        Serve(engine, {Greedy(100000 + i, Tokens(f.system, 7777 + i, c.vocab_size), 1)}, &g, &t);
      }
      std::vector<int32_t> prompt = system;
      const auto own = Tokens(f.suffix, 1000 + i, c.vocab_size);
      prompt.insert(prompt.end(), own.begin(), own.end());
      int64_t generated;
      double wall;
      const auto t = Serve(engine, {Greedy(i + 1, std::move(prompt), 1)}, &generated, &wall);
      if (i > 0) ttft.push_back(t[0] * 1e3);
    }
    const auto& s = engine.kv_cache().stats();
    std::printf("| %s | %.1f | %.1f | %lld | %lld |\n",
                variant == 0 ? "off" : variant == 1 ? "on (device)" : "on (host tier)", Mean(ttft),
                Percentile(ttft, 0.99), static_cast<long long>(s.prefix_hits * block),
                static_cast<long long>(s.prefix_host_hits * block));
  }
  std::remove((dir + "/config.json").c_str());
  std::remove(dir.c_str());
  return 0;
}
