#include "kernels/cuda/cuda_check.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"

namespace strata::kernels::cuda {
namespace internal {

void CudaFail(const char* file, int line, const char* expr, cudaError_t error) {
  std::fprintf(stderr, "%s:%d: CUDA error %s (%s) in %s\n", file, line, cudaGetErrorName(error),
               cudaGetErrorString(error), expr);
  std::fflush(stderr);
  std::abort();
}

void CublasFail(const char* file, int line, const char* expr, cublasStatus_t status) {
  std::fprintf(stderr, "%s:%d: cuBLAS error %d (%s) in %s\n", file, line, static_cast<int>(status),
               cublasLtGetStatusString(status), expr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace internal

absl::Status CudaStatus(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  const std::string message =
      absl::StrCat(std::string(what), ": CUDA error ", std::string(cudaGetErrorName(error)), " (",
                   std::string(cudaGetErrorString(error)), ")");
  if (error == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::Status CublasStatus(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string message =
      absl::StrCat(std::string(what), ": cuBLAS error ", static_cast<int>(status), " (",
                   std::string(cublasLtGetStatusString(status)), ")");
  if (status == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

}  // namespace strata::kernels::cuda
