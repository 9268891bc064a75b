#include "worker/decode_items.h"

#include <algorithm>
#include <queue>

#include "base/check.h"

namespace strata::worker {

int64_t DecodeItemsNeeded(std::span<const int64_t> contexts, int64_t chunk) {
  STRATA_CHECK_GE(chunk, 1);
  int64_t items = 0;
  for (int64_t c : contexts) items += std::max<int64_t>(1, (c + chunk - 1) / chunk);
  return items;
}

std::vector<int32_t> ShareDecodeItems(std::span<const int64_t> contexts, int64_t total_items) {
  const auto rows = static_cast<int64_t>(contexts.size());
  STRATA_CHECK_GE(total_items, rows);
  std::vector<int32_t> items(rows, 1);
  // Greedy on the row whose items cover the most tokens each: it is optimal for the
  // largest per-item count (each step lowers the current maximum, or it cannot be lowered)
  // and costs O((total_items - rows) log rows).
  auto per_item = [&](int64_t s) { return (contexts[s] + items[s] - 1) / items[s]; };
  auto fewer = [&](int64_t a, int64_t b) {
    const int64_t pa = per_item(a), pb = per_item(b);
    return pa != pb ? pa < pb : a > b;  // ties: the earlier row first
  };
  std::priority_queue<int64_t, std::vector<int64_t>, decltype(fewer)> heap(fewer);
  for (int64_t s = 0; s < rows; ++s) {
    STRATA_CHECK_GE(contexts[s], 1) << "row " << s;
    heap.push(s);
  }
  for (int64_t left = total_items - rows; left > 0 && !heap.empty(); --left) {
    const int64_t s = heap.top();
    heap.pop();
    ++items[s];
    heap.push(s);
  }
  return items;
}

}  // namespace strata::worker
