// strata-loadtest against a real stratad on the CPU (a `tiny` model made by strata-mkmodel,
// the real Qwen3 tokenizer): request and token counts agree exactly with the daemon's
// /metrics counters, and the TTFT distribution agrees with the daemon's
// strata:time_to_first_token_seconds histogram within one bucket.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "boost/asio/io_context.hpp"
#include "loadtest/client/http_client.h"
#include "loadtest/client/http_get.h"
#include "nlohmann/json.hpp"

namespace strata::loadtest {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct Outcome {
  int exit_code;
  std::string output;
};

Outcome Shell(const std::string& command) {
  Outcome outcome{-1, ""};
  FILE* pipe = popen(("(" + command + ") 2>&1").c_str(), "r");
  if (pipe == nullptr) return outcome;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    outcome.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The figures of one /metrics scrape that the test compares.
struct Scrape {
  double success = 0, failure = 0, prompt_tokens = 0, generation_tokens = 0;
  std::vector<double> ttft_bounds;      // without +Inf
  std::vector<double> ttft_cumulative;  // per bound, then +Inf
};

Scrape Parse(const std::string& text) {
  Scrape s;
  static const std::regex line_re(R"(^([a-z_:]+)(\{[^}]*\})? ([0-9.eE+-]+|\+Inf|NaN)$)");
  static const std::regex le_re(R"re(le="([^"]+)")re");
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    const std::string name = m[1];
    const std::string labels = m[2];
    const double value = std::stod(m[3]);
    if (name == "strata:request_success_total") s.success += value;
    if (name == "strata:request_failure_total") s.failure += value;
    if (name == "strata:prompt_tokens_total") s.prompt_tokens += value;
    if (name == "strata:generation_tokens_total") s.generation_tokens += value;
    if (name == "strata:time_to_first_token_seconds_bucket") {
      std::smatch le;
      if (!std::regex_search(labels, le, le_re)) continue;
      if (le[1] != "+Inf") s.ttft_bounds.push_back(std::stod(le[1]));
      s.ttft_cumulative.push_back(value);
    }
  }
  return s;
}

class LoadtestE2eTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* bin = std::getenv("STRATA_BINARY_DIR");
    bin_ = new std::string(std::string(bin ? bin : "build") + "/bin");
    work_ = new fs::path(fs::temp_directory_path() /
                         ("strata-loadtest-e2e-" + std::to_string(getpid())));
    fs::create_directories(*work_);
    const std::string model = (*work_ / "model").string();
    Outcome made =
        Shell(*bin_ + "/strata-mkmodel --shape tiny --seed 1 --force --quiet --out " + model);
    ASSERT_EQ(made.exit_code, 0) << made.output;
    const std::string log = (*work_ / "stratad.log").string();
    pid_ = fork();
    if (pid_ == 0) {
      const std::string command =
          "exec " + *bin_ + "/stratad --config config/cpu-demo.yaml --set model.path=" + model +
          " --set model.served_name=lt-e2e --set server.http_port=0 --set server.grpc_port=0"
          " --set server.max_queued_requests=256 --set worker.num_threads=1 > " +
          log + " 2>&1";
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const std::regex ports_re(
        R"(OpenAI API on http://127\.0\.0\.1:(\d+)/v1, gRPC[^:]* on 127\.0\.0\.1:(\d+))");
    for (int i = 0; i < 600 && http_port_ == 0; ++i) {
      std::smatch m;
      const std::string text = ReadFile(log);
      if (std::regex_search(text, m, ports_re)) {
        http_port_ = std::stoi(m[1]);
        grpc_port_ = std::stoi(m[2]);
      }
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_NE(http_port_, 0) << "stratad did not start:\n" << ReadFile(log);
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    fs::remove_all(*work_);
  }

  static Scrape ScrapeMetrics() {
    boost::asio::io_context io;
    BaseUrl url = *ParseBaseUrl("http://127.0.0.1:" + std::to_string(http_port_));
    auto endpoints = ResolveEndpoints(io, url, true);
    EXPECT_TRUE(endpoints.ok());
    auto got = HttpGet(*endpoints, url, "/metrics", "", 10);
    EXPECT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->status, 200u);
    return Parse(got->body);
  }

  static std::string Loadtest(const std::string& args) {
    return *bin_ + "/strata-loadtest --progress never " + args;
  }
  static std::string Model() { return (*work_ / "model").string(); }
  static std::string Path(const std::string& name) { return (*work_ / name).string(); }

  static std::string* bin_;
  static fs::path* work_;
  static pid_t pid_;
  static int http_port_, grpc_port_;
};
std::string* LoadtestE2eTest::bin_ = nullptr;
fs::path* LoadtestE2eTest::work_ = nullptr;
pid_t LoadtestE2eTest::pid_ = 0;
int LoadtestE2eTest::http_port_ = 0;
int LoadtestE2eTest::grpc_port_ = 0;

// Every request got exactly the prompt and output lengths it asked for.
void ExpectExactLengths(const json& result) {
  for (const json& r : result["requests"]) {
    ASSERT_FALSE(r.contains("error")) << r.dump();
    EXPECT_EQ(r["prompt_tokens"], r["prompt_len"]) << r.dump();
    EXPECT_EQ(r["output_tokens"], r["output_len"]) << r.dump();
    EXPECT_TRUE(r["usage"].get<bool>());
  }
}

TEST_F(LoadtestE2eTest, HttpRunAgreesWithTheDaemonsCounters) {
  const Scrape before = ScrapeMetrics();
  const std::string result_path = Path("http.json");
  Outcome run = Shell(Loadtest(
      "--base-url http://127.0.0.1:" + std::to_string(http_port_) +
      " --model lt-e2e --num-requests 40 --input-len uniform:8,160 --output-len uniform:2,24"
      " --request-rate 25 --seed 5 --temperature 0 --tokenizer " +
      Model() + " --slo ttft=2s,tpot=1s --result " + result_path + " --html " + Path("http.html")));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const Scrape after = ScrapeMetrics();
  const json result = json::parse(ReadFile(result_path));

  // The issue's contract.
  EXPECT_EQ(result["completed"], 40);
  EXPECT_EQ(result["failed"], 0);
  for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}) {
    for (const char* stat : {"mean", "p50", "p90", "p99"}) {
      EXPECT_TRUE(result[key][stat].is_number()) << key << "." << stat;
    }
  }
  EXPECT_GT(result["output_throughput_tok_s"].get<double>(), 0);
  EXPECT_TRUE(result["config"]["exact_prompt_lengths"].get<bool>());
  ExpectExactLengths(result);

  // Counts agree exactly with the daemon's counters.
  EXPECT_EQ(after.success - before.success, result["completed"].get<double>());
  EXPECT_EQ(after.failure - before.failure, 0);
  EXPECT_EQ(after.prompt_tokens - before.prompt_tokens, result["total_input_tokens"].get<double>());
  EXPECT_EQ(after.generation_tokens - before.generation_tokens,
            result["total_output_tokens"].get<double>());

  // TTFT. Each request's client TTFT is its daemon TTFT plus a delay d >= 0: the HTTP
  // exchange, thread wake-ups on both sides, and one decode step when the first token's
  // text is held back (part of a UTF-8 character). If every d <= D, the k-th smallest client
  // TTFT lies between the k-th smallest daemon TTFT and that plus D; the daemon's histogram
  // gives the bucket of its k-th smallest. So: every client quantile falls in the daemon's
  // bucket for that quantile, or later by at most one bucket (or by kAllowance on this
  // shared machine, where wake-ups under load take tens of ms), and never more than one
  // bucket earlier.
  constexpr double kAllowance = 0.075;
  ASSERT_FALSE(after.ttft_bounds.empty());
  ASSERT_EQ(after.ttft_cumulative.size(), before.ttft_cumulative.size());
  const size_t n = after.ttft_cumulative.size();  // bounds + the +Inf bucket
  std::vector<double> bound(after.ttft_bounds);
  bound.push_back(std::numeric_limits<double>::infinity());
  std::vector<double> server(n);
  for (size_t i = 0; i < n; ++i) server[i] = after.ttft_cumulative[i] - before.ttft_cumulative[i];
  std::vector<double> client_ttft;
  for (const json& r : result["requests"]) client_ttft.push_back(r["ttft_ms"].get<double>() / 1e3);
  std::sort(client_ttft.begin(), client_ttft.end());
  ASSERT_EQ(server.back(), 40);
  ASSERT_EQ(client_ttft.size(), 40u);
  std::string table = "rank: client TTFT (s) -> client bucket / daemon bucket (upper bounds)\n";
  int failures = 0;
  for (size_t k = 0; k < client_ttft.size(); ++k) {
    size_t js = 0;  // the daemon's bucket of its (k+1)-th smallest TTFT
    while (server[js] < static_cast<double>(k + 1)) ++js;
    size_t jc = 0;  // the client's bucket
    while (client_ttft[k] > bound[jc]) ++jc;
    const bool early = jc + 1 < js;
    const bool late = jc > js + 1 && client_ttft[k] > bound[js] + kAllowance;
    failures += early || late;
    table += std::to_string(k + 1) + ": " + std::to_string(client_ttft[k]) + " -> " +
             std::to_string(bound[jc]) + " / " + std::to_string(bound[js]) +
             (early         ? "  EARLY"
              : late        ? "  LATE"
              : jc > js + 1 ? "  (within the allowance)"
                            : "") +
             "\n";
  }
  EXPECT_EQ(failures, 0) << table;
  std::printf("%s", table.c_str());

  EXPECT_NE(ReadFile(Path("http.html")).find("data-rendered"), std::string::npos);
}

TEST_F(LoadtestE2eTest, GrpcRunWithWarmupAndCapAgreesWithTheCounters) {
  const Scrape before = ScrapeMetrics();
  const std::string result_path = Path("grpc.json");
  Outcome run =
      Shell(Loadtest("--backend grpc --grpc-target 127.0.0.1:" + std::to_string(grpc_port_) +
                     " --num-requests 20 --warmup-requests 3 --max-concurrency 4 --input-len 32"
                     " --output-len 8 --prompt-format tokens --seed 2 --tokenizer " +
                     Model() + " --result " + result_path));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const Scrape after = ScrapeMetrics();
  const json result = json::parse(ReadFile(result_path));
  EXPECT_EQ(result["completed"], 20);
  EXPECT_EQ(result["warmup"]["completed"], 3);
  EXPECT_EQ(result["config"]["model"], "lt-e2e");  // asked with ListModels
  EXPECT_LE(result["max_in_flight"].get<int>(), 4);
  ExpectExactLengths(result);
  const json& warm = result["warmup"];
  EXPECT_EQ(after.success - before.success, 20 + warm["completed"].get<double>());
  EXPECT_EQ(after.prompt_tokens - before.prompt_tokens,
            result["total_input_tokens"].get<double>() + warm["input_tokens"].get<double>());
  EXPECT_EQ(after.generation_tokens - before.generation_tokens,
            result["total_output_tokens"].get<double>() + warm["output_tokens"].get<double>());
  EXPECT_EQ(result["total_input_tokens"], 20 * 32);
  EXPECT_EQ(result["total_output_tokens"], 20 * 8);
  // gRPC messages carry token ids: TPOT and ITL count real tokens.
  EXPECT_GT(result["itl_ms"]["count"].get<int>(), 0);
}

TEST_F(LoadtestE2eTest, TraceReplayAndSharedPrefixes) {
  const std::string trace = Path("trace.jsonl");
  {
    std::ofstream out(trace);
    for (int i = 0; i < 6; ++i) {
      out << json{{"arrival_s", 100 + 0.1 * i},
                  {"prompt_len", 20 + 10 * i},
                  {"output_len", 3 + i},
                  {"session_id", i % 2 ? "odd" : "even"}}
                 .dump()
          << "\n";
    }
  }
  const Scrape before = ScrapeMetrics();
  Outcome run = Shell(Loadtest("--base-url http://127.0.0.1:" + std::to_string(http_port_) +
                               " --trace " + trace + " --time-scale 0.5 --tokenizer " + Model() +
                               " --result " + Path("trace.json")));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  json result = json::parse(ReadFile(Path("trace.json")));
  EXPECT_EQ(result["completed"], 6);
  EXPECT_EQ(result["config"]["arrival"], "trace");
  EXPECT_EQ(result["config"]["trace_format"], "jsonl");
  ExpectExactLengths(result);
  EXPECT_NEAR(result["requests"][5]["scheduled_s"].get<double>(), 0.25, 1e-9);

  run = Shell(Loadtest("--base-url http://127.0.0.1:" + std::to_string(http_port_) +
                       " --num-requests 8 --num-prefixes 2 --prefix-len 64 --input-len 16"
                       " --output-len 4 --max-concurrency 2 --tokenizer " +
                       Model() + " --endpoint completions --result " + Path("prefix.json")));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  result = json::parse(ReadFile(Path("prefix.json")));
  EXPECT_EQ(result["completed"], 8);
  ExpectExactLengths(result);
  EXPECT_EQ(result["total_input_tokens"], 8 * 80);
  const Scrape after = ScrapeMetrics();
  EXPECT_EQ(after.success - before.success, 14);

  // Two result files side by side.
  run = Shell(*bin_ + "/strata-loadtest compare " + Path("trace.json") + " " + Path("prefix.json") +
              " --names trace,prefix --html " + Path("compare.html"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("| figure | trace | prefix |"), std::string::npos) << run.output;
  EXPECT_TRUE(fs::exists(Path("compare.html")));
}

TEST_F(LoadtestE2eTest, DecodeStreamsWithLeadInAndLeadOut) {
  const std::string result_path = Path("streams.json");
  Outcome run = Shell(Loadtest(
      "--base-url http://127.0.0.1:" + std::to_string(http_port_) +
      " --model lt-e2e --num-requests 3 --input-len 64 --output-len 4 --request-rate 4"
      " --seed 3 --temperature 0 --decode-streams 2 --decode-output-len 1800 --lead-in 1s"
      " --lead-out 1s --tokenizer " +
      Model() + " --result " + result_path));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json result = json::parse(ReadFile(result_path));
  EXPECT_EQ(result["completed"], 3);
  EXPECT_EQ(result["config"]["lead_out_s"], 1.0);
  const json& d = result["decode_streams"];
  ASSERT_EQ(d["failed"], 0) << d.dump();
  EXPECT_GT(d["baseline_itl_ms"]["count"].get<double>(), 0);
  EXPECT_GT(d["lead_out_itl_ms"]["count"].get<double>(), 0);
  // The streams kept decoding through the run: the lead-out is at longer contexts.
  EXPECT_GT(d["lead_out_context"].get<double>(), d["baseline_context"].get<double>());
  EXPECT_GT(d["matched_decode_only_ms"].get<double>(), 0);
  EXPECT_GT(d["itl_p99_over_matched"].get<double>(), 0);
  EXPECT_GE(d["itl_p99_over_matched"].get<double>(), d["itl_p50_over_matched"].get<double>());
  EXPECT_NE(run.output.find("ITL p99 / same-context:"), std::string::npos) << run.output;

  run = Shell(Loadtest("--base-url http://127.0.0.1:" + std::to_string(http_port_) +
                       " --model lt-e2e --num-requests 1 --lead-out 1s"));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("--lead-out needs --decode-streams"), std::string::npos) << run.output;
}

TEST_F(LoadtestE2eTest, RemoteTargetsNeedToBeAllowed) {
  Outcome run = Shell(Loadtest("--base-url http://192.0.2.1:8000 --model x --num-requests 1"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("not a loopback address; pass --allow-remote"), std::string::npos)
      << run.output;
  run = Shell(Loadtest("--num-requests 0"));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("--num-requests: expected an integer >= 1"), std::string::npos)
      << run.output;
}

TEST_F(LoadtestE2eTest, ServerErrorsAreCountedByKind) {
  // An unknown model is a 404 from the server for every request.
  Outcome run =
      Shell(Loadtest("--base-url http://127.0.0.1:" + std::to_string(http_port_) +
                     " --model no-such-model --num-requests 3 --input-len 8 --output-len 2"
                     " --result " +
                     Path("errors.json")));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json result = json::parse(ReadFile(Path("errors.json")));
  EXPECT_EQ(result["completed"], 0);
  EXPECT_EQ(result["failed"], 3);
  EXPECT_EQ(result["errors"]["http_404"], 3) << result["errors"].dump();
}

}  // namespace
}  // namespace strata::loadtest
