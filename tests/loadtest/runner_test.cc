// The runner with a scripted client: the concurrency cap, warm-up, arrival times, the time
// limit, and the records and summary it produces.
#include "loadtest/run/runner.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "loadtest/metrics/decode_stats.h"

namespace strata::loadtest {
namespace {

// Answers every request after `latency` with `tokens` chunks spread over it.
class FakeClient : public Client {
 public:
  FakeClient(boost::asio::io_context& io, double latency_s, int tokens)
      : io_(io), latency_s_(latency_s), tokens_(tokens) {}

  void Send(const RequestSpec& spec, std::function<void(Outcome)> done) override {
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    sent_order_.push_back(spec.index);
    auto timer = std::make_shared<boost::asio::steady_timer>(io_);
    const int id = next_id_++;
    pending_[id] = {timer, std::move(done), Clock::now(), spec};
    timer->expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(latency_s_)));
    timer->async_wait([this, id](boost::system::error_code ec) {
      if (!ec) Complete(id, "");
    });
  }

  void CancelAll() override {
    std::vector<int> ids;
    for (auto& [id, p] : pending_) ids.push_back(id);
    for (int id : ids) Complete(id, "deadline");
  }

  int max_in_flight() const { return max_in_flight_; }
  const std::vector<int64_t>& sent_order() const { return sent_order_; }

 private:
  struct Pending {
    std::shared_ptr<boost::asio::steady_timer> timer;
    std::function<void(Outcome)> done;
    Clock::time_point sent;
    RequestSpec spec;
  };

  void Complete(int id, const std::string& error) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    p.timer->cancel();
    --in_flight_;
    Outcome o;
    o.sent = p.sent;
    o.finished = Clock::now();
    o.error_kind = error;
    if (error.empty()) {
      for (int i = 0; i < tokens_; ++i) {
        o.chunk_times.push_back(p.sent + (o.finished - p.sent) * (i + 1) / tokens_);
      }
      o.prompt_tokens = p.spec.prompt_len;
      o.completion_tokens = tokens_;
    }
    boost::asio::post(
        io_, [done = std::move(p.done), o = std::move(o)]() mutable { done(std::move(o)); });
  }

  boost::asio::io_context& io_;
  double latency_s_;
  int tokens_;
  int in_flight_ = 0, max_in_flight_ = 0, next_id_ = 0;
  std::map<int, Pending> pending_;
  std::vector<int64_t> sent_order_;
};

std::vector<RequestSpec> Specs(int n, int first_index = 0) {
  std::vector<RequestSpec> specs(n);
  for (int i = 0; i < n; ++i) {
    specs[i].index = first_index + i;
    specs[i].prompt_len = 10;
    specs[i].output_len = 4;
  }
  return specs;
}

TEST(RunnerTest, ConcurrencyCapHoldsRequestsInOrder) {
  boost::asio::io_context io;
  FakeClient client(io, 0.02, 4);
  RunnerOptions options;
  options.max_concurrency = 3;
  Runner runner(io, client, options, nullptr);
  const std::vector<RequestSpec> specs = Specs(12);
  const RunOutput out = runner.Run({}, specs, std::vector<double>(12, 0.0));
  EXPECT_EQ(client.max_in_flight(), 3);
  ASSERT_EQ(out.records.size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(client.sent_order()[i], static_cast<int64_t>(i));
    EXPECT_EQ(out.records[i].index, static_cast<int64_t>(i));
    EXPECT_TRUE(out.records[i].ok());
    EXPECT_EQ(out.records[i].itl_s.size(), 3u);
  }
  // Four waves of three: the last ones start about 60 ms after they were due.
  EXPECT_GT(out.records[11].start_s - out.records[11].scheduled_s, 0.05);
  const RunSummary s = SummarizeRun(out.records, out.not_sent, out.concurrency, std::nullopt);
  EXPECT_EQ(s.max_in_flight, 3);
  EXPECT_EQ(s.completed, 12);
  EXPECT_EQ(s.total_output_tokens, 48);
  EXPECT_EQ(s.total_input_tokens, 120);
  EXPECT_GE(s.ttft_ms.p50, 4.9);  // the first of four chunks of 20 ms, or later under load
  EXPECT_LT(s.ttft_ms.p50, 20);
  double timeline_tokens = 0;
  for (double v : s.timeline.output_tok_s) timeline_tokens += v * s.timeline.bin_s;
  EXPECT_NEAR(timeline_tokens, 48, 1e-6);
}

TEST(RunnerTest, WarmupIsAwaitedAndNotMeasured) {
  boost::asio::io_context io;
  FakeClient client(io, 0.03, 2);
  Runner runner(io, client, {}, nullptr);
  const std::vector<RequestSpec> warmup = Specs(2);
  const std::vector<RequestSpec> measured = Specs(3, 2);
  const RunOutput out = runner.Run(warmup, measured, {0, 0, 0});
  EXPECT_EQ(out.warmup_records.size(), 2u);
  ASSERT_EQ(out.records.size(), 3u);
  EXPECT_EQ(out.records[0].index, 2);
  // Measured times count from the measured start, after the warm-up finished.
  EXPECT_LT(out.records[0].start_s, 0.03);
  EXPECT_EQ(client.max_in_flight(), 3);  // the warm-up was done before
}

TEST(RunnerTest, ArrivalsFollowTheOffsets) {
  boost::asio::io_context io;
  FakeClient client(io, 0.001, 1);
  Runner runner(io, client, {}, nullptr);
  const RunOutput out = runner.Run({}, Specs(3), {0, 0.05, 0.12});
  ASSERT_EQ(out.records.size(), 3u);
  // Never early; late only by the event loop's delay (bounded loosely: CI shares its cores).
  EXPECT_GE(out.records[1].start_s, 0.05);
  EXPECT_LT(out.records[1].start_s, 0.09);
  EXPECT_GE(out.records[2].start_s, 0.12);
  EXPECT_LT(out.records[2].start_s, 0.16);
}

TEST(RunnerTest, TimeLimitCancelsAndCountsTheRest) {
  boost::asio::io_context io;
  FakeClient client(io, 10.0, 1);
  RunnerOptions options;
  options.max_duration_s = 0.1;
  options.max_concurrency = 2;
  Runner runner(io, client, options, nullptr);
  const auto start = Clock::now();
  const RunOutput out = runner.Run({}, Specs(10), std::vector<double>(10, 0.0));
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 2.0);
  EXPECT_TRUE(out.deadline_reached);
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[0].error_kind, "deadline");
  EXPECT_EQ(out.not_sent, 8);
  const RunSummary s = SummarizeRun(out.records, out.not_sent, out.concurrency, std::nullopt);
  EXPECT_EQ(s.failed, 2);
  EXPECT_EQ(s.errors.at("deadline"), 2);
}

// Options for a run with background streams and the given lead-in and lead-out.
RunnerOptions WithStreams(DecodeStreams& streams, double lead_in_s, double lead_out_s = 0) {
  RunnerOptions options;
  options.decode_streams = &streams;
  options.lead_in_s = lead_in_s;
  options.lead_out_s = lead_out_s;
  return options;
}

TEST(RunnerTest, DecodeStreamsRunThroughTheLeadInAndStopAfterTheMeasuredPhase) {
  boost::asio::io_context io;
  FakeClient client(io, 0.04, 4);
  DecodeStreams streams(client, Specs(2, -2));
  RunnerOptions options = WithStreams(streams, 0.2);
  std::vector<std::string> events;
  options.on_measured_start = [&] { events.push_back("start"); };
  options.on_measured_end = [&] { events.push_back("end"); };
  Runner runner(io, client, options, nullptr);
  const auto start = Clock::now();
  const RunOutput out = runner.Run({}, Specs(2), {0, 0.05});
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GT(took, 0.25);
  EXPECT_LT(took, 2.0);
  EXPECT_EQ(events, (std::vector<std::string>{"start", "end"}));
  EXPECT_EQ(streams.in_flight(), 0);
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_TRUE(out.records[0].ok());
  EXPECT_LT(out.records[0].start_s, 0.03);  // measured times count from the arrivals' start
  EXPECT_GE(out.measured_end_s, 0.09);  // the second arrives at 0.05 and takes 0.04
  EXPECT_LT(out.measured_end_s, 0.3);
  // Each stream completed about five times during the lead-in (re-sent each time) and ran
  // until the measured phase ended. There it was cancelled, or, when its answer was already
  // on the way back, it was not re-sent; either way nothing of it starts after the end.
  int lead_in_ok = 0;
  std::map<int64_t, RequestRecord> last_of_stream;
  for (const RequestRecord& r : out.decode_records) {
    EXPECT_LT(r.index, 0);
    if (r.ok() && r.end_s <= 0) ++lead_in_ok;
    EXPECT_LE(r.start_s, out.measured_end_s);
    auto [it, inserted] = last_of_stream.try_emplace(r.index, r);
    if (!inserted && r.start_s > it->second.start_s) it->second = r;
  }
  EXPECT_GE(lead_in_ok, 6);
  ASSERT_EQ(last_of_stream.size(), 2u);
  for (const auto& [index, last] : last_of_stream) {
    EXPECT_TRUE(last.error_kind == "deadline" || last.ok()) << index << " " << last.error_kind;
    EXPECT_GE(last.end_s, out.measured_end_s - 0.04 - 0.02) << index;  // ran up to the end
  }
  EXPECT_LT(out.decode_records.front().start_s, -0.15);
  const DecodeStreamStats stats =
      SummarizeDecodeStreams(out.decode_records, out.records, 2, 0.2, out.measured_end_s);
  EXPECT_GT(stats.baseline_itl_ms.count, 10);
  EXPECT_GE(stats.baseline_itl_ms.p50, 9.9);  // 40 ms over four chunks, or later under load
  EXPECT_LT(stats.baseline_itl_ms.p50, 30);
  EXPECT_GT(stats.itl_p99_over_baseline, 0.5);
}

TEST(RunnerTest, DecodeStreamsRunAloneThroughTheLeadOutAfterTheMeasuredPhase) {
  boost::asio::io_context io;
  FakeClient client(io, 0.04, 4);
  DecodeStreams streams(client, Specs(2, -2));
  RunnerOptions options = WithStreams(streams, 0.2, 0.3);
  double measured_end_at = -1;
  options.on_measured_end = [&] { measured_end_at = streams.in_flight(); };
  Runner runner(io, client, options, nullptr);
  const auto start = Clock::now();
  const RunOutput out = runner.Run({}, Specs(2), {0, 0.05});
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GT(took, 0.2 + 0.09 + 0.3);
  EXPECT_LT(took, 3.0);
  EXPECT_EQ(measured_end_at, 2);  // the streams were running when the measured phase ended
  EXPECT_EQ(streams.in_flight(), 0);
  // The streams were re-sent during the lead-out and stopped at its end.
  int in_lead_out = 0;
  for (const RequestRecord& r : out.decode_records) {
    if (r.start_s >= out.measured_end_s && r.ok()) ++in_lead_out;
    EXPECT_LE(r.start_s, out.measured_end_s + 0.3 + 0.2);  // the timer may fire late
  }
  EXPECT_GE(in_lead_out, 4);  // about seven 40 ms answers per stream in 300 ms
  const DecodeStreamStats stats =
      SummarizeDecodeStreams(out.decode_records, out.records, 2, 0.2, out.measured_end_s);
  EXPECT_GT(stats.lead_out_itl_ms.count, 10);
  EXPECT_GT(stats.itl_p99_over_matched, 0.5);
}

TEST(RunnerTest, TimeLimitInTheLeadInSendsNothingMeasured) {
  boost::asio::io_context io;
  FakeClient client(io, 10.0, 1);
  DecodeStreams streams(client, Specs(3, -3));
  RunnerOptions options = WithStreams(streams, 5);
  options.max_duration_s = 0.1;
  Runner runner(io, client, options, nullptr);
  const auto start = Clock::now();
  const RunOutput out = runner.Run({}, Specs(4), std::vector<double>(4, 0.0));
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 2.0);
  EXPECT_TRUE(out.deadline_reached);
  EXPECT_TRUE(out.records.empty());
  EXPECT_EQ(out.not_sent, 4);
  ASSERT_EQ(out.decode_records.size(), 3u);
  EXPECT_EQ(out.decode_records[0].error_kind, "deadline");
  EXPECT_EQ(streams.in_flight(), 0);
}

}  // namespace
}  // namespace strata::loadtest
