#include "tests/worker/cuda/cuda_test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "scheduler/engine.h"

namespace strata::worker::testing {

std::string FixtureDir(const std::string& name) {
  const char* root = std::getenv("STRATA_SOURCE_DIR");
  return std::string(root ? root : ".") + "/tests/fixtures/reference/" + name;
}

Reference LoadReference(const std::string& dir) {
  std::ifstream in(dir + "/reference.json");
  EXPECT_TRUE(in.good()) << "missing " << dir << "/reference.json";
  nlohmann::json j = nlohmann::json::parse(in);
  return {j["prompts"].get<std::vector<std::vector<int32_t>>>(),
          j["greedy"].get<std::vector<std::vector<int32_t>>>(),
          j["top2_margin"].get<std::vector<std::vector<double>>>()};
}

RowError CompareRow(const float* got, const float* ref, int64_t vocab) {
  RowError e;
  double diff2 = 0, ref2 = 0;
  int64_t got_best = 0, ref_best = 0, ref_second = -1;
  for (int64_t v = 0; v < vocab; ++v) {
    const double d = double(got[v]) - ref[v];
    diff2 += d * d;
    ref2 += double(ref[v]) * ref[v];
    e.max_abs = std::max(e.max_abs, std::abs(d));
    if (!(got[v] <= got[got_best])) got_best = v;  // NaN wins, so it fails below
    if (ref[v] > ref[ref_best]) {
      ref_second = ref_best;
      ref_best = v;
    } else if (v != ref_best && (ref_second < 0 || ref[v] > ref[ref_second])) {
      ref_second = v;
    }
  }
  e.rel_l2 = std::sqrt(diff2 / std::max(ref2, 1e-30));
  if (std::isnan(e.rel_l2)) e.rel_l2 = INFINITY;
  e.ref_rms = std::sqrt(ref2 / vocab);
  e.top1_agrees = got_best == ref_best;
  e.ref_top2_gap = ref_second >= 0 ? double(ref[ref_best]) - ref[ref_second] : INFINITY;
  return e;
}

CudaWorkerOptions SmallOptions(int32_t block_size) {
  CudaWorkerOptions o;
  o.gpu_memory_utilization = 0.25;
  o.block_size = block_size;
  o.num_blocks = 8192 / block_size;
  o.max_batch_tokens = 512;
  o.max_num_seqs = 16;
  o.logits_chunk_rows = 48;  // several chunks for the longer prompts
  return o;
}

int CompareUntilNearTie(const std::vector<int32_t>& got, const std::vector<int32_t>& want,
                        const std::vector<double>& margins, double near_tie,
                        const std::string& what) {
  const size_t n = std::min({got.size(), want.size(), margins.size()});
  EXPECT_EQ(got.size(), want.size()) << what;
  for (size_t t = 0; t < n; ++t) {
    if (margins[t] < near_tie) return static_cast<int>(t);
    if (got[t] != want[t]) {
      ADD_FAILURE() << what << ": token " << t << " is " << got[t] << ", expected " << want[t]
                    << " (reference top-2 margin " << margins[t] << ")";
      return static_cast<int>(t);
    }
  }
  return static_cast<int>(n);
}

}  // namespace strata::worker::testing
