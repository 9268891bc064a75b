// The CUDA backend: CudaModel plus GPU sampling on one device, behind the Worker interface.
//
// At start-up the worker measures the device (cudaMemGetInfo), builds the MemoryPlan
// (weights, activations with the kernels' workspaces, logits, KV cache), logs it and
// allocates one arena per plan part; every later device buffer is carved from those
// arenas, and nothing is allocated on the device after Create() returns (cuBLASLt's
// workspace is the Gemm's own start-up allocation, counted in the activations part).
// Weights are uploaded as bf16; the KV cache is bf16 [num_blocks, block_size, kv_heads,
// head_dim] per layer for K and for V.
//
// Execute runs on one stream the worker owns and returns after the sampled tokens are back
// on the host. Batches of one-token decodes that are all sampled replay a CUDA graph
// captured per batch-size bucket (and decode split count), inputs updated by copies into
// fixed device addresses before the replay.
// Thread affinity: Execute and Forward are called from one thread at a time (the engine's).
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/gemm.h"
#include "worker/cuda_batch.h"
#include "worker/cuda_kv_precision.h"
#include "worker/cuda_model.h"
#include "worker/device_weights.h"
#include "worker/kv_tier_copier.h"
#include "worker/memory_plan.h"
#include "worker/worker.h"

namespace strata::worker {

struct CudaWorkerOptions {
  int device = 0;
  double gpu_memory_utilization = 0.9;
  int32_t block_size = 16;
  int64_t num_blocks = 0;  // 0: as many as the memory plan leaves room for
  int64_t host_cache_bytes = 0;  // pinned host tier for swapped-out and demoted KV blocks
  int64_t max_batch_tokens = 4096;
  int32_t max_num_seqs = 64;
  int32_t logits_chunk_rows = 256;
  int64_t max_model_len = 0;  // 0: the model's max_position_embeddings
  // Distinct penalty tokens staged for the GPU sampler per batch; a batch needing more is
  // sampled on the host instead. 0: max(65536, 2048 * max_num_seqs).
  int64_t max_penalty_tokens = 0;
  bool cuda_graphs = true;
  // Benchmarks: random bf16 weights of the config.json's shape; no checkpoint is read.
  bool random_weights = false;
  // Layered prefill: the plan holds max_batch_tokens rows of carried hidden states.
  bool layered_prefill = false;
  // A batch of graph-sized decodes plus a layered cohort runs as two passes: the decodes
  // replay their graph, then the cohort's layer group runs eagerly. Off: one eager pass
  // over both (the decodes ride along the cohort's group, every layer launched from here).
  bool layered_decode_graphs = true;
  // Decode batch sizes with a CUDA graph; a batch replays the smallest that holds it, its
  // padding rows computed and discarded. Steps of 8 up to 64, 16 up to 128, 32 beyond keep
  // that padding under a quarter of the batch (one long prompt joining 16 decodes pads to
  // 24, not 32). Graphs are captured on first use.
  std::vector<int32_t> graph_batch_sizes = {1,  2,  4,   8,   16,  24,  32,  40,  48,  56,
                                            64, 80, 96, 112, 128, 160, 192, 224, 256};
};

class CudaWorker : public Worker {
 public:
  static absl::StatusOr<std::unique_ptr<CudaWorker>> Create(const std::string& model_dir,
                                                            const CudaWorkerOptions& options);
  ~CudaWorker() override;

  const ModelConfig& model_config() const override { return config_; }
  MemoryReport memory() const override { return memory_; }
  // Reads the device's activated-expert count (a small copy and a stream sync).
  int64_t ExpertWeightBytesRead() override;
  absl::StatusOr<std::vector<SampledToken>> Execute(std::span<const SequenceWork> batch) override;
  absl::Status StartCopies(std::span<const KvBlockCopy> before_compute,
                           std::span<const KvBlockCopy> overlapped) override;
  absl::Status WaitForCopies() override;
  void DiscardCarried(int64_t sequence_id) override { carried_.erase(sequence_id); }
  size_t num_carried() const { return carried_.size(); }

  // Runs the batch like CpuModel::Forward: writes K/V and fills `logits` with
  // LogitsRows(sequences) float32 rows of vocab_size (for tests and reference checks).
  absl::Status Forward(std::span<const SequenceSlice> sequences, std::vector<float>* logits);

  const MemoryPlan& memory_plan() const { return plan_; }
  // The GEMM of this worker's model (its algorithm cache warmed by Create).
  const kernels::cuda::Gemm& gemm() const { return *gemm_; }
  // Decode steps served by graph replays, and graphs captured so far.
  int64_t graph_replays() const { return graph_replays_; }
  size_t graphs_captured() const { return graphs_.size(); }
  // Batches run as a decode graph replay followed by a layered cohort's eager pass.
  int64_t cohort_passes_beside_graphs() const { return cohort_passes_beside_graphs_; }
  // The graph batch size `batch` would replay (the smallest bucket holding it), 0 when it
  // runs eagerly (not all single-token samples, graphs off, or beyond the buckets).
  int32_t GraphBucket(std::span<const SequenceWork> batch) const;
  // Turns graph replays on or off (e.g. to compare both paths in tests).
  void set_cuda_graphs(bool on) { options_.cuda_graphs = on; }
  void set_layered_decode_graphs(bool on) { options_.layered_decode_graphs = on; }
  // Sets every K and V element of the cache to `bf16_bits` (benchmarks that decode over
  // contexts they never prefilled). Synchronous.
  void FillKvCache(uint16_t bf16_bits);

 private:
  CudaWorker() = default;
  absl::Status Init(const std::string& model_dir);

  // Stages tokens, positions and slots of `batch` and builds + uploads the attention plan.
  absl::Status PrepareEager(std::span<const SequenceWork> batch, int64_t* rows);
  absl::StatusOr<std::vector<SampledToken>> ExecuteEager(std::span<const SequenceWork> batch);
  // Embedding, layers and final norm over the staged batch; with layered-prefill slices,
  // each layer over the slices active at it, resuming and carrying their hidden states.
  absl::Status RunModel(std::span<const SequenceWork> batch, int64_t rows);
  // Heavy-hitter scores and score statistics: lists the slices that collect attention mass
  // or attention_stats (full-depth ones first) and zeroes their device mass accumulators;
  // returns the dispatch fields to use with every plan that covers `full_sequences` or all
  // sequences.
  AttentionDispatch StageAttentionMass(std::span<const SequenceWork> batch, size_t full_sequences,
                                       int32_t* full_items);
  // Waits for the stream, adds the accumulated mass into the slices' spans and copies the
  // statistics of the layers each slice ran into its attention_stats.
  absl::Status CollectAttentionMass(std::span<const SequenceWork> batch);
  absl::StatusOr<std::vector<SampledToken>> ExecuteGraph(std::span<const SequenceWork> batch,
                                                         int32_t bucket);
  // Stages a decode batch into the staging mirror and launches (or captures) its graph;
  // its sampled rows are rows 0..n of the sampler outputs once the stream passes them.
  // Returns the event that completes when the stream has read the mirror, or nullptr when
  // the penalty lists do not fit the device sampler (nothing was launched).
  cudaEvent_t LaunchGraph(std::span<const SequenceWork> batch, int32_t bucket);
  // The number of leading decodes that can replay a graph while the rest of the batch (a
  // layered cohort, stopping short of some layers) runs eagerly after them; 0: no split.
  size_t DecodesBesideCohort(std::span<const SequenceWork> batch) const;
  absl::StatusOr<std::vector<SampledToken>> ExecuteDecodesThenCohort(
      std::span<const SequenceWork> batch, size_t decodes);
  // Fills the sampler rows of `sampled` (indices into batch); false when the penalty lists
  // do not fit the staging area.
  bool StageSampling(std::span<const SequenceWork> batch, std::span<const int32_t> sampled,
                     int32_t padded_rows, int64_t* num_penalties);
  void RunSampler(int32_t row_begin, int32_t rows);
  // Host arrays the sampler's outputs are copied into: the staging mirror's, or a pinned
  // set of the decodes' own while a cohort's pass (which stages into the mirror) follows.
  struct SampledHost {
    int32_t* tokens = nullptr;
    float* logprobs = nullptr;
    int32_t* top_tokens = nullptr;  // [rows, kMaxTopLogprobs]
    float* top_logprobs = nullptr;
  };
  SampledHost StagingSampled() const;
  // Enqueues the copies of the sampled rows (their top lists only if one asks for them).
  void DownloadSampled(std::span<const SequenceWork> batch, std::span<const int32_t> sampled,
                       const SampledHost& to);
  // Reads rows the stream has copied (call after it is synchronised).
  std::vector<SampledToken> ReadSampled(std::span<const SequenceWork> batch,
                                        std::span<const int32_t> sampled,
                                        const SampledHost& from) const;
  std::vector<SampledToken> CollectSampled(std::span<const SequenceWork> batch,
                                           std::span<const int32_t> sampled);
  void RunGraphBody(const DecodeGraphShape& shape);

  CudaWorkerOptions options_;
  ModelConfig config_;
  MemoryPlan plan_;
  MemoryReport memory_;
  cudaStream_t stream_ = nullptr;
  int sm_count_ = 0;
  unsigned long long* moe_activated_experts_ = nullptr;  // device; MoE models only
  int32_t logits_rows_ = 0;  // rows of the logits buffer (and sampler workspace)
  kernels::cuda::AttentionConfig attention_config_;
  kernels::cuda::AttentionLimits attention_limits_;
  // Arenas, one per plan part, and what is carved from them.
  DeviceArena weights_arena_, activations_arena_, logits_arena_, kv_arena_, carry_arena_;
  std::unique_ptr<kernels::cuda::Gemm> gemm_;
  std::unique_ptr<CudaModel> model_;
  std::unique_ptr<KvTierCopier> copier_;
  CudaStaging staging_;
  CudaKvPrecision kv_precision_;  // int8 KV blocks (adaptive_precision)
  float* logits_ = nullptr;
  void* sampling_workspace_ = nullptr;
  // Host state reused across batches.
  kernels::cuda::AttentionPlan attention_plan_;
  std::vector<kernels::cuda::AttentionSequence> attention_seqs_;
  kernels::cuda::AttentionPlan full_depth_plan_;  // the slices over every layer alone
  // Layered prefill: per sequence, its slice's residual stream after its last layer run,
  // rows [offset, offset + rows) of carry_ (float32 [carry_capacity_, hidden]).
  struct CarrySlot {
    int64_t offset = 0;
    int64_t rows = 0;
  };
  std::unordered_map<int64_t, CarrySlot> carried_;
  float* carry_ = nullptr;
  // Heavy-hitter scores on the device: items {plan sequence, offset or -1: statistics only}
  // and accumulators; stats_: [max_num_seqs, layers, 3] score statistics per item.
  int2* mass_items_ = nullptr;
  float* mass_ = nullptr;
  float* mass_scratch_ = nullptr;
  int64_t mass_capacity_ = 0;
  std::vector<int2> mass_items_host_;
  std::vector<size_t> mass_slices_;  // batch index of each item
  std::vector<float> mass_host_;
  float* stats_ = nullptr;
  bool stats_staged_ = false;
  std::vector<float> stats_host_;
  int64_t carry_capacity_ = 0;
  int64_t carry_used_ = 0;  // slots are taken in order; reset when none is left
  std::vector<int32_t> sampled_;
  std::vector<float> host_logits_;
  int32_t* graph_plan_host_ = nullptr;  // pinned mirror of the attention metadata
  void* decodes_sampled_block_ = nullptr;  // pinned; carved into decodes_sampled_
  SampledHost decodes_sampled_;            // rows of the largest graph bucket
  cudaEvent_t graph_staged_ = nullptr;     // the graph's uploads have read the mirror
  std::map<DecodeGraphShape, cudaGraphExec_t> graphs_;
  int64_t graph_replays_ = 0;
  int64_t cohort_passes_beside_graphs_ = 0;
};

}  // namespace strata::worker
