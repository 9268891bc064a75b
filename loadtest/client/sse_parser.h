// Incremental parser of a text/event-stream body: feed bytes as they arrive, get each
// complete event's data (the "data:" lines of one event joined by '\n'). Comments and other
// fields are ignored. Accepts "\n", "\r\n" and "\r" line ends. Not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace strata::loadtest {

class SseParser {
 public:
  // Appends the data of every event completed by `bytes` to `events`.
  void Feed(std::string_view bytes, std::vector<std::string>* events);

 private:
  void Line(std::string_view line, std::vector<std::string>* events);
  std::string line_;
  std::string data_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
};

}  // namespace strata::loadtest
