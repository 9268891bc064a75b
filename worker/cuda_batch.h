// Host-side preparation of a CUDA worker batch: validation, the per-batch input arrays at
// fixed device addresses (so CUDA graphs can read them), the sampling rows with their
// penalty lists, and the fixed-shape decode attention items of a graph replay.
// Thread affinity: the worker's thread.
#pragma once

#include <cuda_runtime.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/sampling.h"
#include "worker/forward_batch.h"
#include "worker/model_config.h"
#include "worker/worker.h"

namespace strata::worker {

// A device region of typed arrays at fixed offsets, with a pinned host mirror of the same
// layout: the host fills the mirror, Upload copies the used prefix of an array across.
class CudaStaging {
 public:
  struct Limits {
    int64_t max_tokens = 0;  // token rows of one forward pass
    int32_t max_seqs = 0;    // sequences (and sampled rows) of one batch
    int64_t max_penalties = 0;
  };
  template <typename T>
  struct Array {
    size_t offset = 0;
    size_t capacity = 0;
  };

  static size_t DeviceBytes(const Limits& limits);
  CudaStaging() = default;
  ~CudaStaging();
  CudaStaging(const CudaStaging&) = delete;
  CudaStaging& operator=(const CudaStaging&) = delete;
  // `device` is DeviceBytes(limits) long, 256-byte aligned. Allocates the pinned mirror.
  absl::Status Init(const Limits& limits, char* device);

  template <typename T>
  T* host(Array<T> a) const {
    return reinterpret_cast<T*>(host_ + a.offset);
  }
  template <typename T>
  T* device(Array<T> a) const {
    return reinterpret_cast<T*>(device_ + a.offset);
  }
  template <typename T>
  void Upload(Array<T> a, size_t count, cudaStream_t stream) const {
    CopyToDevice(a.offset, count * sizeof(T), a.capacity * sizeof(T), stream);
  }
  // Copies the first `count` elements of the device array into `to` (the mirror's, or
  // any pinned host array that long).
  template <typename T>
  void Download(Array<T> a, size_t count, T* to, cudaStream_t stream) const {
    CopyToHost(a.offset, count * sizeof(T), a.capacity * sizeof(T), to, stream);
  }

  const Limits& limits() const { return limits_; }

  // Inputs.
  Array<int32_t> ids, positions, logit_rows;
  Array<int64_t> slots;
  Array<kernels::cuda::SamplingRow> sampling;
  Array<int32_t> penalty_offsets;  // max_seqs + 1
  Array<kernels::cuda::PenaltyToken> penalties;
  // Outputs of the sampler.
  Array<int32_t> tokens, top_tokens;  // top: [max_seqs, kMaxTopLogprobs]
  Array<float> logprobs, top_logprobs;

 private:
  void CopyToDevice(size_t offset, size_t bytes, size_t capacity, cudaStream_t stream) const;
  void CopyToHost(size_t offset, size_t bytes, size_t capacity, void* to,
                  cudaStream_t stream) const;
  Limits limits_;
  char* device_ = nullptr;
  char* host_ = nullptr;
};

// The checks CpuModel applies (token ids in the vocabulary, block tables long enough, block
// ids in range), plus the worker's limits (rows, sequences) and the sampling contract.
absl::Status ValidateBatch(const ModelConfig& config, int64_t num_blocks, int32_t block_size,
                           int64_t max_tokens, int32_t max_seqs,
                           std::span<const SequenceWork> batch);

// Fills one sampler row from a sequence's parameters; appends its distinct penalty tokens
// (prompt and output; output counts) when a penalty is on. Returns the count appended.
int64_t FillSamplingRow(const SequenceWork& work, kernels::cuda::SamplingRow* row,
                        kernels::cuda::PenaltyToken* penalties, int64_t capacity);

// The decode attention of a CUDA graph: `bucket` one-row sequences (the batch's, then
// padding ones of one token in block 0) over exactly bucket x `splits` context chunks, so
// that the launches have a fixed shape; the chunks are shared among the rows by context
// (ShareDecodeItems), each row cut into equal ones. Written into the plan layout's arrays of `host`
// (a mirror of the attention workspace's metadata) and uploaded into `workspace`. With
// int8_pages the pages' precision flags travel too (the graph reads them: a graph captured
// with int8 pages is a different graph from one without).
struct DecodeGraphShape {
  int32_t bucket = 0;
  int32_t splits = 1;
  bool int8_pages = false;
  auto operator<=>(const DecodeGraphShape&) const = default;
};
// Splits per row for this batch: enough that bucket x splits items cover every row at the
// AttentionPlan's chunk size (DecodeItemsNeeded), rounded up to a power of two, no more
// than `max_partials` partial outputs.
int32_t DecodeGraphSplits(const kernels::cuda::AttentionConfig& config, int32_t bucket,
                          std::span<const int64_t> context_lens, int32_t max_partials);
void UploadDecodeGraphPlan(const kernels::cuda::AttentionPlan::Layout& layout,
                           const DecodeGraphShape& shape, std::span<const SequenceWork> batch,
                           int32_t block_size, int32_t* host, void* workspace, cudaStream_t stream);

}  // namespace strata::worker
