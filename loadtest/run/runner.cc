#include "loadtest/run/runner.h"

#include <algorithm>

#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/post.hpp"

namespace strata::loadtest {

namespace asio = boost::asio;

namespace {

double SecondsSince(Clock::time_point origin) {
  return std::chrono::duration<double>(Clock::now() - origin).count();
}

Clock::duration ToDuration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  auto mid = v.begin() + static_cast<ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

}  // namespace

Runner::Runner(asio::io_context& io, Client& client, RunnerOptions options, Progress* progress)
    : io_(io),
      client_(client),
      options_(options),
      progress_(progress),
      arrival_timer_(io),
      deadline_timer_(io),
      tick_timer_(io) {}

RunOutput Runner::Run(const std::vector<RequestSpec>& warmup,
                      const std::vector<RequestSpec>& measured,
                      const std::vector<double>& offsets) {
  warmup_ = &warmup;
  measured_ = &measured;
  offsets_ = &offsets;
  auto guard = asio::make_work_guard(io_);  // gRPC delivers from other threads
  deadline_timer_.expires_after(ToDuration(options_.max_duration_s));
  deadline_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) OnDeadline();
  });
  asio::post(io_, [this] { StartPhase(warmup_->empty() ? AfterWarmup() : Phase::kWarmup); });
  // Run until the measured phase is done and the background streams are back; the guard
  // goes then.
  asio::post(io_, [this] { Tick(); });
  DecodeStreams* streams = options_.decode_streams;
  while (phase_ != Phase::kDone || (streams != nullptr && streams->in_flight() > 0)) {
    io_.run_one();
  }
  guard.reset();
  deadline_timer_.cancel();
  tick_timer_.cancel();
  arrival_timer_.cancel();
  io_.restart();
  io_.poll();  // let cancelled handlers run
  for (auto& r : records_) {
    if (r) output_.records.push_back(std::move(*r));
  }
  if (streams != nullptr) output_.decode_records = streams->Records(origin_);
  return std::move(output_);
}

Runner::Phase Runner::AfterWarmup() const {
  return options_.decode_streams != nullptr ? Phase::kLeadIn : Phase::kMeasured;
}

void Runner::StartPhase(Phase phase) {
  phase_ = phase;
  next_ = 0;
  backlog_.clear();
  completed_ = failed_ = output_tokens_ = sent_ = 0;
  ttfts_ms_.clear();
  tpots_ms_.clear();
  origin_ = Clock::now();
  if (phase == Phase::kDone) return;
  if (phase == Phase::kLeadIn) {
    if (stopping_) return StartPhase(Phase::kMeasured);
    options_.decode_streams->Start();
    arrival_timer_.expires_after(ToDuration(options_.lead_in_s));
    arrival_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && phase_ == Phase::kLeadIn) StartPhase(Phase::kMeasured);
    });
    return;
  }
  if (phase == Phase::kMeasured) {
    if (options_.on_measured_start) options_.on_measured_start();
    origin_ = Clock::now();
    specs_ = measured_;
    output_.started_at = std::chrono::system_clock::now();
    records_.assign(measured_->size(), std::nullopt);
    SampleConcurrency();
  } else {
    specs_ = warmup_;
  }
  if (stopping_) {
    if (phase == Phase::kMeasured) output_.not_sent = static_cast<int64_t>(measured_->size());
    return StartPhase(Phase::kDone);
  }
  ArriveDue();
  MaybeFinishPhase();
}

void Runner::ArriveDue() {
  if (stopping_) return;
  const double now = SecondsSince(origin_);
  while (next_ < specs_->size()) {
    const double due = phase_ == Phase::kMeasured ? (*offsets_)[next_] : 0.0;
    if (due > now) {
      arrival_timer_.expires_at(origin_ + ToDuration(due));
      arrival_timer_.async_wait([this, phase = phase_](boost::system::error_code ec) {
        if (!ec && phase == phase_) ArriveDue();
      });
      return;
    }
    Arrive(next_++);
  }
}

void Runner::Arrive(size_t i) {
  if (options_.max_concurrency > 0 && in_flight_ >= options_.max_concurrency) {
    backlog_.push_back(i);
  } else {
    SendOne(i);
  }
}

void Runner::SendOne(size_t i) {
  ++in_flight_;
  ++sent_;
  if (phase_ == Phase::kMeasured) SampleConcurrency();
  const Phase phase = phase_;
  client_.Send((*specs_)[i], [this, i, phase](Outcome outcome) {
    if (phase != phase_) return;  // cannot happen: a phase ends with nothing in flight
    OnDone(i, std::move(outcome));
  });
}

void Runner::OnDone(size_t i, Outcome outcome) {
  --in_flight_;
  const double scheduled = phase_ == Phase::kMeasured ? (*offsets_)[i] : 0.0;
  RequestRecord record = MakeRecord((*specs_)[i], outcome, origin_, scheduled);
  if (record.ok()) {
    ++completed_;
    output_tokens_ += record.output_tokens();
    if (record.ttft_s) ttfts_ms_.push_back(*record.ttft_s * 1e3);
    if (const auto tpot = record.tpot_s()) tpots_ms_.push_back(*tpot * 1e3);
  } else {
    ++failed_;
  }
  if (phase_ == Phase::kMeasured) {
    SampleConcurrency();
    records_[i] = std::move(record);
  } else {
    output_.warmup_records.push_back(std::move(record));
  }
  if (!backlog_.empty() && !stopping_) {
    const size_t next = backlog_.front();
    backlog_.pop_front();
    SendOne(next);
  }
  MaybeFinishPhase();
}

void Runner::MaybeFinishPhase() {
  const bool all_arrived = next_ >= specs_->size() || stopping_;
  if (!all_arrived || in_flight_ > 0 || (!backlog_.empty() && !stopping_)) return;
  if (phase_ == Phase::kWarmup) {
    if (progress_) progress_->Finish(Snapshot());
    return StartPhase(AfterWarmup());
  }
  if (phase_ == Phase::kMeasured) {
    if (stopping_) {
      output_.not_sent = static_cast<int64_t>(specs_->size() - next_ + backlog_.size());
    }
    output_.measured_end_s = SecondsSince(origin_);
    if (progress_) progress_->Finish(Snapshot());
    if (options_.on_measured_end) options_.on_measured_end();
    if (options_.decode_streams == nullptr || options_.lead_out_s <= 0 || stopping_) {
      return StopStreams();
    }
    phase_ = Phase::kLeadOut;
    arrival_timer_.expires_after(ToDuration(options_.lead_out_s));
    arrival_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && phase_ == Phase::kLeadOut) StopStreams();
    });
  }
}

void Runner::StopStreams() {
  phase_ = Phase::kDone;
  if (options_.decode_streams != nullptr) {
    options_.decode_streams->Stop();
    client_.CancelAll();  // nothing measured is in flight: only the background streams
  }
}

void Runner::OnDeadline() {
  if (phase_ == Phase::kDone) return;
  if (phase_ == Phase::kLeadOut) return StopStreams();  // the measured phase is complete
  stopping_ = true;
  output_.deadline_reached = true;
  arrival_timer_.cancel();
  if (options_.decode_streams != nullptr) options_.decode_streams->Stop();
  client_.CancelAll();
  if (phase_ == Phase::kLeadIn) return StartPhase(Phase::kMeasured);
  MaybeFinishPhase();
}

void Runner::SampleConcurrency() {
  const double t = SecondsSince(origin_);
  auto& samples = output_.concurrency;
  if (!samples.empty() && samples.back().t == t) {
    samples.back().in_flight = in_flight_;
  } else {
    samples.push_back({t, in_flight_});
  }
}

ProgressSnapshot Runner::Snapshot() const {
  ProgressSnapshot s;
  s.phase = phase_ == Phase::kWarmup   ? "warm-up"
            : phase_ == Phase::kLeadIn  ? "lead-in"
            : phase_ == Phase::kLeadOut ? "lead-out"
                                        : "run";
  s.elapsed_s = SecondsSince(origin_);
  s.total = specs_ ? static_cast<int64_t>(specs_->size()) : 0;
  s.sent = sent_;
  s.completed = completed_;
  s.failed = failed_;
  s.in_flight = in_flight_;
  s.output_tokens = output_tokens_;
  s.ttft_p50_ms = Median(ttfts_ms_);
  s.tpot_p50_ms = Median(tpots_ms_);
  return s;
}

void Runner::Tick() {
  if (phase_ == Phase::kDone) return;
  if (progress_ && specs_) progress_->Update(Snapshot());
  tick_timer_.expires_after(std::chrono::milliseconds(250));
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) Tick();
  });
}

}  // namespace strata::loadtest
