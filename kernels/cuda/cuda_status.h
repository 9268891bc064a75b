// absl::Status variants of the CUDA checks, for start-up paths where a failure is an
// ordinary outcome to report (no device, not enough memory). Host code only.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "absl/status/status.h"

namespace strata::kernels::cuda {

// OK for cudaSuccess; otherwise an error naming `what` and the CUDA error string.
// cudaErrorMemoryAllocation maps to kResourceExhausted, other errors to kInternal.
absl::Status CudaStatus(cudaError_t error, const char* what);
absl::Status CublasStatus(cublasStatus_t status, const char* what);

}  // namespace strata::kernels::cuda

#define STRATA_CUDA_RETURN_IF_ERROR(expr)                                                  \
  do {                                                                                     \
    absl::Status strata_cuda_status_ = ::strata::kernels::cuda::CudaStatus((expr), #expr); \
    if (!strata_cuda_status_.ok()) return strata_cuda_status_;                             \
  } while (0)

#define STRATA_CUBLAS_RETURN_IF_ERROR(expr)                                                  \
  do {                                                                                       \
    absl::Status strata_cuda_status_ = ::strata::kernels::cuda::CublasStatus((expr), #expr); \
    if (!strata_cuda_status_.ok()) return strata_cuda_status_;                               \
  } while (0)
