#include "loadtest/report/result_json.h"

#include <cmath>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "base/read_file.h"

namespace strata::loadtest {

using json = nlohmann::json;

namespace {

// Rounded to `digits` decimals: millisecond figures keep microseconds.
double Round(double v, int digits = 3) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

json RoundedArray(const std::vector<double>& values, double factor, int digits) {
  json out = json::array();
  for (double v : values) out.push_back(Round(v * factor, digits));
  return out;
}

std::string IsoTime(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json RecordJson(const RequestRecord& r) {
  json j = {{"i", r.index},
            {"scheduled_s", Round(r.scheduled_s, 6)},
            {"start_s", Round(r.start_s, 6)},
            {"end_s", Round(r.end_s, 6)},
            {"e2e_ms", Round(r.e2e_s() * 1e3)},
            {"prompt_len", r.prompt_len},
            {"output_len", r.output_len}};
  j["ttft_ms"] = r.ttft_s ? json(Round(*r.ttft_s * 1e3)) : json(nullptr);
  const auto tpot = r.tpot_s();
  j["tpot_ms"] = tpot ? json(Round(*tpot * 1e3)) : json(nullptr);
  j["prompt_tokens"] = r.prompt_tokens ? json(*r.prompt_tokens) : json(nullptr);
  j["output_tokens"] = r.output_tokens();
  j["usage"] = r.completion_tokens.has_value();
  j["itl_ms"] = RoundedArray(r.itl_s, 1e3, 3);
  if (!r.chunk_tokens.empty()) j["chunk_tokens"] = r.chunk_tokens;
  if (!r.finish_reason.empty()) j["finish_reason"] = r.finish_reason;
  if (!r.ok()) {
    j["error"] = r.error_kind;
    j["error_message"] = r.error_message;
  }
  if (r.prefix_group >= 0) j["prefix_group"] = r.prefix_group;
  if (!r.session_id.empty()) j["session_id"] = r.session_id;
  return j;
}

}  // namespace

json SummaryJson(const Summary& s) {
  return {{"count", s.count},      {"mean", Round(s.mean)}, {"std", Round(s.stddev)},
          {"min", Round(s.min)},   {"max", Round(s.max)},   {"p50", Round(s.p50)},
          {"p90", Round(s.p90)},   {"p95", Round(s.p95)},   {"p99", Round(s.p99)},
          {"p99.9", Round(s.p999)}};
}

json DecodeStreamsJson(const DecodeStreamStats& s) {
  json j = {{"streams", s.streams},
            {"lead_in_s", s.lead_in_s},
            {"baseline_itl_ms", SummaryJson(s.baseline_itl_ms)},
            {"load_itl_ms", SummaryJson(s.load_itl_ms)},
            {"all_itl_ms", SummaryJson(s.all_itl_ms)},
            {"load_tokens", s.load_tokens},
            {"failed", s.failed}};
  if (s.failed > 0) j["first_error"] = s.first_error;
  j["itl_p99_over_baseline"] =
      s.itl_p99_over_baseline > 0 ? json(Round(s.itl_p99_over_baseline, 3)) : json(nullptr);
  if (s.lead_out_itl_ms.count > 0) {
    j["lead_out_itl_ms"] = SummaryJson(s.lead_out_itl_ms);
    j["baseline_context"] = Round(s.baseline_context, 1);
    j["lead_out_context"] = Round(s.lead_out_context, 1);
  }
  const bool matched = s.itl_p99_over_matched > 0;
  j["decode_only_ms_per_1k_context"] =
      matched ? json(Round(s.decode_only_ms_per_1k_context, 4)) : json(nullptr);
  j["matched_decode_only_ms"] = matched ? json(Round(s.matched_decode_only_ms, 3)) : json(nullptr);
  j["itl_p50_over_matched"] = matched ? json(Round(s.itl_p50_over_matched, 3)) : json(nullptr);
  j["itl_p99_over_matched"] = matched ? json(Round(s.itl_p99_over_matched, 3)) : json(nullptr);
  return j;
}

json ResultJson(const json& config, const RunOutput& output, const RunSummary& s) {
  json j = json::object();
  j["tool"] = "strata-loadtest";
  j["format_version"] = kResultFormatVersion;
  j["started_at"] = IsoTime(output.started_at);
  j["config"] = config;
  j["num_requests"] = static_cast<int64_t>(output.records.size()) + s.not_sent;
  j["completed"] = s.completed;
  j["failed"] = s.failed;
  j["not_sent"] = s.not_sent;
  j["deadline_reached"] = output.deadline_reached;
  j["errors"] = s.errors;
  j["usage_missing"] = s.usage_missing;
  j["duration_s"] = Round(s.duration_s, 6);
  j["total_input_tokens"] = s.total_input_tokens;
  j["total_output_tokens"] = s.total_output_tokens;
  j["request_throughput_req_s"] = Round(s.request_throughput, 4);
  j["input_throughput_tok_s"] = Round(s.input_throughput, 3);
  j["output_throughput_tok_s"] = Round(s.output_throughput, 3);
  j["total_throughput_tok_s"] = Round(s.total_throughput, 3);
  j["max_in_flight"] = s.max_in_flight;
  j["ttft_ms"] = SummaryJson(s.ttft_ms);
  j["tpot_ms"] = SummaryJson(s.tpot_ms);
  j["itl_ms"] = SummaryJson(s.itl_ms);
  j["e2e_ms"] = SummaryJson(s.e2e_ms);
  if (s.slo) {
    json slo = json::object();
    if (s.slo->ttft_s) slo["ttft_ms"] = *s.slo->ttft_s * 1e3;
    if (s.slo->tpot_s) slo["tpot_ms"] = *s.slo->tpot_s * 1e3;
    if (s.slo->e2e_s) slo["e2e_ms"] = *s.slo->e2e_s * 1e3;
    if (s.slo->itl_s) slo["itl_ms"] = *s.slo->itl_s * 1e3;
    j["slo"] = slo;
    j["good_requests"] = s.good;
    j["goodput_req_s"] = Round(s.goodput, 4);
    j["goodput_fraction"] = Round(s.goodput_fraction, 4);
  }
  // Warm-up requests: sent and awaited before the run, counted here only.
  int64_t w_ok = 0, w_failed = 0, w_in = 0, w_out = 0;
  for (const RequestRecord& r : output.warmup_records) {
    if (!r.ok()) {
      ++w_failed;
      continue;
    }
    ++w_ok;
    w_in += r.prompt_tokens ? *r.prompt_tokens : r.prompt_len;
    w_out += r.output_tokens();
  }
  j["warmup"] = {{"requests", static_cast<int64_t>(output.warmup_records.size())},
                 {"completed", w_ok},
                 {"failed", w_failed},
                 {"input_tokens", w_in},
                 {"output_tokens", w_out}};
  j["timeline"] = {{"bin_s", s.timeline.bin_s},
                   {"output_tok_s", RoundedArray(s.timeline.output_tok_s, 1, 3)},
                   {"completed_req_s", RoundedArray(s.timeline.completed_req_s, 1, 3)},
                   {"in_flight", RoundedArray(s.timeline.in_flight, 1, 3)}};
  json requests = json::array();
  for (const RequestRecord& r : output.records) requests.push_back(RecordJson(r));
  j["requests"] = std::move(requests);
  return j;
}

absl::StatusOr<json> ReadResultFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, size_t{2} << 30);
  if (!text.ok()) return text.status();
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("format_version") || !j.contains("ttft_ms") ||
      !j.contains("completed")) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a strata-loadtest result file"));
  }
  if (j["format_version"] != kResultFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": result format version ",
                                                   j["format_version"].dump(), ", expected ",
                                                   kResultFormatVersion));
  }
  return j;
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return absl::ErrnoToStatus(errno, tmp);
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) return absl::DataLossError(absl::StrCat(tmp, ": write failed"));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return absl::ErrnoToStatus(errno, path);
  return absl::OkStatus();
}

}  // namespace strata::loadtest
