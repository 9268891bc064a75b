#include "scheduler/engine_loop.h"

#include <gtest/gtest.h>

#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "tests/scheduler/greedy_request.h"
#include "worker/cpu_worker.h"

namespace strata::scheduler {
namespace {

std::unique_ptr<EngineLoop> NewLoop(int32_t max_queued, int32_t num_blocks) {
  const char* root = std::getenv("STRATA_SOURCE_DIR");
  const std::string dir = std::string(root ? root : ".") + "/tests/fixtures/reference/qwen3";
  auto worker = worker::CpuWorker::Create(dir, {.block_size = 16, .num_blocks = num_blocks});
  EXPECT_TRUE(worker.ok()) << worker.status();
  return std::make_unique<EngineLoop>(std::move(*worker),
                                      EngineOptions{.max_num_seqs = 8, .max_batch_tokens = 128},
                                      EngineLoopOptions{.max_queued_requests = max_queued});
}

Request MakeRequest(RequestId id, int32_t max_tokens, std::vector<int32_t> prompt = {5, 6, 7}) {
  return GreedyRequest(id, std::move(prompt), max_tokens);
}

// Collects a request's events; Wait() returns once the final one arrived.
struct Collector {
  std::mutex mutex;
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::kNone;
  absl::Status status;
  int finals = 0;
  std::promise<void> done;
  StreamCallback Callback() {
    return [this](const StreamEvent& e) {
      std::lock_guard lock(mutex);
      for (const auto& t : e.output.tokens) tokens.push_back(t.token);
      if (!e.status.ok() || e.output.finish != FinishReason::kNone) {
        status = e.status;
        finish = e.output.finish;
        if (++finals == 1) done.set_value();
      }
    };
  }
  void Wait() { done.get_future().wait(); }
};

// The engine thread may still be inside a callback when Wait() returns, so every collector
// must outlive the loop: members are destroyed in reverse order, the loop first.
class EngineLoopTest : public ::testing::Test {
 protected:
  EngineLoop& MakeLoop(int32_t max_queued = 64, int32_t num_blocks = 256) {
    loop_ = NewLoop(max_queued, num_blocks);
    return *loop_;
  }
  Collector& NewCollector() { return collectors_.emplace_back(); }

  std::deque<Collector> collectors_;
  std::unique_ptr<EngineLoop> loop_;
};

TEST_F(EngineLoopTest, ConcurrentSubmittersGetTheSameTokensAsAloneAndMetricsAddUp) {
  EngineLoop& loop = MakeLoop();
  loop.Start();
  Collector& alone = NewCollector();
  ASSERT_TRUE(loop.Submit(MakeRequest(100, 12), alone.Callback()).ok());
  alone.Wait();
  std::vector<Collector*> collectors;
  for (int i = 0; i < 16; ++i) collectors.push_back(&NewCollector());
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back(
        [&, i] { ASSERT_TRUE(loop.Submit(MakeRequest(i, 12), collectors[i]->Callback()).ok()); });
  }
  for (auto& t : threads) t.join();
  for (Collector* c : collectors) {
    c->Wait();
    EXPECT_EQ(c->tokens, alone.tokens);
    EXPECT_EQ(c->finish, FinishReason::kLength);
    EXPECT_EQ(c->finals, 1);
  }
  const EngineMetricsSnapshot m = loop.Metrics();
  EXPECT_EQ(m.generation_tokens_total, 17 * 12);
  EXPECT_EQ(m.prompt_tokens_total, 17 * 3);
  EXPECT_EQ(m.request_success_total.at("length"), 17);
  EXPECT_EQ(m.time_to_first_token_seconds.count(), 17u);
  EXPECT_EQ(m.inter_token_latency_seconds.count(), 17u * 11);
  EXPECT_EQ(m.kv_blocks_used, 0);
  EXPECT_TRUE(loop.Healthy(std::chrono::milliseconds(1000)));
}

TEST_F(EngineLoopTest, CancelFreesBlocksAndEndsTheStream) {
  EngineLoop& loop = MakeLoop();
  loop.Start();
  Collector& c = NewCollector();
  ASSERT_TRUE(loop.Submit(MakeRequest(1, 1000), c.Callback()).ok());
  while (loop.Metrics().generation_tokens_total < 3) std::this_thread::yield();
  loop.Cancel(1);
  c.Wait();
  EXPECT_EQ(c.finish, FinishReason::kAborted);
  // The next iteration boundary has passed once the final event is delivered.
  EXPECT_EQ(loop.Metrics().request_success_total.at("abort"), 1);
  Collector& after = NewCollector();
  ASSERT_TRUE(loop.Submit(MakeRequest(2, 1), after.Callback()).ok());
  after.Wait();
  EXPECT_EQ(loop.Metrics().kv_blocks_used, 0);
  EXPECT_EQ(loop.Metrics().num_requests_running, 0);
}

TEST_F(EngineLoopTest, InvalidRequestsFailThroughTheirCallback) {
  EngineLoop& loop = MakeLoop();
  loop.Start();
  Collector& c = NewCollector();
  ASSERT_TRUE(loop.Submit(MakeRequest(1, 4, {600}), c.Callback()).ok());  // vocab is 512
  c.Wait();
  EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status.message().find("outside the vocabulary"), absl::string_view::npos);
}

TEST_F(EngineLoopTest, QueueLimitAndDrainRefuseNewWork) {
  EngineLoop& loop = MakeLoop(/*max_queued=*/1);
  // Not started: the first request stays queued, the second exceeds the cap.
  Collector& a = NewCollector();
  Collector& b = NewCollector();
  ASSERT_TRUE(loop.Submit(MakeRequest(1, 2), a.Callback()).ok());
  EXPECT_EQ(loop.Submit(MakeRequest(2, 2), b.Callback()).code(),
            absl::StatusCode::kResourceExhausted);
  loop.Start();
  a.Wait();
  loop.Drain();
  EXPECT_EQ(loop.Submit(MakeRequest(3, 2), b.Callback()).code(), absl::StatusCode::kUnavailable);
}

TEST_F(EngineLoopTest, StopAnswersEveryPendingRequest) {
  EngineLoop& loop = MakeLoop();
  Collector& c = NewCollector();
  ASSERT_TRUE(loop.Submit(MakeRequest(1, 2), c.Callback()).ok());
  loop.Stop();  // never started
  c.Wait();
  EXPECT_EQ(c.status.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace strata::scheduler
