// Leveled logging to stderr, one line per message with a UTC timestamp and the level:
//   STRATA_LOG(kInfo) << "listening on " << port;
// Thread-safe (each line is written with one call). Messages below the global level are
// neither formatted nor written.
#pragma once

#include <atomic>
#include <sstream>
#include <string_view>

#include "absl/status/statusor.h"

namespace strata {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// "debug" | "info" | "warning" | "error".
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);

namespace internal {

class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  ~LogLine();
  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace internal
}  // namespace strata

#define STRATA_LOG(level)                                    \
  if (::strata::LogLevel::level < ::strata::GetLogLevel()) { \
  } else                                                     \
    ::strata::internal::LogLine(::strata::LogLevel::level)
