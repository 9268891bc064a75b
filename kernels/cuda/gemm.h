// y = x . W^T through cuBLASLt: bf16 activations and weights (W row-major [out, in], the
// Hugging Face layout), float32 accumulation, bf16 or float32 output (e.g. logits), and an
// optional bf16 bias fused as the epilogue (bf16 output only: cuBLASLt wants the bias in
// the output's type).
//
// Gemm owns the cuBLASLt handle and a device workspace allocated once in Create(); Run()
// allocates no device memory. Each shape (m, n, k, strides, output type, bias, pointer
// alignment) gets its descriptors once, so a repeated shape costs one cublasLtMatmul call.
// The algorithm comes from cublasLtMatmulAlgoGetHeuristic once per row bucket (RowBucket:
// m rounded up by at most 25%) rather than per row count, and is checked against the exact
// shape (cublasLtMatmulAlgoCheck; a shape it does not fit gets its own query): prompt
// chunks come in every length, and a query plus the first launch of a newly chosen kernel
// cost milliseconds. Warm() takes those costs ahead of serving. Products of at
// most skinny_max_rows() rows (decode at small batch) go to a bandwidth-bound kernel of
// our own instead (gemm_skinny.h) when the shape allows it; cuBLASLt takes the rest.
// Thread affinity: one Gemm per worker thread (the cache is unsynchronized).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "kernels/cuda/ops.h"

namespace strata::kernels::cuda {

struct GemmArgs {
  const bf16* x = nullptr;  // [m, k], rows ldx apart (ldx >= k)
  int64_t ldx = 0;
  const bf16* w = nullptr;     // [n, k] contiguous
  const bf16* bias = nullptr;  // [n] or null; requires y_float == false
  void* y = nullptr;           // [m, n], rows ldy apart; bf16 or float per y_float
  int64_t ldy = 0;
  bool y_float = false;
  int64_t m = 0, n = 0, k = 0;
};

class Gemm {
 public:
  static constexpr size_t kDefaultWorkspaceBytes = 32 << 20;  // cuBLAS's advice for Hopper

  // Start-up only: creates the handle and allocates the workspace on the current device.
  static absl::StatusOr<std::unique_ptr<Gemm>> Create(
      size_t workspace_bytes = kDefaultWorkspaceBytes);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // Enqueues y = x . W^T (+ bias). m == 0 is a no-op. Aborts when no algorithm exists for
  // the shape (a broken invariant: the shapes are fixed by the model at start-up).
  void Run(const GemmArgs& args, cudaStream_t stream);

  size_t cached_shapes() const { return plans_.size(); }
  // cublasLtMatmulAlgoGetHeuristic calls so far.
  int64_t heuristic_queries() const { return heuristic_queries_; }

  // The row count whose algorithm serves `m` rows: m itself up to 32 rows (rounded up to a
  // multiple of 8), then the next value with three significant bits (32, 40, 48, 56, 64,
  // 80, ...): never more than 25% above m.
  static int64_t RowBucket(int64_t m);

  // Runs `args` once in every bucket from skinny_max_rows() + 1 rows to the one holding
  // args.m (x and y must hold args.m rows): afterwards no product of that shape with at
  // most args.m rows queries heuristics or first loads its bucket's kernel.
  void Warm(GemmArgs args, cudaStream_t stream);
  // Rows up to which the skinny kernel serves a product (0: cuBLASLt only), at most
  // internal::kSkinnyMaxRows. A new Gemm starts from the process-wide default (8), which
  // benchmarks may change before the worker creates its Gemm.
  static void SetDefaultSkinnyMaxRows(int rows);
  void set_skinny_max_rows(int rows);
  int skinny_max_rows() const { return skinny_max_rows_; }
  // Whether Run() would send these arguments to the skinny kernel.
  bool TakesSkinnyPath(const GemmArgs& args) const;

 private:
  struct Key {
    int64_t m, n, k, ldx, ldy;
    uint32_t flags;  // y_float | bias << 1 | alignment classes << 2
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& key) const;
  };
  struct Plan;
  struct Layouts;

  Gemm(cublasLtHandle_t handle, void* workspace, size_t workspace_bytes);
  Plan& PlanFor(const Key& key, const GemmArgs& args);
  // cuBLASLt's first choice for `op` over `layouts` (aborts when there is none).
  cublasLtMatmulAlgo_t Heuristic(cublasLtMatmulDesc_t op, const Layouts& layouts,
                                 const Key& key, const GemmArgs& args);

  cublasLtHandle_t handle_;
  void* workspace_;
  size_t workspace_bytes_;
  int skinny_max_rows_;
  std::unordered_map<Key, std::unique_ptr<Plan>, KeyHash> plans_;
  std::unordered_map<Key, cublasLtMatmulAlgo_t, KeyHash> bucket_algos_;  // key.m: RowBucket
  int64_t heuristic_queries_ = 0;
};

}  // namespace strata::kernels::cuda
