#include "worker/cuda_batch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "kernels/cpu/kv_quant.h"
#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_status.h"
#include "worker/decode_items.h"

namespace strata::worker {

namespace cuda = kernels::cuda;

namespace {

size_t RoundUp(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// Lays the arrays out one after another, each 256-byte aligned; returns the total bytes.
size_t Layout(const CudaStaging::Limits& l, CudaStaging* s) {
  size_t bytes = 0;
  auto place = [&bytes](auto* array, size_t count, size_t element) {
    bytes = RoundUp(bytes, 256);
    array->offset = bytes;
    array->capacity = count;
    bytes += count * element;
  };
  const size_t tokens = static_cast<size_t>(l.max_tokens);
  const size_t seqs = static_cast<size_t>(l.max_seqs);
  place(&s->ids, tokens, 4);
  place(&s->positions, tokens, 4);
  place(&s->logit_rows, tokens, 4);
  place(&s->slots, tokens, 8);
  place(&s->sampling, seqs, sizeof(cuda::SamplingRow));
  place(&s->penalty_offsets, seqs + 1, 4);
  place(&s->penalties, static_cast<size_t>(std::max<int64_t>(l.max_penalties, 1)),
        sizeof(cuda::PenaltyToken));
  place(&s->tokens, seqs, 4);
  place(&s->logprobs, seqs, 4);
  place(&s->top_tokens, seqs * cuda::kMaxTopLogprobs, 4);
  place(&s->top_logprobs, seqs * cuda::kMaxTopLogprobs, 4);
  return RoundUp(bytes, 256);
}

}  // namespace

size_t CudaStaging::DeviceBytes(const Limits& limits) {
  CudaStaging scratch;
  return Layout(limits, &scratch);
}

CudaStaging::~CudaStaging() {
  if (host_ != nullptr) cudaFreeHost(host_);
}

absl::Status CudaStaging::Init(const Limits& limits, char* device) {
  limits_ = limits;
  const size_t bytes = Layout(limits, this);
  device_ = device;
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaHostAlloc(reinterpret_cast<void**>(&host_), bytes, cudaHostAllocDefault));
  return absl::OkStatus();
}

void CudaStaging::CopyToDevice(size_t offset, size_t bytes, size_t capacity,
                               cudaStream_t stream) const {
  STRATA_CHECK_LE(bytes, capacity);
  if (bytes == 0) return;
  STRATA_CUDA_CHECK(
      cudaMemcpyAsync(device_ + offset, host_ + offset, bytes, cudaMemcpyHostToDevice, stream));
}

void CudaStaging::CopyToHost(size_t offset, size_t bytes, size_t capacity, void* to,
                             cudaStream_t stream) const {
  STRATA_CHECK_LE(bytes, capacity);
  if (bytes == 0) return;
  STRATA_CUDA_CHECK(cudaMemcpyAsync(to, device_ + offset, bytes, cudaMemcpyDeviceToHost, stream));
}

absl::Status ValidateBatch(const ModelConfig& config, int64_t num_blocks, int32_t block_size,
                           int64_t max_tokens, int32_t max_seqs,
                           std::span<const SequenceWork> batch) {
  if (static_cast<int64_t>(batch.size()) > max_seqs) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch of ", batch.size(), " sequences, the worker's limit is ", max_seqs));
  }
  int64_t rows = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceWork& work = batch[s];
    const SequenceSlice& seq = work.slice;
    if (work.sample &&
        (seq.logits != LogitsMode::kLast || work.params == nullptr || seq.tokens.empty())) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s,
                       ": a sampled sequence needs kLast logits, parameters and "
                       "at least one token"));
    }
    rows += static_cast<int64_t>(seq.tokens.size());
    for (int32_t token : seq.tokens) {
      if (token < 0 || token >= config.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": token id ", token,
                                                       " outside the vocabulary [0, ",
                                                       config.vocab_size, ")"));
      }
    }
    if (seq.start_position < 0) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": negative start"));
    }
    const int64_t total = seq.start_position + static_cast<int64_t>(seq.tokens.size());
    const int64_t blocks = (total + block_size - 1) / block_size;
    if (static_cast<int64_t>(seq.block_table.size()) < blocks) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": block table holds ",
                                                     seq.block_table.size(), " blocks, ", blocks,
                                                     " needed for ", total, " tokens"));
    }
    for (int32_t block : seq.block_table) {
      if (block < 0 || block >= num_blocks) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": block id ", block, " out of range"));
      }
    }
  }
  if (rows > max_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch of ", rows, " tokens, the worker's limit is ", max_tokens));
  }
  return absl::OkStatus();
}

int64_t FillSamplingRow(const SequenceWork& work, cuda::SamplingRow* row,
                        cuda::PenaltyToken* penalties, int64_t capacity) {
  const SamplingParams& p = *work.params;
  *row = {p.temperature,
          p.top_k,
          p.top_p,
          p.min_p,
          p.presence_penalty,
          p.frequency_penalty,
          p.repetition_penalty,
          std::min(p.top_logprobs, cuda::kMaxTopLogprobs),
          p.seed,
          work.sample_step};
  const bool repetition = p.repetition_penalty != 1.0f;
  const bool additive = p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  if (!repetition && !additive) return 0;
  // Distinct tokens, sorted, with their output counts; prompt tokens only matter for the
  // repetition penalty.
  thread_local std::vector<std::pair<int32_t, int32_t>> seen;
  seen.clear();
  if (repetition) {
    for (int32_t t : work.prompt_tokens) seen.push_back({t, 0});
  }
  for (int32_t t : work.output_tokens) seen.push_back({t, 1});
  std::sort(seen.begin(), seen.end());
  int64_t count = 0;
  for (size_t i = 0; i < seen.size();) {
    const int32_t token = seen[i].first;
    int32_t outputs = 0;
    for (; i < seen.size() && seen[i].first == token; ++i) outputs += seen[i].second;
    if (count == capacity) return -1;
    penalties[count++] = {token, outputs};
  }
  return count;
}

int32_t DecodeGraphSplits(const cuda::AttentionConfig& config, int32_t bucket,
                          std::span<const int64_t> context_lens, int32_t max_partials) {
  const int group = config.heads / config.kv_heads;
  const int64_t head_chunks =
      (group + cuda::internal::kDecodeMaxGroup - 1) / cuda::internal::kDecodeMaxGroup;
  const int64_t units = int64_t{config.kv_heads} * head_chunks;
  int64_t total = 0;
  for (int64_t c : context_lens) total += c;
  const int64_t target = int64_t{config.sm_count} * cuda::internal::kDecodeWaves *
                         cuda::internal::DecodeBlocksPerSm(config.head_dim, group);
  const int64_t chunk =
      std::max<int64_t>(cuda::internal::kDecodeMinChunk, (total * units + target - 1) / target);
  // Items for every row at `chunk` tokens each (padding rows: one), shared by context
  // (UploadDecodeGraphPlan), so the bucket needs their count, not the longest row's.
  const int64_t needed = DecodeItemsNeeded(context_lens, chunk) +
                         std::max<int64_t>(0, bucket - static_cast<int64_t>(context_lens.size()));
  int32_t splits = 1;
  while (int64_t{bucket} * splits < needed) splits *= 2;
  while (splits > 1 && int64_t{bucket} * splits > max_partials) splits /= 2;
  return splits;
}

void UploadDecodeGraphPlan(const cuda::AttentionPlan::Layout& layout, const DecodeGraphShape& shape,
                           std::span<const SequenceWork> batch, int32_t block_size, int32_t* host,
                           void* workspace, cudaStream_t stream) {
  auto at = [host](size_t byte_offset) { return host + byte_offset / sizeof(int32_t); };
  int32_t* q_begin = at(layout.seq_q_begin);
  int32_t* q_len = at(layout.seq_q_len);
  int32_t* ctx_len = at(layout.seq_ctx_len);
  int32_t* page_begin = at(layout.seq_page_begin);
  int32_t* pages = at(layout.pages);
  uint8_t* page_int8 = reinterpret_cast<uint8_t*>(at(layout.page_precision));
  int32_t* decode = at(layout.decode_items);
  int32_t* reduce = at(layout.reduce_items);
  const int32_t bucket = shape.bucket, splits = shape.splits;
  // The graph's bucket x splits items, shared among the rows by context (padding rows have
  // one token); every row's items are consecutive partials, merged by its reduce item.
  std::vector<int64_t> contexts(bucket, 1);
  for (int32_t s = 0; s < bucket && s < static_cast<int32_t>(batch.size()); ++s) {
    contexts[s] = batch[s].slice.start_position + 1;
  }
  const std::vector<int32_t> items =
      splits > 1 ? ShareDecodeItems(contexts, int64_t{bucket} * splits)
                 : std::vector<int32_t>(bucket, 1);
  int32_t num_pages = 0, next_item = 0;
  for (int32_t s = 0; s < bucket; ++s) {
    const int64_t ctx = contexts[s];
    q_begin[s] = s;
    q_len[s] = 1;
    page_begin[s] = num_pages;
    if (s < static_cast<int32_t>(batch.size())) {
      const SequenceSlice& slice = batch[s].slice;
      const int64_t needed = (ctx + block_size - 1) / block_size;
      std::copy_n(slice.block_table.begin(), needed, pages + num_pages);
      if (shape.int8_pages) {
        const std::span<const uint8_t> flags = slice.block_precision;
        for (int64_t i = 0; i < needed; ++i) {
          page_int8[num_pages + i] =
              static_cast<size_t>(i) < flags.size() && flags[i] == kernels::cpu::kKvInt8;
        }
      }
      num_pages += static_cast<int32_t>(needed);
    } else {
      if (shape.int8_pages) page_int8[num_pages] = 0;
      pages[num_pages++] = 0;  // padding: one token of block 0, never written
    }
    ctx_len[s] = static_cast<int32_t>(ctx);
    const int32_t n = items[s], first = next_item;
    for (int32_t i = 0; i < n; ++i) {
      int32_t* d = decode + 4 * (first + i);
      d[0] = s;
      d[1] = static_cast<int32_t>(ctx * i / n);
      d[2] = static_cast<int32_t>(ctx * (i + 1) / n);
      d[3] = splits > 1 ? first + i : -1;
    }
    next_item += n;
    if (splits > 1) {
      int32_t* r = reduce + 4 * s;
      r[0] = s, r[1] = first, r[2] = n, r[3] = 0;
    }
  }
  STRATA_CHECK_EQ(next_item, bucket * splits);
  auto copy = [&](size_t offset, size_t words) {
    if (words == 0) return;
    STRATA_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(workspace) + offset, at(offset),
                                      words * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
  };
  copy(layout.seq_q_begin, bucket);
  copy(layout.seq_q_len, bucket);
  copy(layout.seq_ctx_len, bucket);
  copy(layout.seq_page_begin, bucket);
  copy(layout.pages, num_pages);
  if (shape.int8_pages) copy(layout.page_precision, (num_pages + 3) / 4);
  copy(layout.decode_items, 4 * static_cast<size_t>(bucket) * splits);
  if (splits > 1) copy(layout.reduce_items, 4 * static_cast<size_t>(bucket));
}

}  // namespace strata::worker
