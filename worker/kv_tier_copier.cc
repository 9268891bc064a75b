#include "worker/kv_tier_copier.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "kernels/cuda/cuda_status.h"

namespace strata::worker {

absl::StatusOr<std::unique_ptr<KvTierCopier>> KvTierCopier::Create(std::vector<LayerCache> layers,
                                                                   int64_t block_bytes,
                                                                   int32_t device_blocks,
                                                                   int32_t host_blocks) {
  auto copier = std::unique_ptr<KvTierCopier>(new KvTierCopier());
  copier->layers_ = std::move(layers);
  copier->block_bytes_ = block_bytes;
  copier->device_blocks_ = device_blocks;
  copier->host_blocks_ = host_blocks;
  copier->host_bytes_ = int64_t{host_blocks} * block_bytes * 2 *
                        static_cast<int64_t>(copier->layers_.size());
  if (copier->host_bytes_ > 0) {
    void* host = nullptr;
    STRATA_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&host, copier->host_bytes_, cudaHostAllocDefault));
    copier->host_ = static_cast<char*>(host);
  }
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&copier->ordered_, cudaStreamNonBlocking));
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&copier->overlapped_, cudaStreamNonBlocking));
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaEventCreateWithFlags(&copier->ordered_done_, cudaEventDisableTiming));
  return copier;
}

KvTierCopier::~KvTierCopier() {
  if (ordered_ != nullptr) cudaStreamSynchronize(ordered_);
  if (overlapped_ != nullptr) cudaStreamSynchronize(overlapped_);
  if (ordered_done_ != nullptr) cudaEventDestroy(ordered_done_);
  if (ordered_ != nullptr) cudaStreamDestroy(ordered_);
  if (overlapped_ != nullptr) cudaStreamDestroy(overlapped_);
  if (host_ != nullptr) cudaFreeHost(host_);
}

absl::Status KvTierCopier::Issue(std::span<const KvBlockCopy> copies, cudaStream_t stream) {
  if (copies.empty()) return absl::OkStatus();
  // Copies within one batched call run in no particular order, so a copy that touches a
  // block an earlier copy of the run writes (or reads, when it writes) starts a new run;
  // runs on one stream land in order. Usually the whole list is one run.
  dsts_.clear();
  srcs_.clear();
  sizes_.clear();
  written_.clear();
  read_.clear();
  const int64_t layer_stride = int64_t{host_blocks_} * block_bytes_;  // one K (or V) plane
  // Block `block` of a tier, as a key for the hazard sets: host blocks are negative.
  auto key = [](int32_t block, bool host) { return host ? -1 - int64_t{block} : int64_t{block}; };
  for (const KvBlockCopy& c : copies) {
    const bool src_on_host = c.direction == KvCopyDirection::kHostToDevice;
    const bool dst_on_host = c.direction == KvCopyDirection::kDeviceToHost;
    auto inside = [&](int32_t block, bool host) {
      return block >= 0 && block < (host ? host_blocks_ : device_blocks_);
    };
    if (!inside(c.src, src_on_host) || !inside(c.dst, dst_on_host)) {
      return absl::InvalidArgumentError(
          absl::StrCat("KV block copy ", c.src, " -> ", c.dst, " is outside the cache tiers"));
    }
    const int64_t src_key = key(c.src, src_on_host), dst_key = key(c.dst, dst_on_host);
    if (written_.contains(src_key) || written_.contains(dst_key) || read_.contains(dst_key)) {
      STRATA_RETURN_IF_ERROR(Flush(stream));
    }
    read_.insert(src_key);
    written_.insert(dst_key);
    for (size_t layer = 0; layer < layers_.size(); ++layer) {
      for (int plane = 0; plane < 2; ++plane) {
        auto address = [&](int32_t block, bool host) -> char* {
          if (host) {
            return host_ + (int64_t(layer) * 2 + plane) * layer_stride + int64_t{block} * block_bytes_;
          }
          return static_cast<char*>(plane == 0 ? layers_[layer].k : layers_[layer].v) +
                 int64_t{block} * block_bytes_;
        };
        dsts_.push_back(address(c.dst, dst_on_host));
        srcs_.push_back(address(c.src, src_on_host));
        sizes_.push_back(static_cast<size_t>(block_bytes_));
      }
    }
  }
  return Flush(stream);
}

absl::Status KvTierCopier::Flush(cudaStream_t stream) {
  written_.clear();
  read_.clear();
  if (dsts_.empty()) return absl::OkStatus();
  cudaMemcpyAttributes attributes{};
  attributes.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
  size_t attribute_index = 0;
  STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpyBatchAsync(dsts_.data(), srcs_.data(), sizes_.data(),
                                                   dsts_.size(), &attributes, &attribute_index,
                                                   1, stream));
  dsts_.clear();
  srcs_.clear();
  sizes_.clear();
  return absl::OkStatus();
}

absl::Status KvTierCopier::Start(std::span<const KvBlockCopy> before_compute,
                                 std::span<const KvBlockCopy> overlapped) {
  STRATA_RETURN_IF_ERROR(Issue(before_compute, ordered_));
  if (!before_compute.empty()) {
    STRATA_CUDA_RETURN_IF_ERROR(cudaEventRecord(ordered_done_, ordered_));
    ordered_pending_ = true;
  }
  return Issue(overlapped, overlapped_);
}

absl::Status KvTierCopier::OrderBefore(cudaStream_t compute) {
  if (!ordered_pending_) return absl::OkStatus();
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(compute, ordered_done_, 0));
  ordered_pending_ = false;
  return absl::OkStatus();
}

absl::Status KvTierCopier::Wait() {
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ordered_));
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(overlapped_));
  ordered_pending_ = false;
  return absl::OkStatus();
}

}  // namespace strata::worker
