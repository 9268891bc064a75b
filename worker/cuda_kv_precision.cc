#include "worker/cuda_kv_precision.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "kernels/cpu/kv_quant.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/kv_quant.h"

namespace strata::worker {

size_t CudaKvPrecision::DeviceBytes(int64_t max_blocks) {
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(max_blocks, 1)) * sizeof(int32_t);
  return (bytes + 255) / 256 * 256 + 256;
}

int64_t CudaKvPrecision::QuantizedBlockBytes(const ModelConfig& config, int32_t block_size) {
  return config.num_hidden_layers * 2 *
         kernels::cuda::KvInt8PlaneBytes(block_size, config.num_key_value_heads, config.head_dim);
}

bool CudaKvPrecision::HasInt8Pages(std::span<const SequenceWork> batch) {
  for (const SequenceWork& work : batch) {
    const SequenceSlice& s = work.slice;
    const size_t used = std::min(s.block_precision.size(), s.block_table.size());
    if (std::any_of(s.block_precision.begin(), s.block_precision.begin() + used,
                    [](uint8_t p) { return p == kernels::cpu::kKvInt8; })) {
      return true;
    }
  }
  return false;
}

CudaKvPrecision::~CudaKvPrecision() {
  if (host_ != nullptr) cudaFreeHost(host_);
}

absl::Status CudaKvPrecision::Init(void* device, int64_t max_blocks, int64_t num_blocks) {
  device_ = static_cast<int32_t*>(device);
  max_blocks_ = std::max<int64_t>(max_blocks, 1);
  num_blocks_ = num_blocks;
  STRATA_CUDA_RETURN_IF_ERROR(cudaHostAlloc(reinterpret_cast<void**>(&host_),
                                            max_blocks_ * sizeof(int32_t), cudaHostAllocDefault));
  return absl::OkStatus();
}

absl::Status CudaKvPrecision::Quantize(std::span<const SequenceWork> batch, CudaModel& model,
                                       cudaStream_t stream) {
  int64_t count = 0;
  for (const SequenceWork& work : batch) count += work.slice.quantize_blocks.size();
  if (count == 0) return absl::OkStatus();
  if (count > max_blocks_) {
    return absl::InvalidArgumentError(absl::StrCat("batch quantizes ", count,
                                                   " KV blocks; the worker stages at most ",
                                                   max_blocks_));
  }
  STRATA_CHECK(host_ != nullptr) << "CudaKvPrecision used before Init";
  sorted_.clear();
  for (const SequenceWork& work : batch) {
    for (int32_t block : work.slice.quantize_blocks) {
      if (block < 0 || block >= num_blocks_) {
        return absl::InvalidArgumentError(
            absl::StrCat("quantize_blocks: block id ", block, " out of range"));
      }
      sorted_.push_back(block);
    }
  }
  std::sort(sorted_.begin(), sorted_.end());
  if (std::adjacent_find(sorted_.begin(), sorted_.end()) != sorted_.end()) {
    return absl::InvalidArgumentError(
        "quantize_blocks: a block is listed twice (it would be quantized twice)");
  }
  // The previous batch's copy out of host_ was stream-ordered before that batch's kernels,
  // which the worker waited for: host_ is free to refill.
  std::copy(sorted_.begin(), sorted_.end(), host_);
  STRATA_CUDA_CHECK(cudaMemcpyAsync(device_, host_, count * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream));
  model.QuantizeKvBlocks(device_, static_cast<int32_t>(count));
  blocks_quantized_ += count;
  return absl::OkStatus();
}

}  // namespace strata::worker
