// Background decode traffic: a fixed set of long-running streams (short prompts, long
// outputs) that the runner starts at the lead-in, before the measured requests arrive, and
// keeps running until the measured phase ends: each stream is sent again as soon as it
// completes, so that the server decodes a steady batch while the measured prompts arrive
// among it. Their gaps measure what the arrivals cost running decodes (inter-token latency
// under load against the decode-only lead-in). Lives on the runner's thread.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "loadtest/client/outcome.h"
#include "loadtest/metrics/request_record.h"
#include "loadtest/workload/request_spec.h"

namespace strata::loadtest {

class DecodeStreams {
 public:
  // One stream per spec; a stream re-sends its spec when it completes.
  DecodeStreams(Client& client, std::vector<RequestSpec> specs)
      : client_(client), specs_(std::move(specs)) {}

  void Start();  // sends every stream
  // No more re-sends; the caller cancels what is in flight (Client::CancelAll) and runs the
  // event loop until in_flight() is 0.
  void Stop() { stopped_ = true; }
  int32_t in_flight() const { return in_flight_; }
  size_t size() const { return specs_.size(); }

  // Every finished or cancelled send, relative to `origin` (the start of the measured
  // arrivals: lead-in times are negative).
  std::vector<RequestRecord> Records(Clock::time_point origin) const;

 private:
  void Send(size_t stream);

  Client& client_;
  std::vector<RequestSpec> specs_;
  std::vector<std::pair<size_t, Outcome>> outcomes_;  // (stream, outcome)
  int32_t in_flight_ = 0;
  bool stopped_ = false;
};

}  // namespace strata::loadtest
