// Token sampling on the GPU, one row of float32 logits per request, with the semantics of
// worker/sampling.h: penalties, temperature, top-k, top-p, min-p, a seeded draw by inverse
// CDF over the probability-descending order (ties by lower id) with the same
// SeededUniform(seed, step), greedy argmax (lowest id on ties), and log-probabilities of the
// raw logits. Identical logits and parameters give the CPU path's token, except when the
// draw lands within double rounding (~1e-15 relative) of a CDF boundary, since sums are
// taken in a different order.
//
// One block of 1024 threads per row. Orders are found by radix selection over 64-bit keys
// (logit's order-preserving bits, then the inverted id) instead of a full sort: a rank's
// key costs at most 8 counting passes over the row (usually 3 or 4; a pass stops once the
// rank's bucket holds one token), and a window of up to 4096 consecutive ranks is gathered
// and sorted in shared memory. Per row: O(V) for greedy; O(V * (passes + 1)) for sampling,
// plus O(V * passes) per further 4096 ranks the draw has to walk (only flat distributions
// without top-k go deep). Double-precision exp is taken only over the kept candidates,
// except for the full-vocabulary totals when top-k is off.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace strata::kernels::cuda {

// Per-row parameters (worker::SamplingParams plus the draw index), uploaded per batch.
struct SamplingRow {
  float temperature = 1.0f;  // <= 0: greedy
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // 0: off
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;  // 1: off
  int32_t top_logprobs = 0;
  uint64_t seed = 0;
  uint64_t step = 0;  // index of this draw among the request's draws
};

// One distinct token of the request's prompt or output: repetition applies to every entry,
// presence and frequency to entries with output_count > 0 (CPU ApplyPenalties semantics).
struct PenaltyToken {
  int32_t token = 0;
  int32_t output_count = 0;
};

constexpr int32_t kMaxTopLogprobs = 64;

struct SampleArgs {
  const float* logits = nullptr;  // [rows, vocab], rows logits_stride apart; not modified
  int64_t logits_stride = 0;
  int32_t rows = 0;
  int32_t vocab = 0;
  const SamplingRow* params = nullptr;       // [rows]
  const int32_t* penalty_offsets = nullptr;  // [rows + 1] CSR into penalties, or null
  const PenaltyToken* penalties = nullptr;   // distinct tokens per row
  int32_t* tokens = nullptr;                 // [rows]
  float* logprobs = nullptr;                 // [rows], of the chosen token, raw logits
  int32_t* top_tokens = nullptr;             // [rows, max_top] or null when max_top == 0
  float* top_logprobs = nullptr;             // [rows, max_top]; unused slots: -1 / -inf
  int32_t max_top = 0;                       // <= kMaxTopLogprobs
};

// Device scratch for Sample(): one float32 copy of the processed logits per row.
size_t SamplingWorkspaceBytes(int32_t max_rows, int32_t vocab);

void Sample(const SampleArgs& args, void* workspace, cudaStream_t stream);

// out[i] = SeededUniform(seeds[i], steps[i]) computed on the device (bit-exact with the
// CPU function; for tests).
void SeededUniformOnDevice(const uint64_t* seeds, const uint64_t* steps, int32_t count, double* out,
                           cudaStream_t stream);

}  // namespace strata::kernels::cuda
