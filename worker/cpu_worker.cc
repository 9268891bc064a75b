#include "worker/cpu_worker.h"

#include <cblas.h>
#include <algorithm>
#include <omp.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "kernels/cpu/kv_quant.h"

namespace strata::worker {
namespace {

int64_t WeightBytes(const ModelWeights& w) {
  int64_t floats = w.embed.size() + w.final_norm.size() + w.lm_head.size();
  for (const LayerWeights& l : w.layers) {
    floats += l.input_norm.size() + l.qkv.size() + l.qkv_bias.size() + l.q_norm.size() +
              l.k_norm.size() + l.o.size() + l.o_bias.size() + l.post_norm.size() +
              l.gate_up.size() + l.gate_up_bias.size() + l.down.size() + l.down_bias.size() +
              l.router.size() + l.expert_gate_up.size() + l.expert_down.size();
  }
  return floats * int64_t{sizeof(float)};
}

// An int8 block held in place (kernels/cpu/kv_quant.h): the values plus a float scale per
// kv head, for K and V of every layer. 0 when the float block cannot hold that in place.
int64_t QuantizedBlockBytes(const ModelConfig& config, int32_t block_size) {
  const kernels::cpu::KvBlockShape shape{block_size, config.num_key_value_heads,
                                         config.head_dim};
  if (kernels::cpu::ScaleOffset(shape) + shape.kv_heads > shape.values()) return 0;
  return 2 * config.num_hidden_layers *
         (shape.values() + shape.kv_heads * int64_t{sizeof(float)});
}

}  // namespace

absl::StatusOr<std::unique_ptr<CpuWorker>> CpuWorker::Create(const std::string& model_dir,
                                                             const CpuWorkerOptions& options) {
  if (options.num_threads > 0) {
    openblas_set_num_threads(options.num_threads);
    omp_set_num_threads(options.num_threads);
  }
  STRATA_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir));
  const int64_t bytes_per_block = 2 * config.num_hidden_layers * config.num_key_value_heads *
                                  config.head_dim * int64_t{sizeof(float)} * options.block_size;
  int64_t num_blocks = options.num_blocks;
  if (num_blocks == 0) num_blocks = options.kv_cache_bytes / bytes_per_block;
  if (num_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache too small: ", options.kv_cache_bytes,
                                                   " bytes hold no block of ", bytes_per_block,
                                                   " bytes"));
  }
  if (num_blocks > INT32_MAX) num_blocks = INT32_MAX;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> checkpoint, Checkpoint::Open(model_dir));
  STRATA_ASSIGN_OR_RETURN(ModelWeights weights, LoadModelWeights(*checkpoint, config));
  const int64_t host_blocks = std::min<int64_t>(options.host_cache_bytes / bytes_per_block,
                                                INT32_MAX);
  MemoryReport memory{WeightBytes(weights),
                      num_blocks * bytes_per_block,
                      static_cast<int32_t>(num_blocks),
                      options.block_size,
                      host_blocks * bytes_per_block,
                      static_cast<int32_t>(host_blocks),
                      QuantizedBlockBytes(config, options.block_size)};
  auto model =
      std::make_unique<CpuModel>(std::move(config), std::move(weights),
                                 KvCacheShape{static_cast<int32_t>(num_blocks), options.block_size},
                                 options.logits_chunk_rows);
  auto worker = std::unique_ptr<CpuWorker>(new CpuWorker(std::move(model), memory));
  worker->host_tier_.resize(host_blocks * bytes_per_block / sizeof(float));
  return worker;
}

absl::Status CpuWorker::StartCopies(std::span<const KvBlockCopy> before_compute,
                                    std::span<const KvBlockCopy> overlapped) {
  for (const KvBlockCopy& copy : before_compute) STRATA_RETURN_IF_ERROR(Copy(copy));
  for (const KvBlockCopy& copy : overlapped) STRATA_RETURN_IF_ERROR(Copy(copy));
  return absl::OkStatus();
}

absl::Status CpuWorker::Copy(const KvBlockCopy& copy) {
  const bool src_on_host = copy.direction == KvCopyDirection::kHostToDevice;
  const bool dst_on_host = copy.direction == KvCopyDirection::kDeviceToHost;
  auto inside = [&](int32_t block, bool host) {
    return block >= 0 && block < (host ? memory_.num_host_kv_blocks : memory_.num_kv_blocks);
  };
  if (!inside(copy.src, src_on_host) || !inside(copy.dst, dst_on_host)) {
    return absl::InvalidArgumentError(absl::StrCat("KV block copy ", copy.src, " -> ", copy.dst,
                                                   " is outside the cache tiers"));
  }
  const int64_t floats = model_->KvBlockFloats();
  const int layers = model_->config().num_hidden_layers;
  // One plane (a layer's K or V) of a block, in whichever tier holds it.
  auto plane = [&](int32_t block, bool host, int layer, bool value) -> float* {
    if (!host) return model_->KvBlock(layer, value, block).data();
    return host_tier_.data() + (int64_t{block} * layers * 2 + int64_t{layer} * 2 + value) * floats;
  };
  for (int layer = 0; layer < layers; ++layer) {
    for (bool value : {false, true}) {
      const float* from = plane(copy.src, src_on_host, layer, value);
      std::copy(from, from + floats, plane(copy.dst, dst_on_host, layer, value));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SampledToken>> CpuWorker::Execute(std::span<const SequenceWork> batch) {
  slices_.clear();
  for (const SequenceWork& work : batch) {
    if (work.sample && (work.slice.logits != LogitsMode::kLast || work.params == nullptr)) {
      return absl::InvalidArgumentError("a sampled sequence needs kLast logits and parameters");
    }
    slices_.push_back(work.slice);
  }
  STRATA_RETURN_IF_ERROR(model_->Forward(slices_, &logits_));
  const int64_t vocab = model_->config().vocab_size;
  std::vector<SampledToken> sampled;
  int64_t row = 0;
  for (const SequenceWork& work : batch) {
    const int64_t rows = LogitsRows(std::span<const SequenceSlice>(&work.slice, 1));
    if (work.sample) {
      std::span<float> logits(logits_.data() + row * vocab, vocab);
      sampled.push_back(SampleToken(logits, *work.params, work.prompt_tokens, work.output_tokens,
                                    work.sample_step));
    }
    row += rows;
  }
  return sampled;
}

}  // namespace strata::worker
