// Moves KV blocks between the device cache and the pinned host tier for the CUDA worker,
// and within the device cache (copy-on-write of a shared block).
// The host tier mirrors the device layout: per layer, K then V, each [blocks, block bytes].
// Copies that must land before compute run in order on one stream, and the compute stream
// waits for them with an event; overlapped ones run on a second stream alongside compute.
// Each list's copies are issued as one batched copy per call (cudaMemcpyBatchAsync), split
// into consecutive batches only where a copy depends on an earlier one of the list (the
// copies of one batch run in no particular order).
// Thread affinity: the worker's thread. The host tier is allocated once, at Create.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/worker.h"

namespace strata::worker {

class KvTierCopier {
 public:
  struct LayerCache {
    void* k = nullptr;  // device, [device_blocks, block_bytes]
    void* v = nullptr;
  };
  static absl::StatusOr<std::unique_ptr<KvTierCopier>> Create(std::vector<LayerCache> layers,
                                                              int64_t block_bytes,
                                                              int32_t device_blocks,
                                                              int32_t host_blocks);
  ~KvTierCopier();

  int64_t host_bytes() const { return host_bytes_; }
  // Issues the copies (see Worker::StartCopies).
  absl::Status Start(std::span<const KvBlockCopy> before_compute,
                     std::span<const KvBlockCopy> overlapped);
  // Makes `compute` wait for the before-compute copies issued so far.
  absl::Status OrderBefore(cudaStream_t compute);
  // Returns once every issued copy has landed.
  absl::Status Wait();

 private:
  KvTierCopier() = default;
  absl::Status Issue(std::span<const KvBlockCopy> copies, cudaStream_t stream);
  // Issues the copies gathered so far as one batch and starts a new one.
  absl::Status Flush(cudaStream_t stream);

  std::vector<LayerCache> layers_;
  int64_t block_bytes_ = 0;
  int32_t device_blocks_ = 0;
  int32_t host_blocks_ = 0;
  char* host_ = nullptr;  // pinned, [layer][K, V][host_blocks][block_bytes]
  int64_t host_bytes_ = 0;
  cudaStream_t ordered_ = nullptr, overlapped_ = nullptr;
  cudaEvent_t ordered_done_ = nullptr;
  bool ordered_pending_ = false;
  std::vector<void*> dsts_;
  std::vector<const void*> srcs_;
  std::vector<size_t> sizes_;
  // Blocks the batch being gathered reads and writes (device ids; host ones as -1 - id).
  std::unordered_set<int64_t> read_, written_;
};

}  // namespace strata::worker
