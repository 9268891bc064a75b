#include "loadtest/report/text_summary.h"

#include <string_view>

#include "absl/strings/str_format.h"

namespace strata::loadtest {

using json = nlohmann::json;

namespace {

double Num(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

std::string TextSummary(const json& r) {
  std::string out;
  const json& config = r.value("config", json::object());
  absl::StrAppendFormat(&out, "============ strata-loadtest result ============\n");
  if (config.contains("target")) {
    absl::StrAppendFormat(&out, "%-28s %s\n", "Target:", config["target"].get<std::string>());
  }
  if (config.contains("model")) {
    absl::StrAppendFormat(&out, "%-28s %s\n", "Model:", config["model"].get<std::string>());
  }
  absl::StrAppendFormat(&out, "%-28s %d\n", "Completed requests:", r.value("completed", 0));
  absl::StrAppendFormat(&out, "%-28s %d\n", "Failed requests:", r.value("failed", 0));
  if (r.value("not_sent", 0) > 0) {
    absl::StrAppendFormat(&out, "%-28s %d (time limit reached)\n",
                          "Not sent:", r.value("not_sent", 0));
  }
  if (r.contains("errors") && r["errors"].is_object()) {
    for (const auto& [kind, count] : r["errors"].items()) {
      absl::StrAppendFormat(&out, "  %-26s %d\n", kind + ":", count.get<int64_t>());
    }
  }
  absl::StrAppendFormat(&out, "%-28s %.3f\n", "Duration (s):", Num(r, "duration_s"));
  absl::StrAppendFormat(&out, "%-28s %d\n", "Input tokens:", r.value("total_input_tokens", 0));
  absl::StrAppendFormat(&out, "%-28s %d\n", "Output tokens:", r.value("total_output_tokens", 0));
  absl::StrAppendFormat(&out, "%-28s %.3f\n",
                        "Request throughput (req/s):", Num(r, "request_throughput_req_s"));
  absl::StrAppendFormat(&out, "%-28s %.2f\n",
                        "Output throughput (tok/s):", Num(r, "output_throughput_tok_s"));
  absl::StrAppendFormat(&out, "%-28s %.2f\n",
                        "Total throughput (tok/s):", Num(r, "total_throughput_tok_s"));
  absl::StrAppendFormat(&out, "%-28s %d\n", "Max requests in flight:", r.value("max_in_flight", 0));
  if (r.contains("slo")) {
    absl::StrAppendFormat(&out, "%-28s %.3f req/s (%d good, %.1f%%)\n",
                          "Goodput:", Num(r, "goodput_req_s"), r.value("good_requests", 0),
                          100 * Num(r, "goodput_fraction"));
  }
  absl::StrAppendFormat(&out, "%-8s %10s %10s %10s %10s %10s %10s\n", "(ms)", "mean", "p50", "p90",
                        "p99", "p99.9", "max");
  for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}) {
    if (!r.contains(key)) continue;
    const json& s = r[key];
    std::string name(key);
    name = name.substr(0, name.size() - 3);
    absl::StrAppendFormat(&out, "%-8s %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f\n", name,
                          Num(s, "mean"), Num(s, "p50"), Num(s, "p90"), Num(s, "p99"),
                          Num(s, "p99.9"), Num(s, "max"));
  }
  if (r.contains("decode_streams") && r["decode_streams"].is_object()) {
    const json& d = r["decode_streams"];
    absl::StrAppendFormat(&out, "Decode streams: %d, lead-in %.1f s\n", d.value("streams", 0),
                          Num(d, "lead_in_s"));
    for (const char* key : {"baseline_itl_ms", "load_itl_ms", "all_itl_ms", "lead_out_itl_ms"}) {
      if (!d.contains(key)) continue;
      const json& s = d[key];
      const char* name = std::string_view(key) == "baseline_itl_ms" ? "  decode-only"
                         : std::string_view(key) == "load_itl_ms"   ? "  under load"
                         : std::string_view(key) == "all_itl_ms"    ? "  all gaps"
                                                                    : "  lead-out";
      absl::StrAppendFormat(&out, "%-13s %5.0f gaps  p50 %9.3f  p99 %9.3f  max %9.3f ms\n", name,
                            Num(s, "count"), Num(s, "p50"), Num(s, "p99"), Num(s, "max"));
    }
    if (d.value("failed", 0) > 0) {
      absl::StrAppendFormat(&out, "  failed sends  %d (%s)\n", d.value("failed", 0),
                            d.value("first_error", std::string()));
    }
    if (d.contains("itl_p99_over_baseline") && d["itl_p99_over_baseline"].is_number()) {
      absl::StrAppendFormat(&out, "%-28s %.3f\n", "ITL p99 / decode-only p50:",
                            Num(d, "itl_p99_over_baseline"));
    }
    if (d.contains("itl_p99_over_matched") && d["itl_p99_over_matched"].is_number()) {
      absl::StrAppendFormat(&out, "%-28s %.3f (p50 %.3f; decode-only %.3f ms mid-load)\n",
                            "ITL p99 / same-context:", Num(d, "itl_p99_over_matched"),
                            Num(d, "itl_p50_over_matched"), Num(d, "matched_decode_only_ms"));
    }
  }
  if (r.contains("server_metrics") && r["server_metrics"].is_object()) {
    const json& m = r["server_metrics"];
    if (m.contains("error")) {
      absl::StrAppendFormat(&out, "%-28s %s\n", "Server metrics:",
                            m["error"].get<std::string>());
    } else {
      const json& per_token = m["expert_weight_bytes_per_token"];
      absl::StrAppendFormat(&out, "%-28s %s\n", "Expert bytes/gen. token:",
                            per_token.is_number()
                                ? absl::StrFormat("%.0f (%.0f bytes, %.0f tokens)",
                                                  per_token.get<double>(),
                                                  Num(m, "expert_weight_bytes"),
                                                  Num(m, "generation_tokens"))
                                : std::string("n/a"));
    }
  }
  absl::StrAppendFormat(&out, "================================================\n");
  return out;
}

}  // namespace strata::loadtest
