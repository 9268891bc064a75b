#include "loadtest/workload/trace.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "loadtest/workload/csv.h"
#include "nlohmann/json.hpp"

namespace strata::loadtest {
namespace {

using json = nlohmann::json;

absl::Status LineError(absl::string_view name, int64_t line_no, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(name, ":", line_no, ": ", why));
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool ParseFixed(absl::string_view text, size_t pos, size_t len, int* out) {
  if (pos + len > text.size()) return false;
  int value = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (!absl::ascii_isdigit(text[i])) return false;
    value = value * 10 + (text[i] - '0');
  }
  *out = value;
  return true;
}

// Column indexes by (lower-case, trimmed) header name.
struct Columns {
  std::vector<std::string> names;
  int Find(absl::string_view name) const {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
};

Columns ReadHeader(const std::string& line) {
  Columns columns;
  for (std::string& field : SplitCsvLine(line)) {
    std::string name(absl::StripAsciiWhitespace(field));
    if (absl::StartsWith(name, "\xEF\xBB\xBF")) name.erase(0, 3);  // a UTF-8 BOM
    columns.names.push_back(absl::AsciiStrToLower(name));
  }
  return columns;
}

bool ParseCount(absl::string_view text, int32_t* out) {
  double value;
  text = absl::StripAsciiWhitespace(text);
  if (!absl::SimpleAtod(text, &value) || value < 0 || value > 1e9 || value != std::floor(value)) {
    return false;
  }
  *out = static_cast<int32_t>(value);
  return true;
}

absl::Status ImportJsonl(std::istream& in, const TraceImportOptions& options,
                         absl::string_view name, TraceImport* out) {
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!obj.is_object()) return LineError(name, line_no, "expected a JSON object");
    TraceRecord r;
    const auto arrival = obj.find("arrival_s");
    if (arrival == obj.end() || !arrival->is_number()) {
      return LineError(name, line_no, "'arrival_s' (seconds, a number) is required");
    }
    r.arrival_s = arrival->get<double>();
    if (!std::isfinite(r.arrival_s)) return LineError(name, line_no, "'arrival_s' is not finite");
    if (const auto p = obj.find("prompt"); p != obj.end()) {
      if (!p->is_string()) return LineError(name, line_no, "'prompt' must be a string");
      r.prompt = p->get<std::string>();
    }
    if (const auto n = obj.find("prompt_len"); n != obj.end()) {
      if (!n->is_number_integer() || n->get<int64_t>() < 1 || n->get<int64_t>() > (1 << 30)) {
        return LineError(name, line_no, "'prompt_len' must be an integer >= 1");
      }
      r.prompt_len = n->get<int32_t>();
    }
    if (!r.prompt && r.prompt_len == 0) {
      return LineError(name, line_no, "'prompt' or 'prompt_len' is required");
    }
    const auto o = obj.find("output_len");
    if (o == obj.end() || !o->is_number_integer() || o->get<int64_t>() < 1 ||
        o->get<int64_t>() > (1 << 30)) {
      return LineError(name, line_no, "'output_len' (an integer >= 1) is required");
    }
    r.output_len = o->get<int32_t>();
    if (const auto s = obj.find("session_id"); s != obj.end()) {
      if (s->is_string()) {
        r.session_id = s->get<std::string>();
      } else if (s->is_number_integer()) {
        r.session_id = std::to_string(s->get<int64_t>());
      } else if (!s->is_null()) {
        return LineError(name, line_no, "'session_id' must be a string or an integer");
      }
    }
    out->records.push_back(std::move(r));
    if (options.max_records >= 0 &&
        static_cast<int64_t>(out->records.size()) >= options.max_records) {
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status ImportCsv(std::istream& in, TraceFormat format, const TraceImportOptions& options,
                       absl::string_view name, TraceImport* out) {
  std::string line;
  if (!std::getline(in, line)) return absl::InvalidArgumentError(absl::StrCat(name, ": empty"));
  const Columns columns = ReadHeader(line);
  int time_col, in_col, out_col, model_col = -1;
  if (format == TraceFormat::kAzure) {
    time_col = columns.Find("timestamp");
    in_col = columns.Find("contexttokens");
    out_col = columns.Find("generatedtokens");
    if (time_col < 0 || in_col < 0 || out_col < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name,
          ": not an Azure trace: expected the header TIMESTAMP,ContextTokens,GeneratedTokens"));
    }
  } else {
    time_col = columns.Find("timestamp");
    in_col = columns.Find("request tokens");
    out_col = columns.Find("response tokens");
    model_col = columns.Find("model");
    if (time_col < 0 || in_col < 0 || out_col < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name,
          ": not a BurstGPT trace: expected Timestamp, Request tokens and Response tokens "
          "columns"));
    }
  }
  const size_t needed = static_cast<size_t>(std::max({time_col, in_col, out_col, model_col})) + 1;
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const std::vector<std::string> fields = SplitCsvLine(line);
    if (fields.size() < needed) {
      return LineError(name, line_no, absl::StrCat("expected ", columns.names.size(), " fields"));
    }
    TraceRecord r;
    if (format == TraceFormat::kAzure) {
      std::optional<double> t = ParseDateTimeSeconds(absl::StripAsciiWhitespace(fields[time_col]));
      if (!t)
        return LineError(name, line_no, absl::StrCat("bad TIMESTAMP '", fields[time_col], "'"));
      r.arrival_s = *t;
    } else if (!absl::SimpleAtod(absl::StripAsciiWhitespace(fields[time_col]), &r.arrival_s) ||
               !std::isfinite(r.arrival_s)) {
      return LineError(name, line_no, absl::StrCat("bad Timestamp '", fields[time_col], "'"));
    }
    if (!ParseCount(fields[in_col], &r.prompt_len) || !ParseCount(fields[out_col], &r.output_len)) {
      return LineError(name, line_no, "token counts must be non-negative integers");
    }
    if (model_col >= 0 && !options.model_filter.empty() &&
        absl::StripAsciiWhitespace(fields[model_col]) != options.model_filter) {
      continue;  // filtered out, not counted as skipped
    }
    if (r.prompt_len == 0 || r.output_len == 0) {
      ++out->skipped;
      continue;
    }
    out->records.push_back(std::move(r));
    if (options.max_records >= 0 &&
        static_cast<int64_t>(out->records.size()) >= options.max_records) {
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<double> ParseDateTimeSeconds(absl::string_view text) {
  int year, month, day, hour, minute, second;
  if (text.size() < 19 || !ParseFixed(text, 0, 4, &year) || text[4] != '-' ||
      !ParseFixed(text, 5, 2, &month) || text[7] != '-' || !ParseFixed(text, 8, 2, &day) ||
      (text[10] != ' ' && text[10] != 'T') || !ParseFixed(text, 11, 2, &hour) || text[13] != ':' ||
      !ParseFixed(text, 14, 2, &minute) || text[16] != ':' || !ParseFixed(text, 17, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  double fraction = 0;
  size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    double scale = 0.1;
    ++pos;
    if (pos >= text.size() || !absl::ascii_isdigit(text[pos])) return std::nullopt;
    while (pos < text.size() && absl::ascii_isdigit(text[pos])) {
      fraction += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  // A trailing "Z" or "+00:00" is accepted; other offsets are not (traces are UTC).
  absl::string_view rest = text.substr(pos);
  if (!rest.empty() && rest != "Z" && rest != "+00:00") return std::nullopt;
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return static_cast<double>(days * 86400 + hour * 3600 + minute * 60 + second) + fraction;
}

absl::StatusOr<TraceFormat> ParseTraceFormat(absl::string_view name) {
  if (name == "jsonl") return TraceFormat::kJsonl;
  if (name == "azure") return TraceFormat::kAzure;
  if (name == "burstgpt") return TraceFormat::kBurstGpt;
  return absl::InvalidArgumentError(
      absl::StrCat("trace format '", name, "': expected jsonl, azure or burstgpt"));
}

absl::StatusOr<TraceFormat> DetectTraceFormat(const std::string& path) {
  if (absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".json")) return TraceFormat::kJsonl;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string line;
  std::getline(in, line);
  const Columns columns = ReadHeader(line);
  if (columns.Find("contexttokens") >= 0) return TraceFormat::kAzure;
  if (columns.Find("request tokens") >= 0) return TraceFormat::kBurstGpt;
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "{")) return TraceFormat::kJsonl;
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": unknown trace format; name it with --trace-format"));
}

absl::StatusOr<TraceImport> ImportTrace(std::istream& in, TraceFormat format,
                                        const TraceImportOptions& options, absl::string_view name) {
  TraceImport out;
  absl::Status status = format == TraceFormat::kJsonl ? ImportJsonl(in, options, name, &out)
                                                      : ImportCsv(in, format, options, name, &out);
  if (!status.ok()) return status;
  if (out.records.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": no requests"));
  }
  std::stable_sort(
      out.records.begin(), out.records.end(),
      [](const TraceRecord& a, const TraceRecord& b) { return a.arrival_s < b.arrival_s; });
  const double origin = out.records.front().arrival_s;
  for (TraceRecord& r : out.records) r.arrival_s -= origin;
  return out;
}

absl::StatusOr<TraceImport> ImportTraceFile(const std::string& path, TraceFormat format,
                                            const TraceImportOptions& options) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  return ImportTrace(in, format, options, path);
}

}  // namespace strata::loadtest
