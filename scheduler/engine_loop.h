// The engine thread. Frontend threads submit requests and cancellations through a locked
// inbound queue; the one engine thread drains it between iterations, runs Engine::Step()
// while there is work, and hands every output to the request's callback. All request state
// stays on the engine thread (the Engine itself has no locks).
//
// Callbacks run on the engine thread: they must not block (post to the frontend's own
// executor instead). Each request's callback sees its outputs in order and exactly one
// final output (finish != kNone, or an error status), after which it is never called again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "scheduler/engine.h"
#include "scheduler/engine_metrics.h"

namespace strata::scheduler {

struct StreamEvent {
  RequestOutput output;  // tokens of this step; output.finish set on the last event
  absl::Status status;   // not OK: the request failed; this is its last event
};
using StreamCallback = std::function<void(const StreamEvent&)>;

struct EngineLoopOptions {
  int32_t max_queued_requests = 1024;  // waiting + inbound, beyond which Submit refuses
};

class EngineLoop {
 public:
  EngineLoop(std::unique_ptr<worker::Worker> worker, const EngineOptions& engine_options,
             const EngineLoopOptions& options);
  ~EngineLoop();  // stops the thread; pending requests get an UNAVAILABLE final event

  void Start();
  // Stops admitting (Submit answers UNAVAILABLE); running and queued requests finish.
  void Drain();
  // Stops the thread after the current iteration; unfinished requests are aborted.
  void Stop();

  // Thread-safe. ResourceExhausted when the queue is full, Unavailable when draining or
  // stopped. On OK the callback will receive the request's events.
  absl::Status Submit(Request request, StreamCallback callback);
  // Thread-safe; idempotent. The request's blocks are freed at the next iteration boundary
  // and its callback gets a final event with FinishReason::kAborted.
  void Cancel(RequestId id);

  RequestId NextRequestId() { return next_id_.fetch_add(1); }
  const worker::ModelConfig& model_config() const { return model_config_; }
  int64_t max_model_len() const { return max_model_len_; }
  bool draining() const { return draining_.load(); }
  // Requests submitted and not yet given their final event.
  int64_t InFlight() const;
  // True while the loop runs and, if it has work, completed an iteration recently.
  bool Healthy(std::chrono::milliseconds stall_limit) const;
  // A consistent copy of the counters, gauges and histograms.
  EngineMetricsSnapshot Metrics() const;

 private:
  void Run();
  void DrainInbound();
  void Fail(RequestId id, const absl::Status& status);
  void RecordCacheMetrics();

  std::unique_ptr<worker::Worker> worker_;
  Engine engine_;
  const worker::ModelConfig model_config_;
  const int64_t max_model_len_;
  const EngineLoopOptions options_;

  mutable std::mutex mutex_;  // guards everything below up to the thread
  std::condition_variable wake_;
  std::deque<std::pair<Request, StreamCallback>> inbound_;
  std::vector<RequestId> cancels_;
  int64_t queued_ = 0;  // inbound + waiting + running, for the admission cap
  bool stop_ = false;
  std::thread thread_;

  std::atomic<bool> draining_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> busy_{false};  // the engine had work after the last iteration
  std::atomic<int64_t> last_progress_ns_{0};
  std::atomic<RequestId> next_id_{1};

  // Engine-thread only.
  struct Tracked {
    StreamCallback callback;
    std::chrono::steady_clock::time_point submitted, last_token;
    bool first_token_seen = false;
    double ttft_seconds = 0.0;
  };
  std::unordered_map<RequestId, Tracked> tracked_;
  EngineMetrics metrics_;
};

}  // namespace strata::scheduler
