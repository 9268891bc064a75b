// How a CUDA graph's fixed number of decode attention items (context splits) is shared
// among its rows. A graph launches the same number of items whatever the contexts, so the
// items follow the tokens: a row of one long context among short ones gets most of them,
// and no item covers many more tokens than another.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace strata::worker {

// Items the rows need when an item covers at most `chunk` tokens: sum of
// ceil(context / chunk), every row at least one. chunk >= 1.
int64_t DecodeItemsNeeded(std::span<const int64_t> contexts, int64_t chunk);

// Items per row for `total_items` items over rows of `contexts` tokens (each >= 1): every
// row gets at least one, the rest go by context so that the largest per-item token count,
// max ceil(context / items), is as small as possible; the counts sum to total_items.
// Requires total_items >= contexts.size(). A row given more items than tokens has empty
// ones (the decode kernel writes them as an empty softmax, which the reduce ignores).
std::vector<int32_t> ShareDecodeItems(std::span<const int64_t> contexts, int64_t total_items);

}  // namespace strata::worker
