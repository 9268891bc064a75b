#include "loadtest/run/progress.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace strata::loadtest {

Progress::Progress(Mode mode, std::FILE* out) : out_(out) {
  tty_ = isatty(fileno(out)) != 0;
  enabled_ = mode == Mode::kAlways || (mode == Mode::kAuto && tty_);
}

std::string Progress::Line(const ProgressSnapshot& s) const {
  const int64_t done = s.completed + s.failed;
  const double frac = s.total > 0 ? static_cast<double>(done) / static_cast<double>(s.total) : 1;
  constexpr int kWidth = 24;
  const int filled = std::clamp(static_cast<int>(frac * kWidth), 0, kWidth);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  const double rate = s.elapsed_s > 0 ? s.completed / s.elapsed_s : 0;
  const double tok = s.elapsed_s > 0 ? s.output_tokens / s.elapsed_s : 0;
  std::string line =
      absl::StrFormat("%s [%s] %d/%d %5.1fs | %.2f req/s %.1f tok/s | in flight %d", s.phase, bar,
                      done, s.total, s.elapsed_s, rate, tok, s.in_flight);
  if (s.ttft_p50_ms > 0) absl::StrAppendFormat(&line, " | ttft p50 %.1f ms", s.ttft_p50_ms);
  if (s.tpot_p50_ms > 0) absl::StrAppendFormat(&line, " tpot p50 %.2f ms", s.tpot_p50_ms);
  if (s.failed > 0) absl::StrAppendFormat(&line, " | %d failed", s.failed);
  return line;
}

void Progress::Update(const ProgressSnapshot& s) {
  if (!enabled_) return;
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s", Line(s).c_str());
    drawn_ = true;
  } else if (s.elapsed_s - last_printed_s_ >= 10) {
    std::fprintf(out_, "%s\n", Line(s).c_str());
    last_printed_s_ = s.elapsed_s;
  }
  std::fflush(out_);
}

void Progress::Finish(const ProgressSnapshot& s) {
  if (!enabled_) return;
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s\n", Line(s).c_str());
  } else {
    std::fprintf(out_, "%s\n", Line(s).c_str());
  }
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace strata::loadtest
