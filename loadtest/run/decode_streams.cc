#include "loadtest/run/decode_streams.h"

namespace strata::loadtest {

void DecodeStreams::Start() {
  for (size_t i = 0; i < specs_.size(); ++i) Send(i);
}

void DecodeStreams::Send(size_t stream) {
  ++in_flight_;
  client_.Send(specs_[stream], [this, stream](Outcome outcome) {
    --in_flight_;
    const bool ok = outcome.ok();
    outcomes_.emplace_back(stream, std::move(outcome));
    // A stream that failed is not retried: a server refusing it would be hammered.
    if (!stopped_ && ok) Send(stream);
  });
}

std::vector<RequestRecord> DecodeStreams::Records(Clock::time_point origin) const {
  std::vector<RequestRecord> records;
  records.reserve(outcomes_.size());
  for (const auto& [stream, outcome] : outcomes_) {
    records.push_back(MakeRecord(specs_[stream], outcome, origin, 0));
  }
  return records;
}

}  // namespace strata::loadtest
