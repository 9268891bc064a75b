// Checking every CUDA runtime and cuBLAS call.
//
// STRATA_CUDA_CHECK / STRATA_CUBLAS_CHECK abort with file:line, the failed expression and
// the library's error string: a failing call after start-up is a broken invariant (a bad
// launch configuration, an illegal address), never a value to recover from.
// STRATA_CUDA_CHECK_LAUNCH() checks the last kernel launch of the calling thread.
// For start-up paths that may fail for ordinary reasons (no device, out of memory) use
// CudaStatus() / STRATA_CUDA_RETURN_IF_ERROR from kernels/cuda/cuda_status.h instead.
// This header is safe to include from .cu files (no Abseil).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace strata::kernels::cuda::internal {

[[noreturn]] void CudaFail(const char* file, int line, const char* expr, cudaError_t error);
[[noreturn]] void CublasFail(const char* file, int line, const char* expr, cublasStatus_t status);

}  // namespace strata::kernels::cuda::internal

#define STRATA_CUDA_CHECK(expr)                                                                   \
  do {                                                                                            \
    const cudaError_t strata_cuda_error_ = (expr);                                                \
    if (strata_cuda_error_ != cudaSuccess) {                                                      \
      ::strata::kernels::cuda::internal::CudaFail(__FILE__, __LINE__, #expr, strata_cuda_error_); \
    }                                                                                             \
  } while (0)

#define STRATA_CUBLAS_CHECK(expr)                                              \
  do {                                                                         \
    const cublasStatus_t strata_cublas_status_ = (expr);                       \
    if (strata_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                      \
      ::strata::kernels::cuda::internal::CublasFail(__FILE__, __LINE__, #expr, \
                                                    strata_cublas_status_);    \
    }                                                                          \
  } while (0)

#define STRATA_CUDA_CHECK_LAUNCH() STRATA_CUDA_CHECK(cudaGetLastError())
