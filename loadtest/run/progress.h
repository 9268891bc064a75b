// The live progress line on stderr: a bar of finished requests and running figures
// (request and output-token rates, in flight, median TTFT and TPOT so far, errors). On a
// terminal it redraws one line; otherwise it prints a line every 10 seconds. Called on the
// runner's thread only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace strata::loadtest {

struct ProgressSnapshot {
  std::string phase;  // "warm-up" or "run"
  double elapsed_s = 0;
  int64_t total = 0;
  int64_t sent = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int32_t in_flight = 0;
  int64_t output_tokens = 0;
  double ttft_p50_ms = 0;  // 0: none yet
  double tpot_p50_ms = 0;
};

class Progress {
 public:
  enum class Mode { kAuto, kAlways, kNever };
  explicit Progress(Mode mode, std::FILE* out = stderr);
  void Update(const ProgressSnapshot& s);
  // Prints the final state and ends the line.
  void Finish(const ProgressSnapshot& s);

 private:
  std::string Line(const ProgressSnapshot& s) const;
  std::FILE* out_;
  bool enabled_;
  bool tty_;
  double last_printed_s_ = -1e9;
  bool drawn_ = false;
};

}  // namespace strata::loadtest
