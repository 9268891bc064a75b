// How a batch's slices divide the model's layers (layered prefill, SequenceSlice's
// layer_begin / layer_end): slices over every layer come first, the others after them
// share one range [partial_begin, partial_end). At a given layer the active slices are
// therefore a prefix of the batch, and so are their token rows: a worker runs each layer
// over that prefix alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "worker/forward_batch.h"

namespace strata::worker {

struct LayerSplit {
  int32_t num_layers = 0;
  size_t full_sequences = 0;  // slices over every layer
  int64_t full_rows = 0;
  size_t partial_sequences = 0;
  int64_t partial_rows = 0;
  int32_t partial_begin = 0;
  int32_t partial_end = 0;

  bool active(int32_t layer) const { return layer >= partial_begin && layer < partial_end; }
  size_t sequences_at(int32_t layer) const {
    return full_sequences + (active(layer) ? partial_sequences : 0);
  }
  int64_t rows_at(int32_t layer) const { return full_rows + (active(layer) ? partial_rows : 0); }
  // Partial slices that start from carried hidden states, and that leave some behind.
  bool partial_resumes() const { return partial_sequences > 0 && partial_begin > 0; }
  bool partial_carries() const { return partial_sequences > 0 && partial_end < num_layers; }
  // Rows that leave the last layer (final norm, logits).
  int64_t final_rows() const { return full_rows + (partial_carries() ? 0 : partial_rows); }
};

// InvalidArgument naming the slice for an empty or out-of-order range, partial slices
// before full ones or with different ranges, or logits asked of a slice that stops short
// of the last layer.
absl::StatusOr<LayerSplit> SplitLayers(size_t count,
                                       const std::function<const SequenceSlice&(size_t)>& slice,
                                       int32_t num_layers);

}  // namespace strata::worker
