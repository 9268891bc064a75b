// Int8 KV blocks on the CUDA worker (adaptive_precision eviction): the batch's
// quantize_blocks converted in place before a pass (kernels/cuda/kv_quant.h), and the
// byte count an int8 block really uses, which the worker reports so that the engine counts
// budgets with it. The per-page precision flags reach attention through the attention plan
// (SequenceSlice::block_precision -> AttentionSequence::block_precision) or, for a CUDA
// graph, through UploadDecodeGraphPlan; both land at a fixed offset of the attention
// workspace, which is what a captured graph reads.
// Thread affinity: the worker's thread; its device work goes on the worker's stream.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "worker/cuda_model.h"
#include "worker/model_config.h"
#include "worker/worker.h"

namespace strata::worker {

class CudaKvPrecision {
 public:
  // Bytes of device memory (256-byte aligned, padding included) for a list of up to
  // `max_blocks` block ids per batch.
  static size_t DeviceBytes(int64_t max_blocks);
  // Bytes one KV block uses as int8 over every layer, K and V, scales included.
  static int64_t QuantizedBlockBytes(const ModelConfig& config, int32_t block_size);
  // Whether some slice of the batch reads an int8 block.
  static bool HasInt8Pages(std::span<const SequenceWork> batch);

  CudaKvPrecision() = default;
  ~CudaKvPrecision();
  CudaKvPrecision(const CudaKvPrecision&) = delete;
  CudaKvPrecision& operator=(const CudaKvPrecision&) = delete;

  // `device` is DeviceBytes(max_blocks) long; allocates the pinned host list.
  absl::Status Init(void* device, int64_t max_blocks, int64_t num_blocks);

  // Converts every block listed in the batch's quantize_blocks, in every layer of `model`,
  // on `stream` (enqueued only: it runs before whatever the stream does next).
  // InvalidArgument for a block id out of range, listed twice, or more blocks than the
  // list holds; nothing is enqueued then.
  absl::Status Quantize(std::span<const SequenceWork> batch, CudaModel& model,
                        cudaStream_t stream);
  // Blocks converted so far.
  int64_t blocks_quantized() const { return blocks_quantized_; }

 private:
  int32_t* device_ = nullptr;
  int32_t* host_ = nullptr;  // pinned, max_blocks_ ids
  int64_t max_blocks_ = 0;
  int64_t num_blocks_ = 0;
  int64_t blocks_quantized_ = 0;
  std::vector<int32_t> sorted_;
};

}  // namespace strata::worker
