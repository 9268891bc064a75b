#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "base/histogram.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/engine_metrics.h"
#include "server/metrics/engine_metrics_text.h"
#include "server/metrics/prometheus_text.h"
#include "worker/worker.h"

namespace strata::server {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Written by hand from the text format of version 0.0.4.
TEST(PrometheusTextTest, GoldenExposition) {
  PrometheusText text;
  text.Counter("app:requests_total", "Requests served.", 7, {{"code", "200"}});
  text.Gauge("app_temperature_celsius", "Temperature.", 21.5);
  text.Counter("app:requests_total", "Requests served.", 2, {{"code", "500"}});
  Histogram latency({0.125, 0.5, 2});
  for (double v : {0.0625, 0.125, 0.25, 4.0}) latency.Observe(v);
  text.Histogram("app_latency_seconds", "Latency.", latency, {{"path", "/v1"}});
  text.Gauge("app_ratio", "Ratio.", 0.25, {{"a", "x"}, {"b", "y"}});

  const std::string expected = R"(# HELP app:requests_total Requests served.
# TYPE app:requests_total counter
app:requests_total{code="200"} 7
app:requests_total{code="500"} 2
# HELP app_temperature_celsius Temperature.
# TYPE app_temperature_celsius gauge
app_temperature_celsius 21.5
# HELP app_latency_seconds Latency.
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{path="/v1",le="0.125"} 2
app_latency_seconds_bucket{path="/v1",le="0.5"} 3
app_latency_seconds_bucket{path="/v1",le="2"} 3
app_latency_seconds_bucket{path="/v1",le="+Inf"} 4
app_latency_seconds_sum{path="/v1"} 4.4375
app_latency_seconds_count{path="/v1"} 4
# HELP app_ratio Ratio.
# TYPE app_ratio gauge
app_ratio{a="x",b="y"} 0.25
)";
  EXPECT_EQ(text.Finish(), expected);
  EXPECT_EQ(text.Finish(), "");  // Finish() leaves the writer empty
}

TEST(PrometheusTextTest, FloatValues) {
  PrometheusText text;
  const double inf = std::numeric_limits<double>::infinity();
  text.Gauge("v", "Values.", std::nan(""), {{"k", "nan"}});
  text.Gauge("v", "Values.", inf, {{"k", "pinf"}});
  text.Gauge("v", "Values.", -inf, {{"k", "ninf"}});
  text.Gauge("v", "Values.", -3, {{"k", "neg"}});
  text.Gauge("v", "Values.", 0.1, {{"k", "tenth"}});
  text.Gauge("v", "Values.", 1e-05, {{"k", "small"}});
  text.Gauge("v", "Values.", 1e20, {{"k", "big"}});
  text.Gauge("v", "Values.", 123456789012, {{"k", "int"}});
  text.Gauge("v", "Values.", 0.1 + 0.2, {{"k", "sum"}});
  EXPECT_EQ(text.Finish(), R"(# HELP v Values.
# TYPE v gauge
v{k="nan"} NaN
v{k="pinf"} +Inf
v{k="ninf"} -Inf
v{k="neg"} -3
v{k="tenth"} 0.1
v{k="small"} 1e-05
v{k="big"} 1e+20
v{k="int"} 123456789012
v{k="sum"} 0.30000000000000004
)");
}

TEST(PrometheusTextTest, EscapesLabelValuesAndHelp) {
  PrometheusText text;
  // Label value: a \ b " c <line feed> d. Help: backslash and line feed escaped, quote kept.
  text.Gauge("escaped", "Path C:\\dir\nsecond \"line\".", 1, {{"v", "a\\b\"c\nd"}});
  EXPECT_EQ(text.Finish(), R"(# HELP escaped Path C:\\dir\nsecond "line".
# TYPE escaped gauge
escaped{v="a\\b\"c\nd"} 1
)");
}

TEST(PrometheusTextTest, HistogramBucketsAreCumulativeAndEndInInf) {
  PrometheusText text;
  Histogram empty({1, 10});
  text.Histogram("empty_seconds", "Nothing observed.", empty);
  Histogram h({1, 10});
  for (double v : {0.5, 1.0, 1.5, 10.0, 11.0, 1000.0}) h.Observe(v);
  text.Histogram("sizes_bytes", "Sizes.", h);
  EXPECT_EQ(text.Finish(), R"(# HELP empty_seconds Nothing observed.
# TYPE empty_seconds histogram
empty_seconds_bucket{le="1"} 0
empty_seconds_bucket{le="10"} 0
empty_seconds_bucket{le="+Inf"} 0
empty_seconds_sum 0
empty_seconds_count 0
# HELP sizes_bytes Sizes.
# TYPE sizes_bytes histogram
sizes_bytes_bucket{le="1"} 2
sizes_bytes_bucket{le="10"} 4
sizes_bytes_bucket{le="+Inf"} 6
sizes_bytes_sum 1024
sizes_bytes_count 6
)");
}

TEST(PrometheusTextTest, GroupsSamplesOfAFamilyUnderOneHeader) {
  PrometheusText text;
  text.Counter("done_total", "Done.", 1, {{"reason", "stop"}});
  text.Gauge("other", "Other.", 5);
  text.Counter("done_total", "Done.", 2, {{"reason", "length"}});
  Histogram h({1});
  text.Histogram("lat_seconds", "Latency.", h, {{"model", "a"}});
  text.Counter("done_total", "Done.", 3, {{"reason", "abort"}});
  text.Histogram("lat_seconds", "Latency.", h, {{"model", "b"}});
  EXPECT_EQ(text.Finish(), R"(# HELP done_total Done.
# TYPE done_total counter
done_total{reason="stop"} 1
done_total{reason="length"} 2
done_total{reason="abort"} 3
# HELP other Other.
# TYPE other gauge
other 5
# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{model="a",le="1"} 0
lat_seconds_bucket{model="a",le="+Inf"} 0
lat_seconds_sum{model="a"} 0
lat_seconds_count{model="a"} 0
lat_seconds_bucket{model="b",le="1"} 0
lat_seconds_bucket{model="b",le="+Inf"} 0
lat_seconds_sum{model="b"} 0
lat_seconds_count{model="b"} 0
)");
}

TEST(PrometheusTextDeathTest, RejectsBadNamesAndMisuse) {
  EXPECT_DEATH(PrometheusText().Gauge("", "h", 1), "invalid metric name");
  EXPECT_DEATH(PrometheusText().Gauge("1abc", "h", 1), "invalid metric name");
  EXPECT_DEATH(PrometheusText().Gauge("a-b", "h", 1), "invalid metric name");
  EXPECT_DEATH(PrometheusText().Gauge("a b", "h", 1), "invalid metric name");
  EXPECT_DEATH(PrometheusText().Gauge("ok", "h", 1, {{"a:b", "v"}}), "invalid label name");
  EXPECT_DEATH(PrometheusText().Gauge("ok", "h", 1, {{"9a", "v"}}), "invalid label name");
  EXPECT_DEATH(PrometheusText().Gauge("ok", "h", 1, {{"__name__", "v"}}), "invalid label name");
  EXPECT_DEATH(PrometheusText().Gauge("ok", "h", 1, {{"", "v"}}), "invalid label name");
  EXPECT_DEATH(PrometheusText().Gauge("ok", "h", 1, {{"a", "1"}, {"a", "2"}}),
               "repeated label name");
  EXPECT_DEATH(PrometheusText().Counter("requests", "h", 1), "must end in _total");
  EXPECT_DEATH(PrometheusText().Counter("requests_total", "h", -1), "has value");
  EXPECT_DEATH(PrometheusText().Histogram("h_seconds", "h", Histogram({1}), {{"le", "1"}}),
               "own le label");
  EXPECT_DEATH(PrometheusText().Histogram("h_seconds", "h", Histogram({1, 1})), "strictly ascend");
  EXPECT_DEATH(
      {
        PrometheusText text;
        text.Gauge("x", "h", 1);
        text.Counter("x_total", "h", 1);
        text.Gauge("x_total", "h", 1);
      },
      "two types");
  EXPECT_DEATH(
      {
        PrometheusText text;
        text.Gauge("x", "h", 1);
        text.Gauge("x", "other help", 1);
      },
      "two help texts");
  EXPECT_DEATH(
      {
        PrometheusText text;
        text.Gauge("x", "h", 1, {{"a", "1"}, {"b", "2"}});
        text.Gauge("x", "h", 2, {{"b", "2"}, {"a", "1"}});
      },
      "same labels");
  EXPECT_DEATH(
      {
        PrometheusText text;
        text.Gauge("lat_count", "h", 1);
        text.Histogram("lat", "h", Histogram({1}));
      },
      "clashes");
}

TEST(PrometheusTextTest, AcceptsColonsInMetricNames) {
  PrometheusText text;
  text.Gauge(":a:b_c9", "h", 1, {{"_x9", "v"}});
  EXPECT_EQ(text.Finish(), "# HELP :a:b_c9 h\n# TYPE :a:b_c9 gauge\n:a:b_c9{_x9=\"v\"} 1\n");
}

// A snapshot with every field set.
scheduler::EngineMetricsSnapshot PopulatedSnapshot() {
  scheduler::EngineMetricsSnapshot m;
  m.num_requests_running = 3;
  m.num_requests_waiting = 2;
  m.kv_cache_usage = 0.25;
  m.kv_blocks_total = 1024;
  m.kv_blocks_used = 256;
  m.prompt_tokens_total = 4000;
  m.generation_tokens_total = 900;
  m.num_preemptions_total = 1;
  m.iterations_total = 450;
  m.request_success_total = {{"stop", 8}, {"length", 2}};
  m.request_failure_total = 1;
  for (double v : {0.00390625, 0.03125, 0.25, 3000.0}) m.time_to_first_token_seconds.Observe(v);
  for (double v : {0.02, 0.02, 0.05, 0.3}) m.inter_token_latency_seconds.Observe(v);
  for (double v : {1.2, 4.0, 9000.0}) m.e2e_request_latency_seconds.Observe(v);
  for (double v : {0.0, 0.4}) m.request_queue_time_seconds.Observe(v);
  for (double v : {12, 500, 3000}) m.request_prompt_tokens.Observe(v);
  for (double v : {1, 64, 256}) m.request_generation_tokens.Observe(v);
  m.host_kv_cache_usage = 0.5;
  m.kv_blocks_by_state["device"] = {{"free", 700}, {"owned", 256}, {"cached", 68}};
  m.num_swap_preemptions_total = 1;
  m.moe_expert_weight_bytes_total = 4718592;
  m.kv.prefix_queries = 10;
  m.kv.prefix_hits = 4;
  m.kv.prefix_host_hits = 1;
  m.kv.blocks_swapped_out = 3;
  m.kv.blocks_swapped_in = 2;
  m.kv.blocks_demoted = 5;
  m.kv.blocks_dropped = 6;
  m.kv.cached_blocks_reclaimed = 7;
  m.kv.blocks_quantized = 9;
  m.kv.blocks_forked = 12;
  m.kv.blocks_copied_on_write = 3;
  return m;
}

worker::MemoryReport PopulatedMemory() {
  worker::MemoryReport memory;
  memory.weight_bytes = int64_t{1} << 30;
  memory.kv_cache_bytes = int64_t{3} << 29;
  memory.num_kv_blocks = 1024;
  memory.block_size = 16;
  return memory;
}

TEST(RenderEngineMetricsTest, FamiliesTypesAndOrder) {
  const std::string text = RenderEngineMetrics(PopulatedSnapshot(), PopulatedMemory(), "m");
  std::vector<std::string> types;
  for (const std::string& line : Lines(text)) {
    if (line.starts_with("# TYPE ")) types.push_back(line.substr(7));
  }
  const std::vector<std::string> expected = {
      "strata:num_requests_running gauge",
      "strata:num_requests_waiting gauge",
      "strata:kv_cache_usage_perc gauge",
      "strata:prompt_tokens_total counter",
      "strata:generation_tokens_total counter",
      "strata:num_preemptions_total counter",
      "strata:request_success_total counter",
      "strata:request_failure_total counter",
      "strata:iterations_total counter",
      "strata:num_swap_preemptions_total counter",
      "strata:moe_expert_weight_bytes_total counter",
      "strata:host_kv_cache_usage_perc gauge",
      "strata:kv_cache_blocks gauge",
      "strata:prefix_cache_queries_total counter",
      "strata:prefix_cache_hits_total counter",
      "strata:prefix_cache_host_hits_total counter",
      "strata:kv_swap_out_bytes_total counter",
      "strata:kv_swap_in_bytes_total counter",
      "strata:kv_blocks_demoted_total counter",
      "strata:kv_blocks_evicted_total counter",
      "strata:kv_blocks_quantized_total counter",
      "strata:kv_blocks_forked_total counter",
      "strata:kv_blocks_copied_on_write_total counter",
      "strata:time_to_first_token_seconds histogram",
      "strata:inter_token_latency_seconds histogram",
      "strata:e2e_request_latency_seconds histogram",
      "strata:request_queue_time_seconds histogram",
      "strata:request_prompt_tokens histogram",
      "strata:request_generation_tokens histogram",
      "strata:memory_weight_bytes gauge",
      "strata:memory_kv_cache_bytes gauge",
      "strata:kv_cache_blocks_capacity gauge",
      "strata:kv_cache_blocks_used gauge",
      "strata:kv_cache_block_size_tokens gauge",
      "strata:memory_host_kv_cache_bytes gauge",
      "strata:host_kv_cache_blocks_capacity gauge",
  };
  EXPECT_EQ(types, expected);
}

TEST(RenderEngineMetricsTest, ValuesAndModelNameOnEverySample) {
  const std::string text = RenderEngineMetrics(PopulatedSnapshot(), PopulatedMemory(), "m");
  int samples = 0;
  for (const std::string& line : Lines(text)) {
    if (line.starts_with("#")) continue;
    ++samples;
    EXPECT_THAT(line, HasSubstr("{model_name=\"m\""));
  }
  // 27 one-sample families, 3 request_success_total, 3 kv_cache_blocks and 2
  // kv_blocks_evicted_total samples, 6 histograms with their bounds + 1 buckets, _sum and
  // _count.
  const int buckets = 23 + 20 + 22 + 22 + 17 + 17;
  EXPECT_EQ(samples, 27 + 3 + 3 + 2 + buckets + 6 * 2);

  for (const char* line : {
           "strata:num_requests_running{model_name=\"m\"} 3\n",
           "strata:num_requests_waiting{model_name=\"m\"} 2\n",
           "strata:kv_cache_usage_perc{model_name=\"m\"} 0.25\n",
           "strata:prompt_tokens_total{model_name=\"m\"} 4000\n",
           "strata:generation_tokens_total{model_name=\"m\"} 900\n",
           "strata:num_preemptions_total{model_name=\"m\"} 1\n",
           "strata:request_success_total{model_name=\"m\",finished_reason=\"stop\"} 8\n"
           "strata:request_success_total{model_name=\"m\",finished_reason=\"length\"} 2\n"
           "strata:request_success_total{model_name=\"m\",finished_reason=\"abort\"} 0\n",
           "strata:request_failure_total{model_name=\"m\"} 1\n",
           "strata:iterations_total{model_name=\"m\"} 450\n",
           "strata:moe_expert_weight_bytes_total{model_name=\"m\"} 4718592\n",
           "strata:kv_cache_blocks{model_name=\"m\",tier=\"device\",state=\"cached\"} 68\n",
           "strata:prefix_cache_queries_total{model_name=\"m\"} 160\n",
           "strata:prefix_cache_hits_total{model_name=\"m\"} 64\n",
           "strata:kv_swap_out_bytes_total{model_name=\"m\"} 4718592\n",
           "strata:kv_blocks_evicted_total{model_name=\"m\",reason=\"budget\"} 6\n"
           "strata:kv_blocks_evicted_total{model_name=\"m\",reason=\"reclaimed\"} 7\n",
           "strata:kv_blocks_quantized_total{model_name=\"m\"} 9\n",
           "strata:kv_blocks_forked_total{model_name=\"m\"} 12\n",
           "strata:kv_blocks_copied_on_write_total{model_name=\"m\"} 3\n",
           "strata:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"0.001\"} 0\n"
           "strata:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"0.005\"} 1\n",
           "strata:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"2560\"} 3\n"
           "strata:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 4\n"
           "strata:time_to_first_token_seconds_sum{model_name=\"m\"} 3000.28515625\n"
           "strata:time_to_first_token_seconds_count{model_name=\"m\"} 4\n",
           "strata:request_queue_time_seconds_bucket{model_name=\"m\",le=\"0.3\"} 1\n"
           "strata:request_queue_time_seconds_bucket{model_name=\"m\",le=\"0.5\"} 2\n",
           "strata:request_generation_tokens_bucket{model_name=\"m\",le=\"100\"} 2\n",
           "strata:memory_weight_bytes{model_name=\"m\"} 1073741824\n",
           "strata:memory_kv_cache_bytes{model_name=\"m\"} 1610612736\n",
           "strata:kv_cache_blocks_capacity{model_name=\"m\"} 1024\n",
           "strata:kv_cache_blocks_used{model_name=\"m\"} 256\n",
           "strata:kv_cache_block_size_tokens{model_name=\"m\"} 16\n",
       }) {
    EXPECT_THAT(text, HasSubstr(line));
  }
}

TEST(RenderEngineMetricsTest, SuccessReasonsAlwaysPresentAndExtraReasonsFollow) {
  scheduler::EngineMetricsSnapshot m;
  m.request_success_total = {{"abort", 4}, {"zzz", 1}};
  const std::string text = RenderEngineMetrics(m, worker::MemoryReport{}, "m");
  EXPECT_THAT(
      text, HasSubstr("# TYPE strata:request_success_total counter\n"
                      "strata:request_success_total{model_name=\"m\",finished_reason=\"stop\"} 0\n"
                      "strata:request_success_total{model_name=\"m\",finished_reason=\"length\"} "
                      "0\n"
                      "strata:request_success_total{model_name=\"m\",finished_reason=\"abort\"} 4\n"
                      "strata:request_success_total{model_name=\"m\",finished_reason=\"zzz\"} 1\n"
                      "# HELP strata:request_failure_total "));
}

TEST(RenderEngineMetricsTest, EscapesModelName) {
  const std::string text =
      RenderEngineMetrics(PopulatedSnapshot(), PopulatedMemory(), "acme\\llama \"chat\"");
  EXPECT_THAT(text, HasSubstr("strata:num_requests_running{model_name=\"acme\\\\llama "
                              "\\\"chat\\\"\"} 3\n"));
}

// promtool (from the Debian `prometheus` package) parses and lints an exposition.
struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

bool HavePromtool() { return std::system("command -v promtool > /dev/null 2>&1") == 0; }

PromtoolResult RunPromtool(const std::string& exposition) {
  static int counter = 0;
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      ("metrics_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  const std::filesystem::path in = dir / "metrics.prom";
  const std::filesystem::path out = dir / "promtool.out";
  std::ofstream(in, std::ios::binary) << exposition;
  const std::string command =
      "promtool check metrics < '" + in.string() + "' > '" + out.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  PromtoolResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream read(out, std::ios::binary);
  result.output.assign(std::istreambuf_iterator<char>(read), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(dir);
  return result;
}

// The same exposition with the "strata:" prefix written "strata_" (the model name in these
// tests holds no "strata:").
std::string WithoutColons(std::string text) {
  for (size_t at = text.find("strata:"); at != std::string::npos; at = text.find("strata:", at)) {
    text[at + 6] = '_';
  }
  return text;
}

const char kModelName[] = "acme\\llama \"chat\"\nv2";

TEST(PromtoolTest, EngineMetricsPassPromtool) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  const std::string text = RenderEngineMetrics(PopulatedSnapshot(), PopulatedMemory(), kModelName);

  // Prometheus' lint reserves ':' for recording rules; the strata: prefix (vLLM's convention)
  // draws exactly one such complaint per family and nothing else.
  const PromtoolResult result = RunPromtool(text);
  std::vector<std::string> complaints = Lines(result.output);
  std::vector<std::string> expected;
  for (const std::string& line : Lines(text)) {
    if (line.starts_with("# TYPE ")) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      expected.push_back(name + " metric names should not contain ':'");
    }
  }
  std::sort(complaints.begin(), complaints.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(complaints, expected) << result.output;
  EXPECT_EQ(result.exit_code, 3) << result.output;  // lint findings only, no parse error

  // With the prefix written strata_, the exposition is clean: exit status 0, no output.
  const PromtoolResult clean = RunPromtool(WithoutColons(text));
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_EQ(clean.output, "");
}

TEST(PromtoolTest, PromtoolCatchesBrokenExpositions) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  const std::string text =
      WithoutColons(RenderEngineMetrics(PopulatedSnapshot(), PopulatedMemory(), kModelName));
  ASSERT_EQ(RunPromtool(text).exit_code, 0);

  // A second TYPE line for a family: a parse error.
  const std::string type_line = "# TYPE strata_num_requests_running gauge\n";
  const size_t at = text.find(type_line);
  ASSERT_NE(at, std::string::npos);
  std::string duplicated = text;
  duplicated.insert(at + type_line.size(), type_line);
  const PromtoolResult parse_error = RunPromtool(duplicated);
  EXPECT_NE(parse_error.exit_code, 0);
  EXPECT_THAT(parse_error.output, HasSubstr("TYPE"));

  // A lint finding: a counter without the _total suffix.
  const PromtoolResult lint = RunPromtool(text +
                                          "# HELP requests Requests.\n"
                                          "# TYPE requests counter\nrequests 1\n");
  EXPECT_NE(lint.exit_code, 0);
  EXPECT_THAT(lint.output, HasSubstr("requests counter metrics should have \"_total\" suffix"));
}

}  // namespace
}  // namespace strata::server
