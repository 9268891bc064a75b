#include "worker/device_weights.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/check.h"
#include "base/dtype.h"
#include "base/status_macros.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_status.h"

namespace strata::worker {

DeviceArena::~DeviceArena() {
  if (base_ != nullptr) cudaFree(base_);
}

DeviceArena& DeviceArena::operator=(DeviceArena&& other) noexcept {
  std::swap(name_, other.name_);
  std::swap(base_, other.base_);
  std::swap(size_, other.size_);
  std::swap(used_, other.used_);
  return *this;
}

absl::StatusOr<DeviceArena> DeviceArena::Create(std::string name, size_t bytes) {
  DeviceArena arena;
  arena.name_ = std::move(name);
  arena.size_ = bytes;
  if (bytes > 0) {
    void* base = nullptr;
    const cudaError_t error = cudaMalloc(&base, bytes);
    if (error != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free allocation error
      return absl::ResourceExhaustedError(absl::StrCat("device arena '", arena.name_, "' of ",
                                                       bytes >> 20,
                                                       " MiB: ", cudaGetErrorString(error)));
    }
    arena.base_ = static_cast<char*>(base);
  }
  return arena;
}

void* DeviceArena::Take(size_t bytes, size_t alignment) {
  const size_t at = (used_ + alignment - 1) / alignment * alignment;
  STRATA_CHECK(at + bytes <= size_) << "device arena '" << name_ << "' of " << size_
                                    << " bytes cannot take " << bytes << " more at " << at;
  used_ = at + bytes;
  return base_ + at;
}

size_t WeightAlignmentSlack(const ModelConfig& config) {
  // At most 12 tensors per layer and 3 outside the layers, each padded to the alignment.
  return (12 * static_cast<size_t>(config.num_hidden_layers) + 3) * kWeightAlignment;
}

namespace {

// Converts and copies tensors through two halves of a pinned buffer, so that the host
// fills one half while the other is being copied.
class Uploader {
 public:
  // `checkpoint` null: seeded random weights (see UploadWeights).
  Uploader(const Checkpoint* checkpoint, cudaStream_t stream)
      : checkpoint_(checkpoint), stream_(stream) {}
  ~Uploader() {
    for (cudaEvent_t e : events_) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    if (staging_ != nullptr) cudaFreeHost(staging_);
  }

  absl::Status Init(size_t staging_bytes) {
    half_elements_ = std::max<size_t>(staging_bytes / 4, 1 << 16);
    STRATA_CUDA_RETURN_IF_ERROR(cudaHostAlloc(reinterpret_cast<void**>(&staging_),
                                              2 * half_elements_ * sizeof(uint16_t),
                                              cudaHostAllocDefault));
    for (cudaEvent_t& e : events_) {
      STRATA_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    }
    if (checkpoint_ == nullptr) {
      // Random weights: the first half holds uniform values of std 0.02, the second ones
      // (for norm weights); both are only ever read from here on.
      uint64_t state = 0x9e3779b97f4a7c15ull;
      for (size_t i = 0; i < half_elements_; ++i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const float u = static_cast<float>(state >> 40) * 0x1.0p-24f;  // [0, 1)
        staging_[i] = FloatToBF16((2.0f * u - 1.0f) * 0.0346f);
        staging_[half_elements_ + i] = FloatToBF16(1.0f);
      }
    }
    return absl::OkStatus();
  }

  // Uploads tensor `name` of `shape` to `dst` (bf16).
  absl::Status Upload(const std::string& name, std::vector<int64_t> shape, bf16* dst) {
    if (checkpoint_ == nullptr) return UploadRandom(name, shape, dst);
    STRATA_ASSIGN_OR_RETURN(TensorView view, checkpoint_->Tensor(name));
    if (!std::equal(view.shape.begin(), view.shape.end(), shape.begin(), shape.end())) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(view.file), ": tensor '", name, "' has shape [",
          absl::StrJoin(view.shape, ", "), "], expected [", absl::StrJoin(shape, ", "), "]"));
    }
    const size_t count = static_cast<size_t>(view.NumElements());
    const size_t element = DTypeSize(view.dtype);
    for (size_t begin = 0; begin < count; begin += half_elements_) {
      const size_t n = std::min(half_elements_, count - begin);
      const int half = next_half_;
      next_half_ ^= 1;
      if (pending_[half]) STRATA_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(events_[half]));
      uint16_t* out = staging_ + half * half_elements_;
      const std::byte* src = view.data + begin * element;
      switch (view.dtype) {
        case DType::kBF16:
          std::memcpy(out, src, n * sizeof(uint16_t));
          break;
        case DType::kF32:
          for (size_t i = 0; i < n; ++i) {
            float v;
            std::memcpy(&v, src + i * 4, 4);
            out[i] = FloatToBF16(v);
          }
          break;
        case DType::kF16:
          for (size_t i = 0; i < n; ++i) {
            uint16_t bits;
            std::memcpy(&bits, src + i * 2, 2);
            out[i] = FloatToBF16(F16ToFloat(bits));
          }
          break;
      }
      STRATA_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(dst + begin, out, n * sizeof(uint16_t), cudaMemcpyHostToDevice, stream_));
      STRATA_CUDA_RETURN_IF_ERROR(cudaEventRecord(events_[half], stream_));
      pending_[half] = true;
    }
    bytes_ += static_cast<int64_t>(count * sizeof(uint16_t));
    return absl::OkStatus();
  }

  absl::Status UploadRandom(const std::string& name, const std::vector<int64_t>& shape, bf16* dst) {
    size_t count = 1;
    for (int64_t d : shape) count *= static_cast<size_t>(d);
    const bool norm = name.find("norm") != std::string::npos;
    const uint16_t* src = staging_ + (norm ? half_elements_ : 0);
    for (size_t begin = 0; begin < count; begin += half_elements_) {
      const size_t n = std::min(half_elements_, count - begin);
      STRATA_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(dst + begin, src, n * sizeof(uint16_t), cudaMemcpyHostToDevice, stream_));
    }
    bytes_ += static_cast<int64_t>(count * sizeof(uint16_t));
    return absl::OkStatus();
  }

  // Whether the checkpoint holds tensor `name` (random weights: never).
  bool Has(const std::string& name) const {
    return checkpoint_ != nullptr && checkpoint_->Has(name);
  }

  absl::Status Finish() {
    STRATA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    pending_[0] = pending_[1] = false;
    return absl::OkStatus();
  }
  int64_t bytes() const { return bytes_; }

 private:
  const Checkpoint* checkpoint_;
  cudaStream_t stream_;
  uint16_t* staging_ = nullptr;
  size_t half_elements_ = 0;
  cudaEvent_t events_[2] = {nullptr, nullptr};
  bool pending_[2] = {false, false};
  int next_half_ = 0;
  int64_t bytes_ = 0;
};

// A sparse layer's router and experts: per-expert tensors (as on the Hub) or the fused
// mlp.experts.gate_up_proj / down_proj, into one [experts, 2I, H] and one [experts, H, I]
// tensor (three arena slots, like the dense MLP's).
template <typename Take>
absl::Status UploadExperts(Uploader& up, const ModelConfig& c, const std::string& p,
                           const Take& take, DeviceLayerWeights& l) {
  const int64_t experts = c.num_experts, hidden = c.hidden_size, inter = c.moe_intermediate_size;
  l.router = take(experts * hidden);
  STRATA_RETURN_IF_ERROR(up.Upload(p + "mlp.gate.weight", {experts, hidden}, l.router));
  l.expert_gate_up = take(experts * 2 * inter * hidden);
  l.expert_down = take(experts * hidden * inter);
  if (up.Has(p + "mlp.experts.gate_up_proj")) {
    STRATA_RETURN_IF_ERROR(up.Upload(p + "mlp.experts.gate_up_proj", {experts, 2 * inter, hidden},
                                     l.expert_gate_up));
    return up.Upload(p + "mlp.experts.down_proj", {experts, hidden, inter}, l.expert_down);
  }
  for (int64_t e = 0; e < experts; ++e) {
    const std::string x = absl::StrCat(p, "mlp.experts.", e, ".");
    bf16* gate_up = l.expert_gate_up + e * 2 * inter * hidden;
    STRATA_RETURN_IF_ERROR(up.Upload(x + "gate_proj.weight", {inter, hidden}, gate_up));
    STRATA_RETURN_IF_ERROR(
        up.Upload(x + "up_proj.weight", {inter, hidden}, gate_up + inter * hidden));
    STRATA_RETURN_IF_ERROR(up.Upload(x + "down_proj.weight", {hidden, inter},
                                     l.expert_down + e * hidden * inter));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DeviceWeights> UploadWeights(const Checkpoint* checkpoint, const ModelConfig& c,
                                            DeviceArena* arena, cudaStream_t stream,
                                            size_t staging_bytes) {
  Uploader up(checkpoint, stream);
  STRATA_RETURN_IF_ERROR(up.Init(staging_bytes));
  auto take = [arena](int64_t elements) {
    return arena->Take<bf16>(static_cast<size_t>(elements), kWeightAlignment);
  };
  const int64_t vocab = c.vocab_size, hidden = c.hidden_size, inter = c.intermediate_size;
  const int64_t q_rows = c.num_attention_heads * c.head_dim;
  const int64_t kv_rows = c.num_key_value_heads * c.head_dim;
  DeviceWeights w;
  w.embed = take(vocab * hidden);
  STRATA_RETURN_IF_ERROR(up.Upload("model.embed_tokens.weight", {vocab, hidden}, w.embed));
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    const std::string p = absl::StrCat("model.layers.", layer, ".");
    DeviceLayerWeights l;
    l.input_norm = take(hidden);
    STRATA_RETURN_IF_ERROR(up.Upload(p + "input_layernorm.weight", {hidden}, l.input_norm));
    l.qkv = take((q_rows + 2 * kv_rows) * hidden);
    STRATA_RETURN_IF_ERROR(up.Upload(p + "self_attn.q_proj.weight", {q_rows, hidden}, l.qkv));
    STRATA_RETURN_IF_ERROR(
        up.Upload(p + "self_attn.k_proj.weight", {kv_rows, hidden}, l.qkv + q_rows * hidden));
    STRATA_RETURN_IF_ERROR(up.Upload(p + "self_attn.v_proj.weight", {kv_rows, hidden},
                                     l.qkv + (q_rows + kv_rows) * hidden));
    if (c.qkv_bias) {
      l.qkv_bias = take(q_rows + 2 * kv_rows);
      STRATA_RETURN_IF_ERROR(up.Upload(p + "self_attn.q_proj.bias", {q_rows}, l.qkv_bias));
      STRATA_RETURN_IF_ERROR(
          up.Upload(p + "self_attn.k_proj.bias", {kv_rows}, l.qkv_bias + q_rows));
      STRATA_RETURN_IF_ERROR(
          up.Upload(p + "self_attn.v_proj.bias", {kv_rows}, l.qkv_bias + q_rows + kv_rows));
    }
    if (c.qk_norm) {
      l.q_norm = take(c.head_dim);
      l.k_norm = take(c.head_dim);
      STRATA_RETURN_IF_ERROR(up.Upload(p + "self_attn.q_norm.weight", {c.head_dim}, l.q_norm));
      STRATA_RETURN_IF_ERROR(up.Upload(p + "self_attn.k_norm.weight", {c.head_dim}, l.k_norm));
    }
    l.o = take(hidden * q_rows);
    STRATA_RETURN_IF_ERROR(up.Upload(p + "self_attn.o_proj.weight", {hidden, q_rows}, l.o));
    if (c.o_bias) {
      l.o_bias = take(hidden);
      STRATA_RETURN_IF_ERROR(up.Upload(p + "self_attn.o_proj.bias", {hidden}, l.o_bias));
    }
    l.post_norm = take(hidden);
    STRATA_RETURN_IF_ERROR(up.Upload(p + "post_attention_layernorm.weight", {hidden}, l.post_norm));
    if (c.IsSparseLayer(layer)) {
      STRATA_RETURN_IF_ERROR(UploadExperts(up, c, p, take, l));
      w.layers.push_back(l);
      continue;
    }
    l.gate_up = take(2 * inter * hidden);
    STRATA_RETURN_IF_ERROR(up.Upload(p + "mlp.gate_proj.weight", {inter, hidden}, l.gate_up));
    STRATA_RETURN_IF_ERROR(
        up.Upload(p + "mlp.up_proj.weight", {inter, hidden}, l.gate_up + inter * hidden));
    l.down = take(hidden * inter);
    STRATA_RETURN_IF_ERROR(up.Upload(p + "mlp.down_proj.weight", {hidden, inter}, l.down));
    if (c.mlp_bias) {
      l.gate_up_bias = take(2 * inter);
      l.down_bias = take(hidden);
      STRATA_RETURN_IF_ERROR(up.Upload(p + "mlp.gate_proj.bias", {inter}, l.gate_up_bias));
      STRATA_RETURN_IF_ERROR(up.Upload(p + "mlp.up_proj.bias", {inter}, l.gate_up_bias + inter));
      STRATA_RETURN_IF_ERROR(up.Upload(p + "mlp.down_proj.bias", {hidden}, l.down_bias));
    }
    w.layers.push_back(l);
  }
  w.final_norm = take(hidden);
  STRATA_RETURN_IF_ERROR(up.Upload("model.norm.weight", {hidden}, w.final_norm));
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    w.lm_head = take(vocab * hidden);
    STRATA_RETURN_IF_ERROR(up.Upload("lm_head.weight", {vocab, hidden}, w.lm_head));
  }
  STRATA_RETURN_IF_ERROR(up.Finish());
  w.bytes = up.bytes();
  return w;
}

}  // namespace strata::worker
