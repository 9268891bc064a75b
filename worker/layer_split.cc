#include "worker/layer_split.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace strata::worker {

absl::StatusOr<LayerSplit> SplitLayers(size_t count,
                                       const std::function<const SequenceSlice&(size_t)>& slice,
                                       int32_t num_layers) {
  LayerSplit split;
  split.num_layers = num_layers;
  for (size_t s = 0; s < count; ++s) {
    const SequenceSlice& seq = slice(s);
    const int32_t begin = seq.layer_begin;
    const int32_t end = std::min(seq.layer_end, num_layers);
    const auto rows = static_cast<int64_t>(seq.tokens.size());
    if (begin < 0 || begin >= end) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": layer range [", begin,
                                                     ", ", seq.layer_end, ") of a ", num_layers,
                                                     "-layer model is empty"));
    }
    if (begin == 0 && end == num_layers) {
      if (split.partial_sequences > 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sequence ", s, ": slices over every layer must come before partial ones"));
      }
      ++split.full_sequences;
      split.full_rows += rows;
      continue;
    }
    if (split.partial_sequences == 0) {
      split.partial_begin = begin;
      split.partial_end = end;
    } else if (begin != split.partial_begin || end != split.partial_end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", s, ": layer range [", begin, ", ", end, ") differs from [",
          split.partial_begin, ", ", split.partial_end, ") of the batch's other partial slices"));
    }
    if (end < num_layers && seq.logits != LogitsMode::kNone) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", s, ": logits asked of a slice that stops at layer ", end, " of ",
          num_layers));
    }
    ++split.partial_sequences;
    split.partial_rows += rows;
  }
  return split;
}

}  // namespace strata::worker
