// strata-bench-gpu: decode and prefill throughput of CudaWorker against the device's measured
// ceilings. Weights are random bf16 generated on the device side by the worker (no checkpoint
// is written or read); only config.json is written, into a temporary directory.
//
//   strata-bench-gpu [--shape llama-3.1-8b] [--batches 1,8,32,128,256] [--contexts 512,4096]
//                    [--prefill 1024,8192] [--steps 10] [--utilization 0.9] [--no-graphs]
//                    [--skinny-rows 8] [--no-pdl] [--profile] [--layers N]
//                    [--serve REQUESTS:IN:OUT]
//                    [--layered DECODES:COHORT:GROUPS[:CONTEXT[:COHORT_START]]]
//                    [--policies]
//
// Decode: one token per sequence per step (a different token id per sequence, so that a
// MoE model routes them apart) over a KV cache filled with a constant (never
// prefilled), greedy sampling included; each step's time is Execute's wall time, the median
// of --steps after warm-up. Roofline: (weights read per step + KV read per step) over the
// device-to-device copy bandwidth measured in the same run (bytes read + written); a MoE
// model's step reads the experts its tokens activated (the last step's count), not all.
// Prefill: one prompt, logits and sampling for its last token. Roofline: FLOPs (2 per
// multiply-add of every matrix product plus causal attention) over the measured rate of
// an 8192^3 bf16 cuBLASLt GEMM.
// --skinny-rows sets the rows up to which GEMMs use the skinny kernel (0: cuBLASLt only,
// Gemm::SetDefaultSkinnyMaxRows); --no-pdl turns programmatic dependent launch off.
// --profile brackets the last decode step of each
// configuration and the last prefill (with --layered: the last cohort's second group,
// decodes by graph replay) with cudaProfilerStart/Stop, for
// `ncu --profile-from-start off`; --layers N runs the shape with N layers (a smaller
// profile: every layer runs the same kernels).
// --serve REQUESTS:IN:OUT replaces the sweeps by one workload: REQUESTS prompts of IN tokens
// arriving at once, each generating exactly OUT tokens (greedy, no stop token); prompts are
// prefilled as many per step as max batch tokens allow (each prefill samples the first
// token), then every sequence decodes one token per step until all are done. Throughput is
// generated tokens over the whole wall time.
// --layered DECODES:COHORT:GROUPS[:CONTEXT[:COHORT_START]] replaces the sweeps by
// layered-prefill iterations: DECODES sequences decoding at CONTEXT (default 512) alone,
// then beside a cohort of COHORT prompt tokens (after COHORT_START cached ones, default 0:
// a later chunk of a long prompt) advancing one of GROUPS layer groups per iteration, with
// the decodes replaying their graph before the cohort's eager pass and with one eager pass
// over both (CudaWorkerOptions::layered_decode_graphs on and off). Each iteration's time
// is Execute's wall time; printed per group (mean over --steps cohorts) against the
// decode-only median.
// --policies replaces the sweeps by the worker's per-step cost of each eviction policy: for
// every --batches x --contexts, decode steps as `none` and `streaming` run them (nothing
// extra: streaming's compacted table is read like any other), as `heavy_hitter` runs them
// (every sequence collects attention mass, one float per block-table entry), and as
// `adaptive_precision` runs them (mass, and every block int8 except the first, the last
// five and every tenth: sinks, recent window and the full-precision share). The int8 blocks
// are quantized for real by the first adaptive step, timed on its own.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/check.h"
#include "base/dtype.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/launch.h"
#include "worker/cuda_worker.h"
#include "worker/memory_plan.h"
#include "worker/model_shapes.h"

namespace strata {
namespace {

using worker::CudaWorker;
using worker::SamplingParams;
using worker::SequenceWork;

struct Flags {
  std::string shape = "llama-3.1-8b";
  std::vector<int> batches = {1, 8, 32, 128, 256};
  std::vector<int> contexts = {512, 4096};
  std::vector<int> prefill = {1024, 8192};
  int steps = 10;
  double utilization = 0.9;
  bool graphs = true;
  int skinny_rows = 8;
  bool pdl = true;
  bool profile = false;
  int serve_requests = 0, serve_in = 0, serve_out = 0;
  int layers = 0;  // > 0: override the shape's layer count (profiling runs)
  int layered_decodes = 0, layered_cohort = 0, layered_groups = 0, layered_context = 512;
  int layered_cohort_start = 0;
  bool policies = false;
};

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int v = 0;
    if (absl::SimpleAtoi(part, &v)) out.push_back(v);
  }
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Device-to-device copy bandwidth, counting bytes read and written.
double CopyBandwidth() {
  const size_t bytes = size_t{2} << 30;
  void *a = nullptr, *b = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&a, bytes));
  STRATA_CUDA_CHECK(cudaMalloc(&b, bytes));
  STRATA_CUDA_CHECK(cudaMemset(a, 1, bytes));
  cudaEvent_t start, stop;
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> times;
  for (int i = 0; i < 12; ++i) {
    STRATA_CUDA_CHECK(cudaEventRecord(start));
    STRATA_CUDA_CHECK(cudaMemcpy(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice));
    STRATA_CUDA_CHECK(cudaEventRecord(stop));
    STRATA_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (i >= 2) times.push_back(ms);
  }
  cudaFree(a), cudaFree(b);
  return 2.0 * bytes / (Median(times) * 1e-3);
}

// bf16 GEMM rate of an n^3 product on random data, FLOP/s.
double GemmRate() {
  const int64_t n = 8192;
  std::vector<uint16_t> host(n * n);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : host) v = FloatToBF16(normal(rng));
  kernels::cuda::bf16 *x = nullptr, *w = nullptr, *y = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&x, n * n * 2));
  STRATA_CUDA_CHECK(cudaMalloc(&w, n * n * 2));
  STRATA_CUDA_CHECK(cudaMalloc(&y, n * n * 2));
  STRATA_CUDA_CHECK(cudaMemcpy(x, host.data(), n * n * 2, cudaMemcpyHostToDevice));
  std::reverse(host.begin(), host.end());
  STRATA_CUDA_CHECK(cudaMemcpy(w, host.data(), n * n * 2, cudaMemcpyHostToDevice));
  std::vector<double> times;
  {
    auto gemm = kernels::cuda::Gemm::Create();
    STRATA_CHECK(gemm.ok()) << gemm.status();
    cudaEvent_t start, stop;
    STRATA_CUDA_CHECK(cudaEventCreate(&start));
    STRATA_CUDA_CHECK(cudaEventCreate(&stop));
    for (int i = 0; i < 13; ++i) {
      STRATA_CUDA_CHECK(cudaEventRecord(start));
      (*gemm)->Run({.x = x, .ldx = n, .w = w, .y = y, .ldy = n, .m = n, .n = n, .k = n}, nullptr);
      STRATA_CUDA_CHECK(cudaEventRecord(stop));
      STRATA_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      if (i >= 3) times.push_back(ms);
    }
  }
  cudaFree(x), cudaFree(w), cudaFree(y);
  return 2.0 * n * n * n / (Median(times) * 1e-3);
}

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// `count` block tables of `blocks` consecutive block ids each, the first starting at 0.
std::vector<std::vector<int32_t>> ConsecutiveTables(int count, int64_t blocks) {
  std::vector<std::vector<int32_t>> tables(count);
  for (int i = 0; i < count; ++i) {
    for (int64_t b = 0; b < blocks; ++b) tables[i].push_back(int32_t(i * blocks + b));
  }
  return tables;
}

// One token per sequence, distinct ones: the sequences' hidden states differ, so a MoE
// model routes them as different requests would be routed, not all to the same experts.
std::vector<int32_t> DistinctTokens(int64_t sequences, int64_t vocab) {
  std::vector<int32_t> tokens(sequences);
  for (int64_t i = 0; i < sequences; ++i) tokens[i] = int32_t((1 + i * 7919) % vocab);
  return tokens;
}

// One greedy decode token at `position` for every table: tokens[i] for table i.
std::vector<SequenceWork> DecodeWork(const std::vector<std::vector<int32_t>>& tables,
                                     std::span<const int32_t> tokens, int64_t position,
                                     const SamplingParams& greedy) {
  std::vector<SequenceWork> work(tables.size());
  for (size_t i = 0; i < tables.size(); ++i) {
    work[i].slice = {.tokens = tokens.subspan(i, 1),
                     .start_position = position,
                     .block_table = tables[i],
                     .logits = worker::LogitsMode::kLast};
    work[i].sample = true;
    work[i].params = &greedy;
  }
  return work;
}

// The --serve workload on the worker directly (no daemon, no scheduler): see the top.
void Serve(const Flags& flags, CudaWorker& w, int64_t max_batch_tokens,
           const SamplingParams& greedy) {
  const int requests = flags.serve_requests, in = flags.serve_in, out = flags.serve_out;
  const int64_t block_size = w.memory().block_size;
  const int64_t per_seq = (in + out + block_size - 1) / block_size;
  STRATA_CHECK(per_seq * requests <= w.memory().num_kv_blocks)
      << "the KV cache holds " << w.memory().num_kv_blocks << " blocks, the workload needs "
      << per_seq * requests;
  const int64_t vocab = w.model_config().vocab_size;
  std::vector<std::vector<int32_t>> tables(requests), tokens(requests);
  for (int i = 0; i < requests; ++i) {
    for (int64_t b = 0; b < per_seq; ++b) tables[i].push_back(int32_t(i * per_seq + b));
    tokens[i].reserve(in + out);
    for (int t = 0; t < in; ++t) {
      tokens[i].push_back(int32_t((int64_t{i} * 1000003 + int64_t{t} * 7919) % vocab));
    }
  }
  const int per_prefill = static_cast<int>(std::max<int64_t>(1, max_batch_tokens / in));
  const auto start = std::chrono::steady_clock::now();
  int prefill_steps = 0, decode_steps = 0;
  for (int first = 0; first < requests; first += per_prefill) {
    std::vector<SequenceWork> work;
    for (int i = first; i < std::min(requests, first + per_prefill); ++i) {
      SequenceWork& item = work.emplace_back();
      item.slice = {.tokens = tokens[i],
                    .start_position = 0,
                    .block_table = tables[i],
                    .logits = worker::LogitsMode::kLast};
      item.sample = true;
      item.params = &greedy;
    }
    auto sampled = w.Execute(work);
    STRATA_CHECK(sampled.ok()) << sampled.status();
    for (size_t j = 0; j < work.size(); ++j) tokens[first + j].push_back((*sampled)[j].token);
    ++prefill_steps;
  }
  const auto prefilled = std::chrono::steady_clock::now();
  for (int generated = 1; generated < out; ++generated) {
    std::vector<SequenceWork> work(requests);
    for (int i = 0; i < requests; ++i) {
      const int64_t position = static_cast<int64_t>(tokens[i].size()) - 1;
      work[i].slice = {.tokens = std::span<const int32_t>(&tokens[i][position], 1),
                       .start_position = position,
                       .block_table = tables[i],
                       .logits = worker::LogitsMode::kLast};
      work[i].sample = true;
      work[i].params = &greedy;
    }
    auto sampled = w.Execute(work);
    STRATA_CHECK(sampled.ok()) << sampled.status();
    for (int i = 0; i < requests; ++i) tokens[i].push_back((*sampled)[i].token);
    ++decode_steps;
  }
  const auto end = std::chrono::steady_clock::now();
  const double total = Seconds(start, end), prefill = Seconds(start, prefilled);
  const double generated = double(requests) * out;
  std::printf(
      "| workload | prefill steps | prefill s | decode steps | decode s | total s | "
      "generated tok/s | prompt+generated tok/s |\n"
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  std::printf("| %d x %d in / %d out | %d | %.2f | %d | %.2f | %.2f | %.0f | %.0f |\n", requests,
              in, out, prefill_steps, prefill, decode_steps, total - prefill, total,
              generated / total, (generated + double(requests) * in) / total);
  std::printf("(%lld decode steps replayed CUDA graphs)\n",
              static_cast<long long>(w.graph_replays()));
}

// The --layered workload on the worker directly: see the top.
void Layered(const Flags& flags, CudaWorker& w, const SamplingParams& greedy) {
  const int decodes = flags.layered_decodes, cohort = flags.layered_cohort;
  const int groups = flags.layered_groups, context = flags.layered_context;
  const int cohort_start = flags.layered_cohort_start;
  const int32_t layers = static_cast<int32_t>(w.model_config().num_hidden_layers);
  STRATA_CHECK(groups <= layers) << "more groups than layers";
  const int64_t block_size = w.memory().block_size;
  const int64_t decode_blocks = (context + 2 * (flags.steps + 4) * groups + 64) / block_size + 1;
  const int64_t cohort_blocks = (cohort_start + cohort + block_size - 1) / block_size;
  STRATA_CHECK(decode_blocks * decodes + cohort_blocks <= w.memory().num_kv_blocks)
      << "the KV cache holds " << w.memory().num_kv_blocks << " blocks";
  std::vector<std::vector<int32_t>> tables(decodes + 1);
  int32_t next = 0;
  for (int i = 0; i <= decodes; ++i) {
    for (int64_t b = 0; b < (i < decodes ? decode_blocks : cohort_blocks); ++b) {
      tables[i].push_back(next++);
    }
  }
  std::vector<int32_t> prompt(cohort);
  for (int i = 0; i < cohort; ++i) {
    prompt[i] = int32_t((int64_t{i} * 7919) % w.model_config().vocab_size);
  }
  std::vector<int32_t> token = {1};
  int64_t position = context;
  // One iteration: every decode one token, plus the cohort's group `group` (-1: none).
  auto iteration = [&](int group, bool profiled = false) {
    std::vector<SequenceWork> work(decodes);
    for (int i = 0; i < decodes; ++i) {
      work[i].slice = {.tokens = token,
                       .start_position = position,
                       .block_table = tables[i],
                       .sequence_id = i};
      work[i].sample = true;
      work[i].params = &greedy;
    }
    if (group >= 0) {
      const bool last = group == groups - 1;
      SequenceWork& c = work.emplace_back();
      c.slice = {.tokens = prompt,
                 .start_position = cohort_start,
                 .block_table = tables[decodes],
                 .logits = last ? worker::LogitsMode::kLast : worker::LogitsMode::kNone,
                 .sequence_id = decodes,
                 .layer_begin = group * layers / groups,
                 .layer_end = last ? worker::SequenceSlice::kAllLayers
                                   : (group + 1) * layers / groups};
      c.sample = last;
      c.params = &greedy;
    }
    if (profiled) STRATA_CUDA_CHECK(cudaProfilerStart());
    const auto t0 = std::chrono::steady_clock::now();
    auto out = w.Execute(work);
    const auto t1 = std::chrono::steady_clock::now();
    if (profiled) STRATA_CUDA_CHECK(cudaProfilerStop());
    STRATA_CHECK(out.ok()) << out.status();
    ++position;
    return Seconds(t0, t1);
  };
  std::vector<double> alone;
  for (int step = 0; step < flags.steps + 3; ++step) {
    const double t = iteration(-1);
    if (step >= 3) alone.push_back(t);
  }
  const double decode_only = Median(alone);
  std::printf(
      "layered: %d decodes at context %d, a cohort of %d tokens after %d cached ones in %d "
      "groups of %d layers\ndecode-only iteration (graph replay): %.3f ms\n\n",
      decodes, context, cohort, cohort_start, groups, layers, decode_only * 1e3);
  std::printf(
      "| decodes beside the cohort | group | iteration ms (mean) | max ms | / decode-only |\n"
      "| --- | ---: | ---: | ---: | ---: |\n");
  for (bool graphs : {true, false}) {
    w.set_layered_decode_graphs(graphs);
    const char* how = graphs ? "graph replay, then cohort" : "one eager pass";
    std::vector<std::vector<double>> per_group(groups);
    for (int rep = 0; rep < flags.steps + 1; ++rep) {
      for (int g = 0; g < groups; ++g) {
        const double t = iteration(
            g, flags.profile && graphs && rep == flags.steps && g == std::min(1, groups - 1));
        if (rep >= 1) per_group[g].push_back(t);
      }
    }
    double all_max = 0, all_sum = 0;
    for (int g = 0; g < groups; ++g) {
      double sum = 0, max = 0;
      for (double t : per_group[g]) sum += t, max = std::max(max, t);
      const double mean = sum / per_group[g].size();
      all_sum += mean, all_max = std::max(all_max, max);
      if (g == 0 || g == 1 || g == groups - 1) {
        std::printf("| %s | %d | %.3f | %.3f | %.2f |\n", how, g, mean * 1e3, max * 1e3,
                    mean / decode_only);
      }
    }
    std::printf("| %s | all | %.3f | %.3f | %.2f |\n", how, all_sum / groups * 1e3,
                all_max * 1e3, all_sum / groups / decode_only);
  }
  std::printf("\n(%lld batches ran the decodes' graph beside a cohort)\n\n",
              static_cast<long long>(w.cohort_passes_beside_graphs()));
}

// The --policies workload: see the top.
void Policies(const Flags& flags, CudaWorker& w, const SamplingParams& greedy) {
  const int64_t block_size = w.memory().block_size;
  std::printf(
      "| policy | decode batch | context | step ms | / none | graph replays | int8 blocks per "
      "sequence |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int context : flags.contexts) {
    for (int batch : flags.batches) {
      const int64_t per_seq = (context + flags.steps + 3 + block_size) / block_size;
      if (per_seq * batch > w.memory().num_kv_blocks) {
        std::printf("| all | %d | %d | n/a: needs %lld blocks | | | |\n", batch, context,
                    static_cast<long long>(per_seq * batch));
        continue;
      }
      w.FillKvCache(FloatToBF16(0.01f));
      const auto tables = ConsecutiveTables(batch, per_seq);
      // adaptive_precision's layout: int8 outside the sink block, the window (the last
      // five blocks, which also take the new tokens) and a tenth kept full.
      std::vector<uint8_t> precision(per_seq, 0);
      std::vector<std::vector<int32_t>> quantize(batch);
      for (int64_t b = 1; b + 5 < per_seq; ++b) {
        if (b % 10 != 0) precision[b] = 1;
      }
      for (int i = 0; i < batch; ++i) {
        for (int64_t b = 0; b < per_seq; ++b) {
          if (precision[b]) quantize[i].push_back(tables[i][b]);
        }
      }
      const int64_t int8_blocks = static_cast<int64_t>(quantize[0].size());
      std::vector<std::vector<float>> mass(batch, std::vector<float>(per_seq, 0.0f));
      const std::vector<int32_t> token = DistinctTokens(batch, w.model_config().vocab_size);
      double none_ms = 0;
      for (const char* policy : {"none / streaming", "heavy_hitter", "adaptive_precision"}) {
        const bool collect = policy[0] != 'n', int8 = policy[0] == 'a';
        const int64_t replays = w.graph_replays();
        std::vector<double> times;
        for (int step = 0; step < flags.steps + 3; ++step) {
          std::vector<SequenceWork> work = DecodeWork(tables, token, context + step, greedy);
          for (int i = 0; i < batch; ++i) {
            if (collect) work[i].slice.attention_mass = mass[i];
            if (int8) work[i].slice.block_precision = precision;
            if (int8 && step == 0) work[i].slice.quantize_blocks = quantize[i];
          }
          const auto t0 = std::chrono::steady_clock::now();
          auto out = w.Execute(work);
          const auto t1 = std::chrono::steady_clock::now();
          STRATA_CHECK(out.ok()) << policy << ": " << out.status();
          if (int8 && step == 0) {
            std::printf("(adaptive_precision: the first step quantized %lld blocks in %.3f ms)\n",
                        static_cast<long long>(int8_blocks * batch), Seconds(t0, t1) * 1e3);
          }
          if (step >= 3) times.push_back(Seconds(t0, t1));
        }
        const double t = Median(times) * 1e3;
        if (!collect) none_ms = t;
        std::printf("| %s | %d | %d | %.3f | %.3f | %lld | %lld |\n", policy, batch, context, t,
                    t / none_ms, static_cast<long long>(w.graph_replays() - replays),
                    static_cast<long long>(int8 ? int8_blocks : 0));
      }
    }
  }
  std::printf("\n");
}

int Run(const Flags& flags) {
  cudaDeviceProp prop;
  STRATA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const double copy_bw = CopyBandwidth();
  const double gemm_rate = GemmRate();
  auto shape = worker::NamedModelShape(flags.shape);
  STRATA_CHECK(shape.ok()) << shape.status();
  worker::ModelConfig c = shape->config;
  if (flags.layers > 0) c.num_hidden_layers = flags.layers;
  char dir_template[] = "/tmp/strata-bench-gpu-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  std::ofstream(dir + "/config.json") << worker::ModelConfigToJson(c);

  const int max_batch = *std::max_element(flags.batches.begin(), flags.batches.end());
  const int max_prefill = *std::max_element(flags.prefill.begin(), flags.prefill.end());
  const int max_context = *std::max_element(flags.contexts.begin(), flags.contexts.end());
  worker::CudaWorkerOptions options;
  options.gpu_memory_utilization = flags.utilization;
  const bool serve = flags.serve_requests > 0;
  const bool layered = flags.layered_decodes > 0;
  const bool policies = flags.policies;
  options.max_num_seqs =
      serve ? flags.serve_requests : std::max(max_batch, flags.layered_decodes + 1);
  options.max_batch_tokens = std::max({max_prefill, max_batch, flags.serve_requests,
                                       flags.layered_decodes + flags.layered_cohort});
  options.layered_prefill = layered;
  options.max_model_len =
      serve     ? flags.serve_in + flags.serve_out + 64
      : layered ? std::max(flags.layered_cohort_start + flags.layered_cohort,
                           flags.layered_context +
                                                     2 * (flags.steps + 4) * flags.layered_groups + 64)
                : std::max(max_prefill, max_context) + flags.steps + 64;
  options.random_weights = true;
  options.cuda_graphs = flags.graphs;
  auto created = CudaWorker::Create(dir, options);
  STRATA_CHECK(created.ok()) << created.status();
  CudaWorker& w = **created;
  w.FillKvCache(FloatToBF16(0.01f));
  const int64_t block_size = w.memory().block_size, num_blocks = w.memory().num_kv_blocks;
  const int64_t kv_per_token = worker::KvBytesPerToken(c, 2);
  const int64_t embed_bytes = c.vocab_size * c.hidden_size * 2;
  // Per decode step every weight is read once, except the embedding table (a row per
  // sequence) when it is not also the output projection, and, in a MoE model, the experts
  // the step's tokens did not pick: those it did are counted per step by the worker
  // (ExpertWeightBytesRead).
  const int64_t all_experts = c.NumSparseLayers() * c.num_experts * worker::ExpertWeightBytes(c, 2);
  const int64_t weights_read =
      w.memory().weight_bytes - (c.tie_word_embeddings ? 0 : embed_bytes) - all_experts;

  std::printf("## strata-bench-gpu: %s on %s\n\n", flags.shape.c_str(), prop.name);
  std::printf(
      "weights %.2f GB (random bf16), KV cache %.1f GB (%lld blocks of %lld), graphs %s, skinny "
      "GEMM up to %d rows, PDL %s\n",
      w.memory().weight_bytes / 1e9, w.memory().kv_cache_bytes / 1e9,
      static_cast<long long>(num_blocks), static_cast<long long>(block_size),
      flags.graphs ? "on" : "off", flags.skinny_rows, flags.pdl ? "on" : "off");
  std::printf(
      "measured: device-to-device copy %.0f GB/s (read + write), bf16 GEMM 8192^3 %.0f "
      "TFLOP/s\n\n",
      copy_bw / 1e9, gemm_rate / 1e12);

  SamplingParams greedy;
  greedy.temperature = 0.0f;
  if (serve || layered || policies) {
    if (serve) Serve(flags, w, options.max_batch_tokens, greedy);
    if (layered) Layered(flags, w, greedy);
    if (policies) Policies(flags, w, greedy);
    std::remove((dir + "/config.json").c_str());
    std::remove(dir.c_str());
    return 0;
  }
  std::printf(
      "| decode batch | context | step ms | tokens/s | bytes/step GB | roofline ms | of "
      "roofline |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int context : flags.contexts) {
    for (int batch : flags.batches) {
      const int64_t per_seq = (context + flags.steps + 3 + block_size) / block_size;
      if (per_seq * batch > num_blocks) {
        std::printf("| %d | %d | n/a: needs %.0f GB of KV | | | | |\n", batch, context,
                    double(per_seq) * batch * block_size * kv_per_token / 1e9);
        continue;
      }
      const auto tables = ConsecutiveTables(batch, per_seq);
      const std::vector<int32_t> token = DistinctTokens(batch, c.vocab_size);
      std::vector<double> times;
      double bytes = 0;
      for (int step = 0; step < flags.steps + 3; ++step) {
        std::vector<SequenceWork> work = DecodeWork(tables, token, context + step, greedy);
        const bool profiled = flags.profile && step == flags.steps + 2;
        const int64_t experts_before = w.ExpertWeightBytesRead();
        if (profiled) STRATA_CUDA_CHECK(cudaProfilerStart());
        const auto t0 = std::chrono::steady_clock::now();
        auto out = w.Execute(work);
        const auto t1 = std::chrono::steady_clock::now();
        if (profiled) STRATA_CUDA_CHECK(cudaProfilerStop());
        STRATA_CHECK(out.ok()) << out.status();
        if (step >= 3) {
          times.push_back(Seconds(t0, t1));
          bytes = double(weights_read) + double(w.ExpertWeightBytesRead() - experts_before) +
                  double(batch) * (context + step + 1) * kv_per_token;
        }
      }
      const double t = Median(times), roofline = bytes / copy_bw;
      std::printf("| %d | %d | %.3f | %.0f | %.2f | %.3f | %.0f%% |\n", batch, context, t * 1e3,
                  batch / t, bytes / 1e9, roofline * 1e3, 100 * roofline / t);
    }
  }
  std::printf("\n(%lld decode steps replayed CUDA graphs)\n\n",
              static_cast<long long>(w.graph_replays()));

  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const double matmul_params =
      double(c.num_hidden_layers) *
      (c.hidden_size * (q + 2 * kv) + q * c.hidden_size + 3 * c.hidden_size * c.intermediate_size);
  std::printf(
      "| prefill tokens | ms | tokens/s | TFLOP | TFLOP/s | of GEMM rate |\n"
      "| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int tokens : flags.prefill) {
    std::vector<int32_t> prompt(tokens);
    for (int i = 0; i < tokens; ++i) prompt[i] = int32_t((int64_t{i} * 7919) % c.vocab_size);
    std::vector<int32_t> table;
    for (int64_t b = 0; b < (tokens + block_size - 1) / block_size; ++b) table.push_back(b);
    std::vector<double> times;
    for (int rep = 0; rep < 4; ++rep) {
      SequenceWork work;
      work.slice = {.tokens = prompt,
                    .start_position = 0,
                    .block_table = table,
                    .logits = worker::LogitsMode::kLast};
      work.sample = true;
      work.params = &greedy;
      const bool profiled = flags.profile && rep == 3;
      if (profiled) STRATA_CUDA_CHECK(cudaProfilerStart());
      const auto t0 = std::chrono::steady_clock::now();
      auto out = w.Execute(std::span(&work, 1));
      const auto t1 = std::chrono::steady_clock::now();
      if (profiled) STRATA_CUDA_CHECK(cudaProfilerStop());
      STRATA_CHECK(out.ok()) << out.status();
      if (rep >= 1) times.push_back(Seconds(t0, t1));
    }
    const double t = Median(times);
    const double flops = 2.0 * tokens * matmul_params + 2.0 * c.hidden_size * c.vocab_size +
                         double(c.num_hidden_layers) * 2 * 2 * c.num_attention_heads * c.head_dim *
                             (double(tokens) * (tokens + 1) / 2);
    std::printf("| %d | %.1f | %.0f | %.1f | %.0f | %.0f%% |\n", tokens, t * 1e3, tokens / t,
                flops / 1e12, flops / t / 1e12, 100 * flops / t / gemm_rate);
  }
  std::remove((dir + "/config.json").c_str());
  std::remove(dir.c_str());
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  strata::Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string value = i + 1 < argc ? argv[i + 1] : "";
    if (arg == "--shape") {
      flags.shape = value, ++i;
    } else if (arg == "--batches") {
      flags.batches = strata::ParseList(value), ++i;
    } else if (arg == "--contexts") {
      flags.contexts = strata::ParseList(value), ++i;
    } else if (arg == "--prefill") {
      flags.prefill = strata::ParseList(value), ++i;
    } else if (arg == "--steps") {
      flags.steps = std::max(1, std::atoi(value.c_str())), ++i;
    } else if (arg == "--utilization") {
      flags.utilization = std::atof(value.c_str()), ++i;
    } else if (arg == "--no-graphs") {
      flags.graphs = false;
    } else if (arg == "--skinny-rows") {
      flags.skinny_rows = std::atoi(value.c_str()), ++i;
    } else if (arg == "--no-pdl") {
      flags.pdl = false;
    } else if (arg == "--profile") {
      flags.profile = true;
    } else if (arg == "--policies") {
      flags.policies = true;
    } else if (arg == "--layers") {
      flags.layers = std::atoi(value.c_str()), ++i;
    } else if (arg == "--serve") {
      const std::vector<int> parts = strata::ParseList(absl::StrReplaceAll(value, {{":", ","}}));
      if (parts.size() != 3 || parts[0] <= 0 || parts[1] <= 0 || parts[2] <= 0) {
        std::fprintf(stderr, "--serve wants REQUESTS:IN:OUT\n");
        return 2;
      }
      flags.serve_requests = parts[0], flags.serve_in = parts[1], flags.serve_out = parts[2];
      ++i;
    } else if (arg == "--layered") {
      const std::vector<int> parts = strata::ParseList(absl::StrReplaceAll(value, {{":", ","}}));
      if (parts.size() < 3 || parts.size() > 5 ||
          *std::min_element(parts.begin(), parts.begin() + std::min<size_t>(parts.size(), 4)) <= 0 ||
          (parts.size() == 5 && parts[4] < 0)) {
        std::fprintf(stderr, "--layered wants DECODES:COHORT:GROUPS[:CONTEXT[:COHORT_START]]\n");
        return 2;
      }
      flags.layered_decodes = parts[0], flags.layered_cohort = parts[1];
      flags.layered_groups = parts[2];
      if (parts.size() >= 4) flags.layered_context = parts[3];
      if (parts.size() == 5) flags.layered_cohort_start = parts[4];
      ++i;
    } else {
      std::fprintf(
          stderr,
          "usage: strata-bench-gpu [--shape NAME] [--batches 1,8,...] [--contexts "
          "512,...] [--prefill 1024,...] [--steps N] [--utilization F] [--no-graphs] "
          "[--skinny-rows N] [--no-pdl] [--profile] [--layers N] [--serve REQUESTS:IN:OUT] "
          "[--layered DECODES:COHORT:GROUPS[:CONTEXT[:COHORT_START]]] [--policies]\n");
      return 2;
    }
  }
  if (flags.batches.empty() || flags.contexts.empty() || flags.prefill.empty()) return 2;
  strata::kernels::cuda::SetProgrammaticLaunch(flags.pdl);
  strata::kernels::cuda::Gemm::SetDefaultSkinnyMaxRows(flags.skinny_rows);
  return strata::Run(flags);
}
