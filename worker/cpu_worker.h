// The CPU backend: CpuModel plus sampling, on the calling thread (OpenBLAS and OpenMP
// threads do the parallel work inside each op).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/cpu_model.h"
#include "worker/worker.h"

namespace strata::worker {

struct CpuWorkerOptions {
  int32_t block_size = 16;
  int32_t num_blocks = 0;      // 0: as many as kv_cache_bytes allows
  int64_t kv_cache_bytes = 0;  // used when num_blocks is 0
  int64_t host_cache_bytes = 0;  // the second (swap / demoted prefix) tier
  int32_t logits_chunk_rows = 256;
  int num_threads = 0;  // 0: every core
};

class CpuWorker : public Worker {
 public:
  static absl::StatusOr<std::unique_ptr<CpuWorker>> Create(const std::string& model_dir,
                                                           const CpuWorkerOptions& options);

  const ModelConfig& model_config() const override { return model_->config(); }
  MemoryReport memory() const override { return memory_; }
  int64_t ExpertWeightBytesRead() override { return model_->expert_weight_bytes_read(); }
  absl::StatusOr<std::vector<SampledToken>> Execute(std::span<const SequenceWork> batch) override;
  // Copies run at once on the calling thread (both tiers are host memory).
  absl::Status StartCopies(std::span<const KvBlockCopy> before_compute,
                           std::span<const KvBlockCopy> overlapped) override;
  absl::Status WaitForCopies() override { return absl::OkStatus(); }
  void DiscardCarried(int64_t sequence_id) override { model_->DiscardCarried(sequence_id); }

  CpuModel& model() { return *model_; }

 private:
  explicit CpuWorker(std::unique_ptr<CpuModel> model, MemoryReport memory)
      : model_(std::move(model)), memory_(memory) {}
  absl::Status Copy(const KvBlockCopy& copy);
  std::unique_ptr<CpuModel> model_;
  MemoryReport memory_;
  // The host tier: [host block][layer][K, V][block floats].
  std::vector<float> host_tier_;
  std::vector<SequenceSlice> slices_;
  std::vector<float> logits_;
};

}  // namespace strata::worker
