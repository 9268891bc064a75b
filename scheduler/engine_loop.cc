#include "scheduler/engine_loop.h"

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace strata::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double SecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

EngineLoop::EngineLoop(std::unique_ptr<worker::Worker> worker, const EngineOptions& engine_options,
                       const EngineLoopOptions& options)
    : worker_(std::move(worker)),
      engine_(worker_.get(), engine_options),
      model_config_(worker_->model_config()),
      max_model_len_(engine_.max_model_len()),
      options_(options) {
  metrics_.kv_blocks_total = engine_.kv_cache().pool().num_blocks();
}

EngineLoop::~EngineLoop() { Stop(); }

void EngineLoop::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  running_ = true;
  last_progress_ns_ = NowNs();
  thread_ = std::thread([this] { Run(); });
}

void EngineLoop::Drain() { draining_ = true; }

void EngineLoop::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    draining_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Whatever never reached the engine thread is answered here.
  std::deque<std::pair<Request, StreamCallback>> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(inbound_);
  }
  for (auto& [request, callback] : left) {
    StreamEvent event;
    event.output.id = request.id;
    event.status = absl::UnavailableError("the server is shutting down");
    callback(event);
  }
}

absl::Status EngineLoop::Submit(Request request, StreamCallback callback) {
  {
    std::lock_guard lock(mutex_);
    if (stop_ || draining_) return absl::UnavailableError("the server is draining");
    if (queued_ >= options_.max_queued_requests) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the request queue is full (", options_.max_queued_requests, " requests)"));
    }
    ++queued_;
    inbound_.emplace_back(std::move(request), std::move(callback));
  }
  wake_.notify_one();
  return absl::OkStatus();
}

void EngineLoop::Cancel(RequestId id) {
  {
    std::lock_guard lock(mutex_);
    cancels_.push_back(id);
  }
  wake_.notify_one();
}

bool EngineLoop::Healthy(std::chrono::milliseconds stall_limit) const {
  if (!running_) return false;
  if (!busy_) return true;
  const int64_t idle_ns = NowNs() - last_progress_ns_.load();
  return idle_ns <= std::chrono::duration_cast<std::chrono::nanoseconds>(stall_limit).count();
}

int64_t EngineLoop::InFlight() const {
  std::lock_guard lock(mutex_);
  return queued_;
}

EngineMetricsSnapshot EngineLoop::Metrics() const {
  std::lock_guard lock(mutex_);
  return metrics_;
}

void EngineLoop::Fail(RequestId id, const absl::Status& status) {
  auto it = tracked_.find(id);
  if (it == tracked_.end()) return;
  StreamCallback callback = std::move(it->second.callback);
  tracked_.erase(it);
  {
    std::lock_guard lock(mutex_);
    --queued_;
    ++metrics_.request_failure_total;
  }
  StreamEvent event;
  event.output.id = id;
  event.status = status;
  callback(event);
}

void EngineLoop::DrainInbound() {
  std::deque<std::pair<Request, StreamCallback>> inbound;
  std::vector<RequestId> cancels;
  {
    std::lock_guard lock(mutex_);
    inbound.swap(inbound_);
    cancels.swap(cancels_);
  }
  const auto now = Clock::now();
  for (auto& [request, callback] : inbound) {
    const RequestId id = request.id;
    tracked_[id] = Tracked{std::move(callback), now, now, false};
    if (absl::Status s = engine_.AddRequest(std::move(request)); !s.ok()) Fail(id, s);
  }
  for (RequestId id : cancels) {
    if (!engine_.Abort(id)) continue;
    auto it = tracked_.find(id);
    if (it == tracked_.end()) continue;
    StreamCallback callback = std::move(it->second.callback);
    tracked_.erase(it);
    {
      std::lock_guard lock(mutex_);
      --queued_;
      ++metrics_.request_success_total[FinishReasonName(FinishReason::kAborted)];
      metrics_.kv_blocks_used = engine_.kv_cache().pool().used_count();
      metrics_.num_requests_running = static_cast<int64_t>(engine_.num_running());
      metrics_.num_requests_waiting = static_cast<int64_t>(engine_.num_waiting());
    }
    StreamEvent event;
    event.output.id = id;
    event.output.finish = FinishReason::kAborted;
    callback(event);
  }
}

void EngineLoop::RecordCacheMetrics() {
  const cache::KvCacheManager& kv = engine_.kv_cache();
  auto in_use = [](const cache::BlockPool& pool) {
    return pool.Count(cache::BlockState::kOwned) + pool.Count(cache::BlockState::kInFlight);
  };
  metrics_.kv_blocks_used = in_use(kv.pool());
  metrics_.kv_cache_usage =
      metrics_.kv_blocks_total ? double(metrics_.kv_blocks_used) / metrics_.kv_blocks_total : 0.0;
  const cache::BlockPool& host = kv.pool(cache::Tier::kHost);
  metrics_.host_kv_cache_usage = host.num_blocks() ? double(in_use(host)) / host.num_blocks() : 0.0;
  for (cache::Tier tier : {cache::Tier::kDevice, cache::Tier::kHost}) {
    auto& states = metrics_.kv_blocks_by_state[tier == cache::Tier::kDevice ? "device" : "host"];
    for (int s = 0; s < cache::kNumBlockStates; ++s) {
      const auto state = static_cast<cache::BlockState>(s);
      states[cache::BlockStateName(state)] = kv.pool(tier).Count(state);
    }
  }
  metrics_.kv = kv.stats();
}

void EngineLoop::Run() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return stop_ || !inbound_.empty() || !cancels_.empty() || engine_.HasWork();
      });
      if (stop_) break;
    }
    DrainInbound();
    busy_ = engine_.HasWork();
    last_progress_ns_ = NowNs();
    if (!busy_) continue;
    absl::StatusOr<std::vector<RequestOutput>> outputs = engine_.Step();
    const auto now = Clock::now();
    last_progress_ns_ = NowNs();
    if (!outputs.ok()) {
      // A failed forward pass fails the requests it held; the loop itself goes on.
      std::vector<RequestId> ids;
      for (const auto& [id, tracked] : tracked_) ids.push_back(id);
      for (RequestId id : ids) {
        engine_.Abort(id);
        Fail(id, outputs.status());
      }
      continue;
    }
    // Metrics under the lock; callbacks after it (a callback may call Cancel()).
    const int64_t expert_bytes = worker_->ExpertWeightBytesRead();  // may wait for the device
    std::vector<std::pair<StreamCallback, StreamEvent>> deliveries;
    {
      std::lock_guard lock(mutex_);
      ++metrics_.iterations_total;
      metrics_.moe_expert_weight_bytes_total = expert_bytes;
      for (RequestId id : engine_.newly_started()) {
        auto it = tracked_.find(id);
        if (it == tracked_.end()) continue;
        metrics_.request_queue_time_seconds.Observe(SecondsBetween(it->second.submitted, now));
      }
      for (const RequestOutput& out : *outputs) {
        auto it = tracked_.find(out.id);
        if (it == tracked_.end()) continue;
        Tracked& t = it->second;
        if (!t.first_token_seen) {
          t.first_token_seen = true;
          t.ttft_seconds = SecondsBetween(t.submitted, now);
          metrics_.time_to_first_token_seconds.Observe(t.ttft_seconds);
          metrics_.prompt_tokens_total += out.prompt_tokens;
          metrics_.request_prompt_tokens.Observe(out.prompt_tokens);
        } else {
          metrics_.inter_token_latency_seconds.Observe(SecondsBetween(t.last_token, now));
        }
        t.last_token = now;
        metrics_.generation_tokens_total += static_cast<int64_t>(out.tokens.size());
        StreamEvent event;
        event.output = out;
        if (out.finish == FinishReason::kNone) {
          deliveries.emplace_back(t.callback, std::move(event));
          continue;
        }
        const double total = SecondsBetween(t.submitted, now);
        metrics_.e2e_request_latency_seconds.Observe(total);
        STRATA_LOG(kInfo) << "request " << out.id << " done: " << out.prompt_tokens
                          << " prompt tokens, " << out.completion_tokens
                          << " completion tokens, ttft " << t.ttft_seconds * 1e3 << " ms, total "
                          << total * 1e3 << " ms, finish_reason " << FinishReasonName(out.finish)
                          << (out.finish_detail.empty() ? "" : " (") << out.finish_detail
                          << (out.finish_detail.empty() ? "" : ")");
        metrics_.request_generation_tokens.Observe(out.completion_tokens);
        ++metrics_.request_success_total[FinishReasonName(out.finish)];
        --queued_;
        deliveries.emplace_back(std::move(t.callback), std::move(event));
        tracked_.erase(it);
      }
      metrics_.num_requests_running = static_cast<int64_t>(engine_.num_running());
      metrics_.num_requests_waiting = static_cast<int64_t>(engine_.num_waiting());
      RecordCacheMetrics();
      metrics_.num_preemptions_total = engine_.stats().preemptions;
      metrics_.num_swap_preemptions_total = engine_.stats().swap_preemptions;
    }
    busy_ = engine_.HasWork();
    for (auto& [callback, event] : deliveries) callback(event);
  }
  // Stopped: abort what is left so every callback gets its final event.
  std::vector<RequestId> ids;
  for (const auto& [id, tracked] : tracked_) ids.push_back(id);
  for (RequestId id : ids) {
    engine_.Abort(id);
    Fail(id, absl::UnavailableError("the server is shutting down"));
  }
  running_ = false;
}

}  // namespace strata::scheduler
