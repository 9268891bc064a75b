// Kernel launches with programmatic dependent launch (PDL, Hopper and later).
//
// A kernel launched through Launch() may start while the kernel before it on the stream is
// still running, as soon as every block of that kernel has called
// GridDependencyLaunchDependents(). It must call GridDependencyWait() before it reads
// anything earlier work wrote and before it writes anything earlier work reads: the wait
// returns once every earlier kernel has completed and its writes are visible. Reads of
// data nothing on the stream writes (weights) may come before the wait; that is how a
// GEMM streams its first weight tiles while the previous kernel drains. So may reads of
// data written two or more kernels back when the kernel just before waits before it lets
// its successors start: those writers completed before this kernel started. Such reads
// bypass L1 (ld.global.cg), as moe.h's settled tiles do. Graph capture
// keeps the programmatic edges. Without PDL (SetProgrammaticLaunch(false), or a kernel
// launched with <<<>>>), both calls are no-ops and launches serialize as usual.
//
// Every kernel launched through Launch() calls GridDependencyWait() in every thread:
// a kernel that exits without it would let its successors start before its predecessors
// finished.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/cuda_check.h"

namespace strata::kernels::cuda {

// Process-wide switch, on by default (benchmarks compare both). Not for use while other
// threads launch.
void SetProgrammaticLaunch(bool on);
bool ProgrammaticLaunch();

namespace internal {

template <typename... Params, typename... Args>
void Launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
            cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = ProgrammaticLaunch() ? 1 : 0;
  STRATA_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace internal
}  // namespace strata::kernels::cuda
