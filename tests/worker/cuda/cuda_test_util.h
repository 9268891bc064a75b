// Helpers of the CUDA worker device tests: fixture paths, transformers references, logits
// comparisons and greedy generation through the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/worker/greedy_generate.h"
#include "worker/cuda_worker.h"
#include "worker/worker.h"

namespace strata::worker::testing {

// tests/fixtures/reference/<name> under $STRATA_SOURCE_DIR (default: the current directory).
std::string FixtureDir(const std::string& name);

// reference.json of tools/reference/make_logits_fixtures.py or of
// tests/worker/cuda/transformers_reference.py.
struct Reference {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<int32_t>> greedy;
  std::vector<std::vector<double>> margins;  // top-2 logit gap before each greedy token
};
Reference LoadReference(const std::string& dir);

// Errors of `got` against `ref` over one row of logits.
struct RowError {
  double rel_l2 = 0;   // |got - ref|_2 / |ref|_2
  double max_abs = 0;  // max |got - ref|
  double ref_rms = 0;
  bool top1_agrees = false;
  double ref_top2_gap = 0;  // ref's top-1 minus top-2 logit
};
RowError CompareRow(const float* got, const float* ref, int64_t vocab);

CudaWorkerOptions SmallOptions(int32_t block_size = 16);

// Compares `got` with `want` token by token until the first position whose reference
// top-2 margin is below `near_tie` (where bf16 noise may legitimately flip the choice).
// Returns the number of positions checked; records a failure on a mismatch before that.
int CompareUntilNearTie(const std::vector<int32_t>& got, const std::vector<int32_t>& want,
                        const std::vector<double>& margins, double near_tie,
                        const std::string& what);

}  // namespace strata::worker::testing
