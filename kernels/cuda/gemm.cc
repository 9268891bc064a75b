#include "kernels/cuda/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/gemm_skinny.h"

namespace strata::kernels::cuda {
namespace {

// 16 when the address allows 16-byte vector access, else 2 (bf16 element alignment).
uint32_t AlignmentOf(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0 ? 16u : 2u; }

internal::SkinnyGemmArgs SkinnyArgs(const GemmArgs& a) {
  return {.x = a.x,
          .ldx = a.ldx,
          .w = a.w,
          .bias = a.bias,
          .y = a.y,
          .ldy = a.ldy,
          .y_float = a.y_float,
          .m = static_cast<int32_t>(a.m),
          .n = static_cast<int32_t>(a.n),
          .k = static_cast<int32_t>(a.k)};
}

}  // namespace

// Column-major view: Y^T [n, m] = W [k, n]^T-as-stored . X^T [k, m], i.e. D = op(A) B with
// A = W (k x n column-major, transposed), B = X (k x m column-major), D = Y^T (n x m).
struct Gemm::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo;
  ~Plan() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

size_t Gemm::KeyHash::operator()(const Key& key) const {
  size_t h = 0;
  for (int64_t v : {key.m, key.n, key.k, key.ldx, key.ldy, static_cast<int64_t>(key.flags)}) {
    h = h * 1000003u ^ std::hash<int64_t>()(v);
  }
  return h;
}

absl::StatusOr<std::unique_ptr<Gemm>> Gemm::Create(size_t workspace_bytes) {
  // The workspace first: it also makes sure the device's context exists before the handle.
  void* workspace = nullptr;
  STRATA_CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace, std::max<size_t>(workspace_bytes, 256)));
  cublasLtHandle_t handle = nullptr;
  if (absl::Status status = CublasStatus(cublasLtCreate(&handle), "cublasLtCreate"); !status.ok()) {
    cudaFree(workspace);
    return status;
  }
  return std::unique_ptr<Gemm>(new Gemm(handle, workspace, workspace_bytes));
}

namespace {
std::atomic<int> default_skinny_max_rows{internal::kSkinnyMaxRows};
}  // namespace

void Gemm::SetDefaultSkinnyMaxRows(int rows) {
  default_skinny_max_rows.store(std::clamp(rows, 0, internal::kSkinnyMaxRows));
}

Gemm::Gemm(cublasLtHandle_t handle, void* workspace, size_t workspace_bytes)
    : handle_(handle),
      workspace_(workspace),
      workspace_bytes_(workspace_bytes),
      skinny_max_rows_(default_skinny_max_rows.load()) {}

void Gemm::set_skinny_max_rows(int rows) {
  skinny_max_rows_ = std::clamp(rows, 0, internal::kSkinnyMaxRows);
}

bool Gemm::TakesSkinnyPath(const GemmArgs& args) const {
  return args.m <= skinny_max_rows_ && args.n <= INT32_MAX && args.k <= INT32_MAX &&
         internal::SkinnyGemmSupported(SkinnyArgs(args));
}

Gemm::~Gemm() {
  plans_.clear();
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

int64_t Gemm::RowBucket(int64_t m) {
  if (m <= 32) return (m + 7) / 8 * 8;
  // Keep the top three bits, rounding up: steps of 1/8 to 1/4 of m.
  const int shift = 63 - __builtin_clzll(static_cast<uint64_t>(m)) - 2;
  const int64_t step = int64_t{1} << shift;
  return (m + step - 1) / step * step;
}

// The matrix descriptors of D = op(A) B for `m` rows (see Gemm::Plan), owned.
struct Gemm::Layouts {
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  Layouts(const GemmArgs& args, int64_t m) {
    const cudaDataType_t y_type = args.y_float ? CUDA_R_32F : CUDA_R_16BF;
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a, CUDA_R_16BF, args.k, args.n, args.k));
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b, CUDA_R_16BF, args.k, m, args.ldx));
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d, y_type, args.n, m, args.ldy));
  }
  // Hands the descriptors over; this object then owns nothing.
  void Release() { a = b = d = nullptr; }
  ~Layouts() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
  }
  Layouts(const Layouts&) = delete;
  Layouts& operator=(const Layouts&) = delete;
};

cublasLtMatmulAlgo_t Gemm::Heuristic(cublasLtMatmulDesc_t op, const Layouts& layouts,
                                     const Key& key, const GemmArgs& args) {
  cublasLtMatmulPreference_t preference = nullptr;
  STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  STRATA_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &workspace_bytes_, sizeof(workspace_bytes_)));
  const uint32_t align_x = (key.flags >> 2) & 31, align_w = (key.flags >> 7) & 31,
                 align_y = (key.flags >> 12) & 31;
  for (auto [attribute, value] : {std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_w},
                                  std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_x},
                                  std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_y},
                                  std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_y}}) {
    STRATA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof(value)));
  }
  cublasLtMatmulHeuristicResult_t result;
  int found = 0;
  STRATA_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_, op, layouts.a, layouts.b,
                                                     layouts.d, layouts.d, preference, 1,
                                                     &result, &found));
  STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(preference));
  ++heuristic_queries_;
  STRATA_CHECK(found > 0) << "cuBLASLt has no algorithm for m=" << key.m << " n=" << args.n
                          << " k=" << args.k;
  return result.algo;
}

Gemm::Plan& Gemm::PlanFor(const Key& key, const GemmArgs& args) {
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  auto plan = std::make_unique<Plan>();
  STRATA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T, none = CUBLAS_OP_N;
  STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA,
                                                     &transpose, sizeof(transpose)));
  STRATA_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &none, sizeof(none)));
  if (args.bias != nullptr) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                       &epilogue, sizeof(epilogue)));
    const cudaDataType_t bias_type = CUDA_R_16BF;
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
        plan->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
  }
  Layouts exact(args, key.m);

  // The bucket's algorithm, chosen once for the bucket's row count with this operation.
  Key bucket = key;
  bucket.m = RowBucket(key.m);
  auto found = bucket_algos_.find(bucket);
  if (found == bucket_algos_.end()) {
    const cublasLtMatmulAlgo_t algo =
        bucket.m == key.m ? Heuristic(plan->op, exact, bucket, args)
                          : Heuristic(plan->op, Layouts(args, bucket.m), bucket, args);
    found = bucket_algos_.emplace(bucket, algo).first;
  }
  plan->algo = found->second;
  // The bucket's algorithm must support the exact shape within the workspace; if not, the
  // shape gets its own.
  cublasLtMatmulHeuristicResult_t check;
  const cublasStatus_t status = cublasLtMatmulAlgoCheck(handle_, plan->op, exact.a, exact.b,
                                                        exact.d, exact.d, &plan->algo, &check);
  if (status != CUBLAS_STATUS_SUCCESS || check.workspaceSize > workspace_bytes_) {
    plan->algo = Heuristic(plan->op, exact, key, args);
  }
  plan->a = exact.a, plan->b = exact.b, plan->d = exact.d;
  exact.Release();
  return *plans_.emplace(key, std::move(plan)).first->second;
}

void Gemm::Warm(GemmArgs args, cudaStream_t stream) {
  const int64_t rows = args.m;
  // Each bucket at its own row count; the last one (holding `rows`) at `rows`.
  for (int64_t m = RowBucket(skinny_max_rows_ + 1);; m = RowBucket(m + 1)) {
    args.m = std::min(m, rows);
    Run(args, stream);
    if (m >= rows) break;
  }
}

void Gemm::Run(const GemmArgs& args, cudaStream_t stream) {
  if (args.m == 0) return;
  STRATA_CHECK(args.ldx >= args.k && args.ldy >= args.n && args.n > 0 && args.k > 0);
  // cuBLASLt wants the bias in the output's type: a bf16 bias only with bf16 output.
  STRATA_CHECK(args.bias == nullptr || !args.y_float) << "a bf16 bias needs bf16 output";
  if (TakesSkinnyPath(args)) {
    internal::LaunchSkinnyGemm(SkinnyArgs(args), stream);
    return;
  }
  const uint32_t align_x = args.ldx % 8 == 0 ? AlignmentOf(args.x) : 2u;
  const uint32_t align_w = args.k % 8 == 0 ? AlignmentOf(args.w) : 2u;
  const uint32_t y_elem = args.y_float ? 4u : 2u;
  const uint32_t align_y =
      (args.ldy * y_elem) % 16 == 0 ? std::max(AlignmentOf(args.y), y_elem) : y_elem;
  const uint32_t align_bias = args.bias != nullptr ? AlignmentOf(args.bias) : 0u;
  const Key key{args.m,
                args.n,
                args.k,
                args.ldx,
                args.ldy,
                static_cast<uint32_t>(args.y_float) | (args.bias != nullptr) << 1 | align_x << 2 |
                    align_w << 7 | align_y << 12 | align_bias << 17};
  Plan& plan = PlanFor(key, args);
  if (args.bias != nullptr) {
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                       &args.bias, sizeof(args.bias)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  STRATA_CUBLAS_CHECK(cublasLtMatmul(handle_, plan.op, &alpha, args.w, plan.a, args.x, plan.b,
                                     &beta, args.y, plan.d, args.y, plan.d, &plan.algo, workspace_,
                                     workspace_bytes_, stream));
}

}  // namespace strata::kernels::cuda
