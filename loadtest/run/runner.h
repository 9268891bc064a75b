// Drives a run: sends the warm-up requests (not measured) and waits for them, then sends the
// measured requests at their arrival offsets, holding any beyond the concurrency cap in a
// first-come queue until a slot frees. The time limit (counted from the first warm-up send)
// stops sending, cancels what is in flight (error kind "deadline") and counts the rest as
// not sent. With background decode streams, a lead-in comes between the two phases: the
// streams start, run alone for lead_in_s, then the measured requests arrive among them;
// when the measured phase ends they run alone once more for lead_out_s (their decode-only
// gaps at the contexts they reached), then are cancelled. Runs the io_context on the calling
// thread until the run ends; clients deliver outcomes to that thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "loadtest/client/outcome.h"
#include "loadtest/metrics/request_record.h"
#include "loadtest/metrics/run_summary.h"
#include "loadtest/run/decode_streams.h"
#include "loadtest/run/progress.h"

namespace strata::loadtest {

struct RunnerOptions {
  int32_t max_concurrency = 0;  // 0: no cap
  double max_duration_s = 3600;
  DecodeStreams* decode_streams = nullptr;  // background streams; none when null
  double lead_in_s = 0;                     // background streams alone before the arrivals
  double lead_out_s = 0;                    // and after the measured phase (0: none)
  // Called on the runner's thread when the measured phase starts (before its first send)
  // and when it ends (before the background streams are cancelled): e.g. to scrape the
  // server's counters.
  std::function<void()> on_measured_start;
  std::function<void()> on_measured_end;
};

struct RunOutput {
  std::vector<RequestRecord> records;         // measured requests, by index
  std::vector<RequestRecord> warmup_records;  // relative to the warm-up's start
  int64_t not_sent = 0;
  bool deadline_reached = false;
  std::vector<ConcurrencySample> concurrency;        // measured phase
  // Background decode streams, relative to the measured start (the lead-in is negative).
  std::vector<RequestRecord> decode_records;
  double measured_end_s = 0;  // when the measured phase ended, after its start
  std::chrono::system_clock::time_point started_at;  // wall clock at the measured start
};

class Runner {
 public:
  Runner(boost::asio::io_context& io, Client& client, RunnerOptions options, Progress* progress);

  RunOutput Run(const std::vector<RequestSpec>& warmup, const std::vector<RequestSpec>& measured,
                const std::vector<double>& offsets);

 private:
  enum class Phase { kWarmup, kLeadIn, kMeasured, kLeadOut, kDone };
  void StartPhase(Phase phase);
  Phase AfterWarmup() const;
  void ArriveDue();
  void Arrive(size_t i);
  void SendOne(size_t i);
  void OnDone(size_t i, Outcome outcome);
  void OnDeadline();
  void MaybeFinishPhase();
  void StopStreams();
  void SampleConcurrency();
  void Tick();
  ProgressSnapshot Snapshot() const;

  boost::asio::io_context& io_;
  Client& client_;
  RunnerOptions options_;
  Progress* progress_;
  boost::asio::steady_timer arrival_timer_;
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer tick_timer_;

  Phase phase_ = Phase::kWarmup;
  const std::vector<RequestSpec>* warmup_ = nullptr;
  const std::vector<RequestSpec>* measured_ = nullptr;
  const std::vector<double>* offsets_ = nullptr;
  const std::vector<RequestSpec>* specs_ = nullptr;  // of the current phase
  Clock::time_point origin_;                         // start of the current phase
  size_t next_ = 0;                                  // next request of the phase to arrive
  std::deque<size_t> backlog_;
  int32_t in_flight_ = 0;
  bool stopping_ = false;
  int64_t completed_ = 0, failed_ = 0, output_tokens_ = 0, sent_ = 0;
  std::vector<double> ttfts_ms_, tpots_ms_;
  std::vector<std::optional<RequestRecord>> records_;
  RunOutput output_;
};

}  // namespace strata::loadtest
