#include "worker/cuda_worker.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/sampling.h"
#include "worker/layer_split.h"
#include "worker/rope.h"
#include "worker/safetensors.h"

namespace strata::worker {

namespace cuda = kernels::cuda;

namespace {

size_t RoundUp(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaWorker>> CudaWorker::Create(const std::string& model_dir,
                                                               const CudaWorkerOptions& options) {
  std::unique_ptr<CudaWorker> worker(new CudaWorker());
  worker->options_ = options;
  STRATA_RETURN_IF_ERROR(worker->Init(model_dir));
  return worker;
}

CudaWorker::~CudaWorker() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (graph_plan_host_ != nullptr) cudaFreeHost(graph_plan_host_);
  if (decodes_sampled_block_ != nullptr) cudaFreeHost(decodes_sampled_block_);
  if (graph_staged_ != nullptr) cudaEventDestroy(graph_staged_);
  model_.reset();
  gemm_.reset();
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::Status CudaWorker::Init(const std::string& model_dir) {
  const CudaWorkerOptions& o = options_;
  if (o.block_size <= 0 || o.max_batch_tokens <= 0 || o.max_num_seqs <= 0 ||
      o.logits_chunk_rows <= 0) {
    return absl::InvalidArgumentError(
        "cuda worker: block_size, max_batch_tokens, max_num_seqs and logits_chunk_rows must be "
        "positive");
  }
  STRATA_ASSIGN_OR_RETURN(config_, LoadModelConfig(model_dir));
  if (config_.head_dim % 8 != 0 || config_.head_dim > 512) {
    return absl::InvalidArgumentError(absl::StrCat("cuda worker: head_dim ", config_.head_dim,
                                                   " must be a multiple of 8, at most 512"));
  }
  if (config_.is_moe() &&
      (config_.num_experts > cuda::kMoeMaxExperts ||
       config_.num_experts_per_tok > cuda::kMoeMaxTopK || config_.hidden_size % 8 != 0 ||
       config_.moe_intermediate_size % 8 != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda worker: MoE needs num_experts <= ", cuda::kMoeMaxExperts,
        ", num_experts_per_tok <= ", cuda::kMoeMaxTopK,
        " and hidden_size, moe_intermediate_size multiples of 8"));
  }
  STRATA_CUDA_RETURN_IF_ERROR(cudaSetDevice(o.device));
  STRATA_CUDA_RETURN_IF_ERROR(cudaFree(nullptr));  // creates the context before measuring
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, o.device));

  const int64_t hidden = config_.hidden_size, vocab = config_.vocab_size;
  const int64_t max_len = o.max_model_len > 0                   ? o.max_model_len
                          : config_.max_position_embeddings > 0 ? config_.max_position_embeddings
                                                                : 4096;
  logits_rows_ = std::max(o.logits_chunk_rows, o.max_num_seqs);
  attention_config_ = {.heads = static_cast<int32_t>(config_.num_attention_heads),
                       .kv_heads = static_cast<int32_t>(config_.num_key_value_heads),
                       .head_dim = static_cast<int32_t>(config_.head_dim),
                       .block_size = o.block_size,
                       .causal = true,
                       .sm_count = sm_count_};
  attention_limits_ = {
      .max_sequences = o.max_num_seqs,
      .max_query_rows = o.max_batch_tokens,
      .max_pages = int64_t{o.max_num_seqs} * ((max_len + o.block_size - 1) / o.block_size + 1)};
  const CudaStaging::Limits staging_limits{
      o.max_batch_tokens, o.max_num_seqs,
      o.max_penalty_tokens > 0 ? o.max_penalty_tokens
                               : std::max<int64_t>(65536, int64_t{2048} * o.max_num_seqs)};

  // Workspaces beyond the plan's per-token activations, all carved from the activations
  // part except the GEMM's (allocated by Gemm::Create) and the weights' alignment padding.
  const size_t gemm_bytes = cuda::Gemm::kDefaultWorkspaceBytes;
  const size_t attention_bytes =
      cuda::AttentionWorkspaceBytes(attention_config_, attention_limits_);
  const size_t staging_bytes = CudaStaging::DeviceBytes(staging_limits);
  const size_t gathered_bytes = RoundUp(size_t(logits_rows_) * hidden * 2, 256);
  const size_t inv_freq_bytes = RoundUp(config_.head_dim / 2 * sizeof(float), 256);
  const size_t weight_slack = WeightAlignmentSlack(config_);
  const size_t logits_bytes = RoundUp(size_t(logits_rows_) * vocab * 4, 256);
  const size_t sampler_bytes = cuda::SamplingWorkspaceBytes(logits_rows_, vocab);
  const int64_t planned_logits = int64_t{logits_rows_} * vocab * 4 * 2;
  const size_t logits_overflow =
      std::max<int64_t>(0, int64_t(logits_bytes + sampler_bytes) - planned_logits);
  const size_t moe_bytes =
      config_.is_moe() ? cuda::MoeWorkspaceBytes(o.max_batch_tokens, config_.num_experts,
                                                 config_.num_experts_per_tok,
                                                 config_.moe_intermediate_size, hidden) +
                             256
                       : 0;
  // Heavy-hitter scores: one float per page a batch can reference, items per sequence.
  const size_t mass_bytes = RoundUp(size_t(attention_limits_.max_pages) * sizeof(float), 256) +
                            RoundUp(size_t(o.max_num_seqs) * sizeof(int2), 256) +
                            RoundUp(cuda::AttentionMassScratchBytes(attention_config_,
                                                                    o.max_num_seqs),
                                    256) +
                            RoundUp(size_t(o.max_num_seqs) * config_.num_hidden_layers * 3 *
                                        sizeof(float),
                                    256);  // score statistics
  // Int8 KV blocks: the block ids a batch converts, at most one per page it references.
  const size_t kv_precision_bytes = CudaKvPrecision::DeviceBytes(attention_limits_.max_pages);
  const size_t carve_slack = 36 * 256;  // 256-byte alignment of each carved buffer
  const size_t extra = gemm_bytes + attention_bytes + staging_bytes + gathered_bytes +
                       inv_freq_bytes + weight_slack + logits_overflow + moe_bytes + mass_bytes +
                       kv_precision_bytes + carve_slack;

  size_t free_bytes = 0, total_bytes = 0;
  STRATA_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes));
  MemoryPlanInputs inputs;
  inputs.device_total_bytes = static_cast<int64_t>(total_bytes);
  inputs.device_free_bytes = static_cast<int64_t>(free_bytes);
  inputs.utilization = o.gpu_memory_utilization;
  inputs.max_batch_tokens = o.max_batch_tokens;
  inputs.max_num_seqs = o.max_num_seqs;
  inputs.logits_chunk_rows = o.logits_chunk_rows;
  inputs.block_size = o.block_size;
  inputs.requested_blocks = o.num_blocks;
  inputs.carried_prefill_tokens = o.layered_prefill ? o.max_batch_tokens : 0;
  inputs.extra_workspace_bytes = static_cast<int64_t>(extra);
  STRATA_ASSIGN_OR_RETURN(plan_, BuildMemoryPlan(config_, inputs));
  STRATA_LOG(kInfo) << "cuda worker: device " << o.device << ", " << (free_bytes >> 20)
                    << " MiB free of " << (total_bytes >> 20) << " MiB; memory plan:\n"
                    << plan_.ToString();

  const size_t activations_arena =
      plan_.Bytes("activations") - gemm_bytes - weight_slack - logits_overflow;
  STRATA_ASSIGN_OR_RETURN(weights_arena_,
                          DeviceArena::Create("weights", plan_.Bytes("weights") + weight_slack));
  STRATA_ASSIGN_OR_RETURN(activations_arena_,
                          DeviceArena::Create("activations", activations_arena));
  STRATA_ASSIGN_OR_RETURN(logits_arena_,
                          DeviceArena::Create("logits", plan_.Bytes("logits") + logits_overflow));
  STRATA_ASSIGN_OR_RETURN(kv_arena_, DeviceArena::Create("kv_cache", plan_.Bytes("kv_cache")));
  if (o.layered_prefill) {
    STRATA_ASSIGN_OR_RETURN(carry_arena_,
                            DeviceArena::Create("carried_prefill", plan_.Bytes("carried_prefill")));
    carry_capacity_ = o.max_batch_tokens;
    carry_ = carry_arena_.Take<float>(carry_capacity_ * hidden);
  }
  STRATA_ASSIGN_OR_RETURN(gemm_, cuda::Gemm::Create(gemm_bytes));
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));

  std::unique_ptr<Checkpoint> checkpoint;
  if (!o.random_weights) {
    STRATA_ASSIGN_OR_RETURN(checkpoint, Checkpoint::Open(model_dir));
  }
  STRATA_ASSIGN_OR_RETURN(DeviceWeights weights,
                          UploadWeights(checkpoint.get(), config_, &weights_arena_, stream_));

  // Activations, workspaces and the batch staging area.
  const int64_t rows = o.max_batch_tokens, inter = config_.intermediate_size;
  const int64_t q_width = config_.num_attention_heads * config_.head_dim;
  const int64_t kv_width = config_.num_key_value_heads * config_.head_dim;
  DeviceArena& a = activations_arena_;
  CudaActivations act;
  act.residual = a.Take<float>(rows * hidden);
  act.normed = a.Take<bf16>(rows * hidden);
  act.qkv = a.Take<bf16>(rows * (q_width + 2 * kv_width));
  act.attn = a.Take<bf16>(rows * q_width);
  act.proj = a.Take<bf16>(rows * hidden);
  act.gate_up = a.Take<bf16>(rows * 2 * inter);
  act.act = a.Take<bf16>(rows * inter);
  act.gathered = static_cast<bf16*>(a.Take(gathered_bytes));
  if (config_.is_moe()) {
    act.moe = cuda::MoeWorkspace::Carve(a.Take(moe_bytes - 256), rows, config_.num_experts,
                                        config_.num_experts_per_tok,
                                        config_.moe_intermediate_size, hidden);
    act.moe_activated_experts = a.Take<unsigned long long>(1);
    STRATA_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(act.moe_activated_experts, 0, sizeof(unsigned long long), stream_));
    moe_activated_experts_ = act.moe_activated_experts;
  }
  void* attention_workspace = a.Take(attention_bytes);
  mass_capacity_ = attention_limits_.max_pages;
  mass_ = a.Take<float>(mass_capacity_);
  mass_items_ = a.Take<int2>(o.max_num_seqs);
  mass_scratch_ = static_cast<float*>(
      a.Take(cuda::AttentionMassScratchBytes(attention_config_, o.max_num_seqs)));
  stats_ = a.Take<float>(int64_t{o.max_num_seqs} * config_.num_hidden_layers * 3);
  char* staging = static_cast<char*>(a.Take(staging_bytes));
  void* kv_precision = a.Take(kv_precision_bytes);
  float* inv_freq = static_cast<float*>(a.Take(inv_freq_bytes));
  logits_ = static_cast<float*>(logits_arena_.Take(logits_bytes));
  sampling_workspace_ = logits_arena_.Take(sampler_bytes);

  std::vector<cuda::PagedKvCache> kv_layers;
  const int64_t per_layer = plan_.num_kv_blocks * o.block_size * kv_width;
  for (int64_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    cuda::PagedKvCache cache;
    cache.k = kv_arena_.Take<bf16>(per_layer);
    cache.v = kv_arena_.Take<bf16>(per_layer);
    cache.num_blocks = plan_.num_kv_blocks;
    cache.block_size = o.block_size;
    cache.kv_heads = static_cast<int32_t>(config_.num_key_value_heads);
    cache.head_dim = static_cast<int32_t>(config_.head_dim);
    kv_layers.push_back(cache);
  }
  const std::vector<float> inv_freq_host = RopeInverseFrequencies(config_);
  STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpy(inv_freq, inv_freq_host.data(),
                                         inv_freq_host.size() * sizeof(float),
                                         cudaMemcpyHostToDevice));
  STRATA_RETURN_IF_ERROR(staging_.Init(staging_limits, staging));

  // The host tier (swap and demoted prefix blocks): pinned memory, allocated here once.
  const int64_t block_plane_bytes = int64_t{o.block_size} * kv_width * int64_t{sizeof(bf16)};
  std::vector<KvTierCopier::LayerCache> copier_layers;
  for (const cuda::PagedKvCache& cache : kv_layers) copier_layers.push_back({cache.k, cache.v});
  const int64_t host_blocks = std::min<int64_t>(
      o.host_cache_bytes / (block_plane_bytes * 2 * config_.num_hidden_layers), INT32_MAX);
  STRATA_ASSIGN_OR_RETURN(
      copier_, KvTierCopier::Create(std::move(copier_layers), block_plane_bytes,
                                    static_cast<int32_t>(plan_.num_kv_blocks),
                                    static_cast<int32_t>(host_blocks)));
  memory_ = {weights.bytes,
             plan_.Bytes("kv_cache"),
             static_cast<int32_t>(plan_.num_kv_blocks),
             o.block_size,
             copier_->host_bytes(),
             static_cast<int32_t>(host_blocks)};
  memory_.quantized_kv_block_bytes = CudaKvPrecision::QuantizedBlockBytes(config_, o.block_size);
  STRATA_RETURN_IF_ERROR(
      kv_precision_.Init(kv_precision, attention_limits_.max_pages, plan_.num_kv_blocks));
  model_ = std::make_unique<CudaModel>(config_, std::move(weights), std::move(kv_layers),
                                       gemm_.get(), inv_freq, act, attention_workspace,
                                       attention_config_, attention_limits_, stream_);
  // Every prompt length is a new GEMM row count: their algorithms and kernels are taken
  // now, not in the iteration that first meets them.
  const auto warm_start = std::chrono::steady_clock::now();
  model_->WarmGemms(o.max_batch_tokens, logits_rows_, logits_);
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  STRATA_LOG(kInfo) << "cuda worker: GEMM algorithms for up to " << o.max_batch_tokens
                    << " rows chosen and loaded in "
                    << std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - warm_start)
                           .count()
                    << " ms (" << gemm_->heuristic_queries() << " queries, "
                    << gemm_->cached_shapes() << " shapes)";

  // Graph buckets: sizes the limits allow, ascending; only where decode has its fast path.
  auto& sizes = options_.graph_batch_sizes;
  std::erase_if(sizes,
                [&](int32_t b) { return b <= 0 || b > o.max_num_seqs || b > o.max_batch_tokens; });
  std::sort(sizes.begin(), sizes.end());
  if (o.cuda_graphs && !sizes.empty() && cuda::internal::DecodeFastPath(config_.head_dim)) {
    STRATA_CUDA_RETURN_IF_ERROR(cudaHostAlloc(reinterpret_cast<void**>(&graph_plan_host_),
                                              model_->attention_layout().metadata_bytes,
                                              cudaHostAllocDefault));
    // The decodes' sampled rows while a layered cohort's pass follows their graph.
    const size_t rows = static_cast<size_t>(sizes.back());
    const size_t top = rows * cuda::kMaxTopLogprobs;
    STRATA_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&decodes_sampled_block_,
                                              (rows + top) * (sizeof(int32_t) + sizeof(float)),
                                              cudaHostAllocDefault));
    auto* ints = static_cast<int32_t*>(decodes_sampled_block_);
    auto* floats = reinterpret_cast<float*>(ints + rows + top);
    decodes_sampled_ = {ints, floats, ints + rows, floats + rows};
    STRATA_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&graph_staged_, cudaEventDisableTiming));
  }
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

int64_t CudaWorker::ExpertWeightBytesRead() {
  if (moe_activated_experts_ == nullptr) return 0;
  STRATA_CUDA_CHECK(cudaSetDevice(options_.device));
  unsigned long long activated = 0;
  STRATA_CUDA_CHECK(cudaMemcpyAsync(&activated, moe_activated_experts_, sizeof(activated),
                                    cudaMemcpyDeviceToHost, stream_));
  STRATA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return static_cast<int64_t>(activated) * ExpertWeightBytes(config_, sizeof(bf16));
}

void CudaWorker::FillKvCache(uint16_t bf16_bits) {
  STRATA_CUDA_CHECK(cudaSetDevice(options_.device));
  // One block from the host, then doubling device-to-device copies.
  const size_t total = kv_arena_.used();
  const size_t first = std::min<size_t>(total, 1 << 20);
  std::vector<uint16_t> pattern(first / 2, bf16_bits);
  STRATA_CUDA_CHECK(cudaMemcpy(kv_arena_.base(), pattern.data(), first, cudaMemcpyHostToDevice));
  for (size_t done = first; done < total;) {
    const size_t n = std::min(done, total - done);
    STRATA_CUDA_CHECK(cudaMemcpyAsync(kv_arena_.base() + done, kv_arena_.base(), n,
                                      cudaMemcpyDeviceToDevice, stream_));
    done += n;
  }
  STRATA_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

absl::Status CudaWorker::PrepareEager(std::span<const SequenceWork> batch, int64_t* rows) {
  int32_t* ids = staging_.host(staging_.ids);
  int32_t* positions = staging_.host(staging_.positions);
  int64_t* slots = staging_.host(staging_.slots);
  const int64_t bs = options_.block_size;
  attention_seqs_.clear();
  int64_t row = 0;
  for (const SequenceWork& work : batch) {
    const SequenceSlice& s = work.slice;
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t position = s.start_position + i;
      ids[row + i] = s.tokens[i];
      positions[row + i] = static_cast<int32_t>(s.position_offset + position);  // RoPE
      slots[row + i] = int64_t{s.block_table[position / bs]} * bs + position % bs;
    }
    attention_seqs_.push_back({row, n, s.start_position + n, s.block_table});
    attention_seqs_.back().block_precision = s.block_precision;  // int8 pages, if any
    row += n;
  }
  STRATA_RETURN_IF_ERROR(
      attention_plan_.Build(attention_config_, attention_limits_, attention_seqs_));
  staging_.Upload(staging_.ids, row, stream_);
  staging_.Upload(staging_.positions, row, stream_);
  staging_.Upload(staging_.slots, row, stream_);
  attention_plan_.Upload(model_->attention_workspace(), stream_);
  *rows = row;
  return absl::OkStatus();
}

bool CudaWorker::StageSampling(std::span<const SequenceWork> batch,
                               std::span<const int32_t> sampled, int32_t padded_rows,
                               int64_t* num_penalties) {
  cuda::SamplingRow* rows = staging_.host(staging_.sampling);
  int32_t* offsets = staging_.host(staging_.penalty_offsets);
  cuda::PenaltyToken* penalties = staging_.host(staging_.penalties);
  const int64_t capacity = static_cast<int64_t>(staging_.penalties.capacity);
  int64_t count = 0;
  offsets[0] = 0;
  for (size_t j = 0; j < sampled.size(); ++j) {
    const int64_t n =
        FillSamplingRow(batch[sampled[j]], &rows[j], penalties + count, capacity - count);
    if (n < 0) return false;
    count += n;
    offsets[j + 1] = static_cast<int32_t>(count);
  }
  for (int32_t j = static_cast<int32_t>(sampled.size()); j < padded_rows; ++j) {
    rows[j] = cuda::SamplingRow{};
    rows[j].temperature = 0.0f;  // padding rows: a cheap greedy pick, never read
    offsets[j + 1] = static_cast<int32_t>(count);
  }
  staging_.Upload(staging_.sampling, padded_rows, stream_);
  staging_.Upload(staging_.penalty_offsets, padded_rows + 1, stream_);
  staging_.Upload(staging_.penalties, count, stream_);
  *num_penalties = count;
  return true;
}

void CudaWorker::RunSampler(int32_t row_begin, int32_t rows) {
  cuda::SampleArgs args;
  args.logits = logits_;
  args.logits_stride = config_.vocab_size;
  args.rows = rows;
  args.vocab = static_cast<int32_t>(config_.vocab_size);
  args.params = staging_.device(staging_.sampling) + row_begin;
  args.penalty_offsets = staging_.device(staging_.penalty_offsets) + row_begin;
  args.penalties = staging_.device(staging_.penalties);
  args.tokens = staging_.device(staging_.tokens) + row_begin;
  args.logprobs = staging_.device(staging_.logprobs) + row_begin;
  args.top_tokens =
      staging_.device(staging_.top_tokens) + int64_t{row_begin} * cuda::kMaxTopLogprobs;
  args.top_logprobs =
      staging_.device(staging_.top_logprobs) + int64_t{row_begin} * cuda::kMaxTopLogprobs;
  args.max_top = cuda::kMaxTopLogprobs;
  cuda::Sample(args, sampling_workspace_, stream_);
}

CudaWorker::SampledHost CudaWorker::StagingSampled() const {
  return {staging_.host(staging_.tokens), staging_.host(staging_.logprobs),
          staging_.host(staging_.top_tokens), staging_.host(staging_.top_logprobs)};
}

void CudaWorker::DownloadSampled(std::span<const SequenceWork> batch,
                                 std::span<const int32_t> sampled, const SampledHost& to) {
  const size_t n = sampled.size();
  bool any_top = false;
  for (int32_t idx : sampled) any_top |= batch[idx].params->top_logprobs > 0;
  staging_.Download(staging_.tokens, n, to.tokens, stream_);
  staging_.Download(staging_.logprobs, n, to.logprobs, stream_);
  if (any_top) {
    staging_.Download(staging_.top_tokens, n * cuda::kMaxTopLogprobs, to.top_tokens, stream_);
    staging_.Download(staging_.top_logprobs, n * cuda::kMaxTopLogprobs, to.top_logprobs, stream_);
  }
}

std::vector<SampledToken> CudaWorker::ReadSampled(std::span<const SequenceWork> batch,
                                                  std::span<const int32_t> sampled,
                                                  const SampledHost& from) const {
  const size_t n = sampled.size();
  std::vector<SampledToken> out(n);
  for (size_t j = 0; j < n; ++j) {
    out[j].token = from.tokens[j];
    out[j].logprob = from.logprobs[j];
    const int64_t top = std::min<int64_t>(
        {batch[sampled[j]].params->top_logprobs, cuda::kMaxTopLogprobs, config_.vocab_size});
    for (int64_t k = 0; k < top; ++k) {
      const int64_t at = static_cast<int64_t>(j) * cuda::kMaxTopLogprobs + k;
      out[j].top.push_back({from.top_tokens[at], from.top_logprobs[at]});
    }
  }
  return out;
}

std::vector<SampledToken> CudaWorker::CollectSampled(std::span<const SequenceWork> batch,
                                                     std::span<const int32_t> sampled) {
  // Copies the sampler's outputs back and waits for the stream.
  const SampledHost host = StagingSampled();
  DownloadSampled(batch, sampled, host);
  STRATA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return ReadSampled(batch, sampled, host);
}

absl::StatusOr<std::vector<SampledToken>> CudaWorker::Execute(std::span<const SequenceWork> batch) {
  STRATA_CUDA_CHECK(cudaSetDevice(options_.device));
  STRATA_RETURN_IF_ERROR(ValidateBatch(config_, plan_.num_kv_blocks, options_.block_size,
                                       options_.max_batch_tokens, options_.max_num_seqs, batch));
  // Blocks swapped in or promoted must land first; swap-outs overlap this pass.
  STRATA_RETURN_IF_ERROR(copier_->OrderBefore(stream_));
  // Blocks the policy turned to int8 this step are converted before any layer reads them.
  STRATA_RETURN_IF_ERROR(kv_precision_.Quantize(batch, *model_, stream_));
  absl::StatusOr<std::vector<SampledToken>> sampled;
  if (const int32_t bucket = GraphBucket(batch); bucket > 0) {
    sampled = ExecuteGraph(batch, bucket);
  } else if (const size_t decodes = DecodesBesideCohort(batch); decodes > 0) {
    sampled = ExecuteDecodesThenCohort(batch, decodes);
  } else {
    sampled = ExecuteEager(batch);
  }
  STRATA_RETURN_IF_ERROR(copier_->Wait());
  return sampled;
}

size_t CudaWorker::DecodesBesideCohort(std::span<const SequenceWork> batch) const {
  if (!options_.layered_decode_graphs) return 0;
  const auto num_layers = static_cast<int32_t>(config_.num_hidden_layers);
  // Full-depth slices come first (worker/layer_split.h); a cohort's slices follow them.
  size_t full = 0;
  while (full < batch.size() && batch[full].slice.layer_begin == 0 &&
         batch[full].slice.layer_end >= num_layers) {
    ++full;
  }
  if (full == 0 || full == batch.size()) return 0;
  return GraphBucket(batch.first(full)) > 0 ? full : 0;
}

absl::StatusOr<std::vector<SampledToken>> CudaWorker::ExecuteDecodesThenCohort(
    std::span<const SequenceWork> batch, size_t decodes) {
  // Two passes on one stream. The cohort's host work (staging, attention plan, launches)
  // overlaps the decodes' graph: it starts once the graph's uploads have read the staging
  // mirror, and the decodes' sampled rows are copied into their own host arrays before the
  // cohort's sampler reuses the device ones. Device buffers both passes use (workspace,
  // logits, staging) are ordered by the stream.
  const std::span<const SequenceWork> decoding = batch.first(decodes);
  const std::span<const SequenceWork> cohort = batch.subspan(decodes);
  const cudaEvent_t staged = LaunchGraph(decoding, GraphBucket(decoding));
  std::vector<SampledToken> out;
  const std::vector<int32_t> decode_rows = sampled_;  // 0..decodes
  if (staged != nullptr) {
    DownloadSampled(decoding, decode_rows, decodes_sampled_);
    STRATA_CUDA_CHECK(cudaEventSynchronize(staged));
  } else {
    // Penalties beyond the device sampler's staging: the decodes run eagerly first.
    STRATA_ASSIGN_OR_RETURN(out, ExecuteEager(decoding));
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<SampledToken> rest, ExecuteEager(cohort));
  if (staged != nullptr) {
    // ExecuteEager synchronised the stream: the decodes' rows have landed.
    out = ReadSampled(decoding, decode_rows, decodes_sampled_);
    ++cohort_passes_beside_graphs_;
  }
  out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  return out;
}

absl::Status CudaWorker::StartCopies(std::span<const KvBlockCopy> before_compute,
                                     std::span<const KvBlockCopy> overlapped) {
  STRATA_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  return copier_->Start(before_compute, overlapped);
}

absl::Status CudaWorker::WaitForCopies() {
  STRATA_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  return copier_->Wait();
}

absl::StatusOr<std::vector<SampledToken>> CudaWorker::ExecuteEager(
    std::span<const SequenceWork> batch) {
  int64_t rows = 0;
  STRATA_RETURN_IF_ERROR(PrepareEager(batch, &rows));
  // Logits only for the sampled rows: the last token of each sampled sequence.
  sampled_.clear();
  int32_t* logit_rows = staging_.host(staging_.logit_rows);
  int64_t row = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    row += static_cast<int64_t>(batch[i].slice.tokens.size());
    if (!batch[i].sample) continue;
    logit_rows[sampled_.size()] = static_cast<int32_t>(row - 1);
    sampled_.push_back(static_cast<int32_t>(i));
  }
  const int32_t count = static_cast<int32_t>(sampled_.size());
  staging_.Upload(staging_.logit_rows, count, stream_);
  int64_t penalties = 0;
  const bool on_device = StageSampling(batch, sampled_, count, &penalties);
  STRATA_RETURN_IF_ERROR(RunModel(batch, rows));
  std::vector<SampledToken> host_sampled;
  const int64_t vocab = config_.vocab_size;
  for (int32_t begin = 0; begin < count; begin += logits_rows_) {
    const int32_t n = std::min(logits_rows_, count - begin);
    model_->Logits(staging_.device(staging_.logit_rows) + begin, n, logits_);
    if (on_device) {
      RunSampler(begin, n);
      continue;
    }
    // Penalty lists too long to stage: sample this chunk on the host.
    host_logits_.resize(static_cast<size_t>(n) * vocab);
    STRATA_CUDA_CHECK(cudaMemcpyAsync(host_logits_.data(), logits_, host_logits_.size() * 4,
                                      cudaMemcpyDeviceToHost, stream_));
    STRATA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int32_t j = 0; j < n; ++j) {
      const SequenceWork& work = batch[sampled_[begin + j]];
      host_sampled.push_back(SampleToken(std::span<float>(host_logits_.data() + j * vocab, vocab),
                                         *work.params, work.prompt_tokens, work.output_tokens,
                                         work.sample_step));
    }
  }
  std::vector<SampledToken> out =
      on_device ? CollectSampled(batch, sampled_) : std::move(host_sampled);
  STRATA_RETURN_IF_ERROR(CollectAttentionMass(batch));
  return out;
}

int32_t CudaWorker::GraphBucket(std::span<const SequenceWork> batch) const {
  if (!options_.cuda_graphs || graph_plan_host_ == nullptr || batch.empty()) return 0;
  int64_t pages = 0;
  for (const SequenceWork& work : batch) {
    if (!work.sample || work.slice.tokens.size() != 1 || work.slice.layer_begin != 0 ||
        !work.slice.attention_mass.empty() || !work.slice.attention_stats.empty()) {
      return 0;
    }
    pages += work.slice.start_position / options_.block_size + 1;
  }
  for (int32_t size : options_.graph_batch_sizes) {
    if (size >= static_cast<int32_t>(batch.size())) {
      return pages + size <= attention_limits_.max_pages ? size : 0;
    }
  }
  return 0;
}

void CudaWorker::RunGraphBody(const DecodeGraphShape& shape) {
  model_->RunLayers(shape.bucket,
                    {staging_.device(staging_.ids), staging_.device(staging_.positions),
                     staging_.device(staging_.slots)},
                    {.decode_items = shape.bucket * shape.splits,
                     .reduce_items = shape.splits > 1 ? shape.bucket : 0,
                     .int8_pages = shape.int8_pages});
  model_->Logits(nullptr, shape.bucket, logits_);
  RunSampler(0, shape.bucket);
}

absl::StatusOr<std::vector<SampledToken>> CudaWorker::ExecuteGraph(
    std::span<const SequenceWork> batch, int32_t bucket) {
  if (LaunchGraph(batch, bucket) == nullptr) return ExecuteEager(batch);
  return CollectSampled(batch, sampled_);
}

cudaEvent_t CudaWorker::LaunchGraph(std::span<const SequenceWork> batch, int32_t bucket) {
  const int32_t n = static_cast<int32_t>(batch.size());
  sampled_.resize(n);
  for (int32_t i = 0; i < n; ++i) sampled_[i] = i;
  int64_t penalties = 0;
  if (!StageSampling(batch, sampled_, bucket, &penalties)) return nullptr;
  int32_t* ids = staging_.host(staging_.ids);
  int32_t* positions = staging_.host(staging_.positions);
  int64_t* slots = staging_.host(staging_.slots);
  const int64_t bs = options_.block_size;
  std::vector<int64_t> contexts(n);
  for (int32_t i = 0; i < bucket; ++i) {
    if (i < n) {
      const SequenceSlice& s = batch[i].slice;
      const int64_t position = s.start_position;
      ids[i] = s.tokens[0];
      positions[i] = static_cast<int32_t>(s.position_offset + position);  // RoPE
      slots[i] = int64_t{s.block_table[position / bs]} * bs + position % bs;
      contexts[i] = position + 1;
    } else {
      ids[i] = 0, positions[i] = 0, slots[i] = -1;  // padding: no cache write
    }
  }
  staging_.Upload(staging_.ids, bucket, stream_);
  staging_.Upload(staging_.positions, bucket, stream_);
  staging_.Upload(staging_.slots, bucket, stream_);
  const DecodeGraphShape shape{bucket,
                               DecodeGraphSplits(attention_config_, bucket, contexts,
                                                 cuda::MaxPartials(attention_config_,
                                                                   attention_limits_)),
                               CudaKvPrecision::HasInt8Pages(batch)};
  UploadDecodeGraphPlan(model_->attention_layout(), shape, batch, options_.block_size,
                        graph_plan_host_, model_->attention_workspace(), stream_);
  STRATA_CUDA_CHECK(cudaEventRecord(graph_staged_, stream_));
  auto it = graphs_.find(shape);
  if (it != graphs_.end()) {
    STRATA_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
    ++graph_replays_;
  } else {
    // First use of this shape: run it directly (the result of this step), then capture
    // the same launches for the next steps.
    RunGraphBody(shape);
    cudaGraph_t graph = nullptr;
    STRATA_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    RunGraphBody(shape);
    STRATA_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    STRATA_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    STRATA_CUDA_CHECK(cudaGraphDestroy(graph));
    graphs_.emplace(shape, exec);
  }
  return graph_staged_;
}

absl::Status CudaWorker::Forward(std::span<const SequenceSlice> sequences,
                                 std::vector<float>* logits) {
  STRATA_CUDA_CHECK(cudaSetDevice(options_.device));
  std::vector<SequenceWork> batch(sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) batch[i].slice = sequences[i];
  STRATA_RETURN_IF_ERROR(ValidateBatch(config_, plan_.num_kv_blocks, options_.block_size,
                                       options_.max_batch_tokens, options_.max_num_seqs, batch));
  STRATA_RETURN_IF_ERROR(kv_precision_.Quantize(batch, *model_, stream_));
  int64_t rows = 0;
  STRATA_RETURN_IF_ERROR(PrepareEager(batch, &rows));
  int32_t* wanted = staging_.host(staging_.logit_rows);
  int32_t count = 0;
  int64_t row = 0;
  for (const SequenceSlice& s : sequences) {
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    if (s.logits == LogitsMode::kAll) {
      for (int64_t i = 0; i < n; ++i) wanted[count++] = static_cast<int32_t>(row + i);
    } else if (s.logits == LogitsMode::kLast && n > 0) {
      wanted[count++] = static_cast<int32_t>(row + n - 1);
    }
    row += n;
  }
  staging_.Upload(staging_.logit_rows, count, stream_);
  STRATA_RETURN_IF_ERROR(RunModel(batch, rows));
  const int64_t vocab = config_.vocab_size;
  logits->resize(static_cast<size_t>(count) * vocab);
  for (int32_t begin = 0; begin < count; begin += logits_rows_) {
    const int32_t n = std::min(logits_rows_, count - begin);
    model_->Logits(staging_.device(staging_.logit_rows) + begin, n, logits_);
    STRATA_CUDA_CHECK(cudaMemcpyAsync(logits->data() + int64_t{begin} * vocab, logits_,
                                      int64_t{n} * vocab * sizeof(float), cudaMemcpyDeviceToHost,
                                      stream_));
  }
  STRATA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return CollectAttentionMass(batch);
}

absl::Status CudaWorker::RunModel(std::span<const SequenceWork> batch, int64_t rows) {
  const auto num_layers = static_cast<int32_t>(config_.num_hidden_layers);
  STRATA_ASSIGN_OR_RETURN(
      const LayerSplit split,
      SplitLayers(
          batch.size(), [&](size_t i) -> const SequenceSlice& { return batch[i].slice; },
          num_layers));
  const CudaTokenInputs inputs{staging_.device(staging_.ids), staging_.device(staging_.positions),
                               staging_.device(staging_.slots)};
  int32_t full_items = 0;
  AttentionDispatch all = StageAttentionMass(batch, split.full_sequences, &full_items);
  all.plan = &attention_plan_;
  if (split.partial_sequences == 0) {
    model_->RunLayers(rows, inputs, all);
    return absl::OkStatus();
  }
  AttentionDispatch full_only = all;
  full_only.plan = &full_depth_plan_;
  full_only.mass_item_count = full_items;
  if (carry_ == nullptr) {
    return absl::InvalidArgumentError(
        "layered prefill slices, but the worker was created without layered_prefill");
  }
  const int64_t hidden = config_.hidden_size;
  const CudaActivations& act = model_->activations();
  // Resumed slices must find their carried rows; new carries must fit.
  int64_t new_rows = 0;
  for (size_t i = split.full_sequences; i < batch.size(); ++i) {
    const SequenceSlice& s = batch[i].slice;
    const auto n = static_cast<int64_t>(s.tokens.size());
    auto it = carried_.find(s.sequence_id);
    if (!split.partial_resumes() && it != carried_.end()) {  // left by an abandoned slice
      carried_.erase(it);
      it = carried_.end();
    }
    if (split.partial_resumes() && (it == carried_.end() || it->second.rows != n)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", i, ": no hidden states carried for ", n, " tokens of sequence ",
          s.sequence_id, " to resume at layer ", s.layer_begin));
    }
    if (it == carried_.end()) new_rows += n;
  }
  if (carried_.empty()) carry_used_ = 0;
  if (split.partial_carries() && carry_used_ + new_rows > carry_capacity_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layered prefill would carry ", carry_used_ + new_rows, " tokens; the plan holds ",
        carry_capacity_));
  }
  // The slices over every layer run alone outside the partial range: their own plan.
  const size_t full = split.full_sequences;
  if (full > 0) {
    STRATA_RETURN_IF_ERROR(full_depth_plan_.Build(
        attention_config_, attention_limits_,
        std::span<const cuda::AttentionSequence>(attention_seqs_).first(full)));
  }
  model_->Embed(split.partial_resumes() ? split.full_rows : rows, inputs);
  if (split.partial_resumes()) {
    for (size_t i = full, row = split.full_rows; i < batch.size();
         row += batch[i++].slice.tokens.size()) {
      const CarrySlot& slot = carried_.at(batch[i].slice.sequence_id);
      STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
          act.residual + row * hidden, carry_ + slot.offset * hidden,
          slot.rows * hidden * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
    }
    // No pending MLP output: it was folded into the carried residual stream.
    STRATA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(act.proj + split.full_rows * hidden, 0,
                                                split.partial_rows * hidden * sizeof(bf16),
                                                stream_));
  }
  // [0, begin) and [end, layers) over the full-depth slices, [begin, end) over all.
  const int32_t begin = split.partial_begin, end = split.partial_end;
  if (full > 0 && begin > 0) {
    full_depth_plan_.Upload(model_->attention_workspace(), stream_);
    model_->RunLayerRange(0, begin, split.full_rows, inputs, full_only);
  }
  attention_plan_.Upload(model_->attention_workspace(), stream_);
  model_->RunLayerRange(begin, end, rows, inputs, all);
  if (full > 0 && end < num_layers) {
    full_depth_plan_.Upload(model_->attention_workspace(), stream_);
    model_->RunLayerRange(end, num_layers, split.full_rows, inputs, full_only);
  }
  for (size_t i = full, row = split.full_rows; i < batch.size();
       row += batch[i++].slice.tokens.size()) {
    const int64_t id = batch[i].slice.sequence_id;
    const auto n = static_cast<int64_t>(batch[i].slice.tokens.size());
    if (!split.partial_carries()) {
      carried_.erase(id);
      continue;
    }
    auto [it, fresh] = carried_.try_emplace(id, CarrySlot{carry_used_, n});
    if (fresh) carry_used_ += n;
    model_->FoldPendingMlp(row, n);
    STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
        carry_ + it->second.offset * hidden, act.residual + row * hidden, n * hidden * sizeof(float),
        cudaMemcpyDeviceToDevice, stream_));
  }
  model_->FinalNorm(split.final_rows());
  return absl::OkStatus();
}

AttentionDispatch CudaWorker::StageAttentionMass(std::span<const SequenceWork> batch,
                                                size_t full_sequences, int32_t* full_items) {
  mass_items_host_.clear();
  mass_slices_.clear();
  stats_staged_ = false;
  int64_t offset = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const SequenceSlice& slice = batch[i].slice;
    stats_staged_ |= !slice.attention_stats.empty();
    if (slice.attention_mass.empty() && slice.attention_stats.empty()) continue;
    // Full-depth slices come first in the batch, so their items are a prefix.
    if (i < full_sequences) *full_items += 1;
    mass_slices_.push_back(i);
    if (slice.attention_mass.empty()) {  // statistics only
      mass_items_host_.push_back({static_cast<int>(i), -1});
      continue;
    }
    mass_items_host_.push_back({static_cast<int>(i), static_cast<int>(offset)});
    offset += static_cast<int64_t>(slice.block_table.size());
  }
  AttentionDispatch dispatch;
  if (mass_items_host_.empty()) return dispatch;
  if (stats_staged_) dispatch.stats = stats_;
  STRATA_CHECK_LE(offset, mass_capacity_) << "block tables beyond the attention limits";
  mass_host_.assign(offset, 0.0f);
  STRATA_CUDA_CHECK(cudaMemcpyAsync(mass_items_, mass_items_host_.data(),
                                    mass_items_host_.size() * sizeof(int2),
                                    cudaMemcpyHostToDevice, stream_));
  if (offset > 0) STRATA_CUDA_CHECK(cudaMemsetAsync(mass_, 0, offset * sizeof(float), stream_));
  dispatch.mass_items = mass_items_;
  dispatch.mass_item_count = static_cast<int32_t>(mass_items_host_.size());
  dispatch.mass_scratch = mass_scratch_;
  dispatch.mass = mass_;
  return dispatch;
}

absl::Status CudaWorker::CollectAttentionMass(std::span<const SequenceWork> batch) {
  if (mass_slices_.empty()) return absl::OkStatus();
  if (!mass_host_.empty()) {
    STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(mass_host_.data(), mass_,
                                                mass_host_.size() * sizeof(float),
                                                cudaMemcpyDeviceToHost, stream_));
  }
  const auto num_layers = static_cast<int32_t>(config_.num_hidden_layers);
  if (stats_staged_) {
    stats_host_.resize(mass_slices_.size() * num_layers * 3);
    STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(stats_host_.data(), stats_,
                                                stats_host_.size() * sizeof(float),
                                                cudaMemcpyDeviceToHost, stream_));
  }
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  for (size_t j = 0; j < mass_slices_.size(); ++j) {
    const SequenceSlice& slice = batch[mass_slices_[j]].slice;
    if (!slice.attention_stats.empty()) {
      // Only the layers this slice ran: a layered slice leaves the others as they were.
      const int32_t end = std::min<int32_t>(
          {slice.layer_end, num_layers, static_cast<int32_t>(slice.attention_stats.size() / 3)});
      for (int32_t l = slice.layer_begin; l < end; ++l) {
        std::copy_n(stats_host_.data() + (j * num_layers + l) * 3, 3,
                    slice.attention_stats.data() + 3 * l);
      }
    }
    if (mass_items_host_[j].y < 0) continue;
    const float* from = mass_host_.data() + mass_items_host_[j].y;
    // The accumulator covers the block table; the slice's span may be longer.
    for (size_t b = 0; b < slice.block_table.size() && b < slice.attention_mass.size(); ++b) {
      slice.attention_mass[b] += from[b];
    }
  }
  mass_slices_.clear();
  return absl::OkStatus();
}

}  // namespace strata::worker
