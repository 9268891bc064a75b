// strata-bench: prefill and decode throughput of a model on the CPU backend.
//
//   strata-bench --model DIR [--prompt-len 512] [--batches 1,8] [--context 512]
//                [--decode-steps 16] [--threads N]
//
// Prefill: one prompt of --prompt-len random tokens in one forward pass.
// Decode: B sequences whose --context tokens are already cached, --decode-steps steps of
// one token each; tokens/s counts every sequence's token. Prints a Markdown table.
#include <cblas.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "worker/cpu_model.h"

namespace strata {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model;
  int prompt_len = 512;
  std::vector<int> batches = {1, 8};
  int context = 512;
  int decode_steps = 16;
  int threads = 0;
};

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int32_t> RandomTokens(int n, int64_t vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> tokens(n);
  for (int32_t& t : tokens) t = dist(rng);
  return tokens;
}

int Run(const Options& o) {
  if (o.threads > 0) {
    openblas_set_num_threads(o.threads);
    omp_set_num_threads(o.threads);
  }
  constexpr int kBlock = 16;
  int max_batch = 1;
  for (int b : o.batches) max_batch = std::max(max_batch, b);
  const int blocks_per_seq =
      (std::max(o.prompt_len, o.context + o.decode_steps) + kBlock - 1) / kBlock;
  auto model = worker::CpuModel::Load(o.model, {max_batch * blocks_per_seq, kBlock}, 256);
  if (!model.ok()) {
    std::fprintf(stderr, "strata-bench: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const int64_t vocab = (*model)->config().vocab_size;
  std::mt19937 rng(0);
  std::vector<std::vector<int32_t>> tables(max_batch);
  for (int s = 0; s < max_batch; ++s) {
    for (int b = 0; b < blocks_per_seq; ++b) tables[s].push_back(s * blocks_per_seq + b);
  }
  std::vector<float> logits;
  std::printf("| measurement | tokens/s | seconds |\n|---|---|---|\n");

  // Prefill (one warm-up pass, then the timed one).
  auto prompt = RandomTokens(o.prompt_len, vocab, rng);
  std::vector<worker::SequenceSlice> prefill = {{prompt, 0, tables[0], worker::LogitsMode::kLast}};
  (void)(*model)->Forward(prefill, &logits);
  auto start = Clock::now();
  if (auto s = (*model)->Forward(prefill, &logits); !s.ok()) return 1;
  double t = Seconds(start);
  std::printf("| prefill, %d-token prompt | %.1f | %.3f |\n", o.prompt_len, o.prompt_len / t, t);

  for (int batch : o.batches) {
    // Fill the context of each sequence (untimed), then time the decode steps.
    std::vector<std::vector<int32_t>> contexts;
    for (int s = 0; s < batch; ++s) contexts.push_back(RandomTokens(o.context, vocab, rng));
    for (int s = 0; s < batch; ++s) {
      std::vector<worker::SequenceSlice> fill = {
          {contexts[s], 0, tables[s], worker::LogitsMode::kNone}};
      if (!(*model)->Forward(fill, &logits).ok()) return 1;
    }
    std::vector<std::vector<int32_t>> next(batch, std::vector<int32_t>{1});
    start = Clock::now();
    for (int step = 0; step < o.decode_steps; ++step) {
      std::vector<worker::SequenceSlice> decode;
      for (int s = 0; s < batch; ++s) {
        decode.push_back({next[s], o.context + step, tables[s], worker::LogitsMode::kLast});
      }
      if (!(*model)->Forward(decode, &logits).ok()) return 1;
    }
    t = Seconds(start);
    std::printf("| decode, batch %d, context %d | %.2f | %.3f |\n", batch, o.context,
                batch * o.decode_steps / t, t);
  }
  return 0;
}

}  // namespace
}  // namespace strata

int main(int argc, char** argv) {
  strata::Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    bool ok = true;
    if (flag == "--model") {
      o.model = value;
    } else if (flag == "--prompt-len") {
      ok = absl::SimpleAtoi(value, &o.prompt_len) && o.prompt_len > 0;
    } else if (flag == "--context") {
      ok = absl::SimpleAtoi(value, &o.context) && o.context > 0;
    } else if (flag == "--decode-steps") {
      ok = absl::SimpleAtoi(value, &o.decode_steps) && o.decode_steps > 0;
    } else if (flag == "--threads") {
      ok = absl::SimpleAtoi(value, &o.threads);
    } else if (flag == "--batches") {
      o.batches.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        int b;
        ok = ok && absl::SimpleAtoi(part, &b) && b > 0;
        o.batches.push_back(b);
      }
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "strata-bench: bad argument %s %s\n", flag.c_str(), value.c_str());
      return 2;
    }
  }
  if (o.model.empty() || argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: strata-bench --model DIR [--prompt-len N] [--batches 1,8] "
                 "[--context N] [--decode-steps N] [--threads N]\n");
    return 2;
  }
  return strata::Run(o);
}
