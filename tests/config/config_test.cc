#include <cstdlib>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "config/config_fields.h"
#include "config/config_validate.h"
#include "config/strata_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMinimal[] = "model:\n  path: /models/m\n";

// Every field, for exact comparisons.
auto Tie(const StrataConfig& c) {
  return std::tie(
      c.server.host, c.server.http_port, c.server.grpc_port, c.server.api_key,
      c.server.max_request_body_bytes, c.server.max_queued_requests, c.server.http_threads,
      c.server.idle_timeout_seconds, c.server.shutdown_timeout_seconds, c.server.log_level,
      c.server.api_key_file, c.server.tls_cert_file, c.server.tls_key_file,
      c.server.tls_client_ca_file, c.server.header_timeout_seconds, c.server.body_timeout_seconds,
      c.model.path, c.model.served_name, c.model.tokenizer_path, c.model.max_model_len,
      c.model.random_weights, c.worker.backend, c.worker.num_threads, c.worker.device,
      c.worker.gpu_memory_utilization, c.worker.logits_chunk_tokens, c.cache.block_size,
      c.cache.device_blocks, c.cache.host_gib, c.cache.eviction_policy,
      c.cache.default_kv_budget_tokens, c.cache.streaming_sink_tokens, c.cache.prefix_caching,
      c.cache.heavy_hitter_recent_tokens, c.cache.adaptive_precision_sink_tokens,
      c.cache.adaptive_precision_recent_tokens, c.scheduler.max_num_seqs,
      c.scheduler.max_batch_tokens, c.scheduler.preemption, c.scheduler.prefill_mode,
      c.scheduler.layered_max_groups, c.scheduler.layered_group_table,
      c.scheduler.layered_cohort_tiers, c.scheduler.prefill_cost_context);
}

StrataConfig ParseOk(std::string_view yaml, const std::vector<std::string>& overrides = {}) {
  absl::StatusOr<StrataConfig> config = ParseConfig(yaml, "test.yaml", overrides);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : StrataConfig{};
}

// The message of an InvalidArgument error (fails the test on any other outcome).
std::string ParseError(std::string_view yaml, const std::vector<std::string>& overrides = {}) {
  absl::StatusOr<StrataConfig> config = ParseConfig(yaml, "test.yaml", overrides);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  return std::string(config.status().message());
}

std::string SourcePath(const std::string& relative) {
  const char* root = std::getenv("STRATA_SOURCE_DIR");
  return root != nullptr ? std::string(root) + "/" + relative : relative;
}

TEST(ConfigDefaults, EveryKeyButModelPathHasADefault) {
  StrataConfig config = ParseOk(kMinimal);
  StrataConfig expected;
  expected.model.path = "/models/m";
  EXPECT_EQ(Tie(config), Tie(expected));
  EXPECT_EQ(config.server.host, "127.0.0.1");
  EXPECT_EQ(config.server.http_port, 8000);
  EXPECT_EQ(config.server.grpc_port, 50051);
  EXPECT_EQ(config.server.max_request_body_bytes, 8 << 20);
  EXPECT_EQ(config.server.max_queued_requests, 1024);
  EXPECT_EQ(config.worker.backend, "cpu");
  EXPECT_DOUBLE_EQ(config.worker.gpu_memory_utilization, 0.9);
  EXPECT_EQ(config.worker.logits_chunk_tokens, 256);
  EXPECT_EQ(config.cache.block_size, 16);
  EXPECT_EQ(config.cache.eviction_policy, "none");
  EXPECT_FALSE(config.cache.prefix_caching);
  EXPECT_EQ(config.scheduler.max_num_seqs, 64);
  EXPECT_EQ(config.scheduler.max_batch_tokens, 4096);
  EXPECT_EQ(config.scheduler.preemption, "recompute");
  EXPECT_EQ(config.scheduler.prefill_mode, "chunked");
}

TEST(ConfigDefaults, EmptySectionsAreAllowed) {
  StrataConfig config = ParseOk("server:\ncache:\nmodel:\n  path: m\n");
  EXPECT_EQ(config.cache.block_size, 16);
}

TEST(ConfigRequired, MissingModelPath) {
  const std::string required =
      "model.path: required (set it in the config file or with --set model.path=DIR)";
  EXPECT_EQ(ParseError(""), required);
  EXPECT_EQ(ParseError("server:\n  http_port: 9000\n"), required);
  EXPECT_EQ(ParseError(kMinimal, {"model.path="}), required);
}

struct RuleCase {
  std::string override_text;
  std::string message;  // the whole expected error line
};

void PrintTo(const RuleCase& rule, std::ostream* os) { *os << rule.override_text; }

class ConfigValidation : public ::testing::TestWithParam<RuleCase> {};

TEST_P(ConfigValidation, NamesKeyPathAndReason) {
  EXPECT_EQ(ParseError(kMinimal, {GetParam().override_text}), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    EveryRule, ConfigValidation,
    ::testing::Values(
        RuleCase{"server.host=''", "server.host: must not be empty"},
        RuleCase{"server.http_port=-1", "server.http_port: must be in [0, 65535], got -1"},
        RuleCase{"server.http_port=65536", "server.http_port: must be in [0, 65535], got 65536"},
        RuleCase{"server.grpc_port=-1", "server.grpc_port: must be in [0, 65535], got -1"},
        RuleCase{"server.http_threads=0", "server.http_threads: must be >= 1, got 0"},
        RuleCase{"server.idle_timeout_seconds=0",
                 "server.idle_timeout_seconds: must be positive, got 0"},
        RuleCase{"server.shutdown_timeout_seconds=-1",
                 "server.shutdown_timeout_seconds: must be at least 0, got -1"},
        RuleCase{"server.log_level=loud",
                 "server.log_level: must be one of debug, info, warning, error, got \"loud\""},
        RuleCase{"server.grpc_port=8000",
                 "server.grpc_port: must differ from server.http_port, both are 8000"},
        RuleCase{"server.max_request_body_bytes=0",
                 "server.max_request_body_bytes: must be > 0, got 0"},
        RuleCase{"server.max_queued_requests=0", "server.max_queued_requests: must be >= 1, got 0"},
        RuleCase{"server.header_timeout_seconds=0",
                 "server.header_timeout_seconds: must be positive, got 0"},
        RuleCase{"server.body_timeout_seconds=-1",
                 "server.body_timeout_seconds: must be positive, got -1"},
        RuleCase{"server.tls_cert_file=/c.pem",
                 "server.tls_key_file: required when server.tls_cert_file is set"},
        RuleCase{"server.tls_key_file=/k.pem",
                 "server.tls_cert_file: required when server.tls_key_file is set"},
        RuleCase{"server.tls_client_ca_file=/ca.pem",
                 "server.tls_client_ca_file: mutual TLS needs server.tls_cert_file and "
                 "server.tls_key_file too"},
        RuleCase{"model.max_model_len=-1", "model.max_model_len: must be >= 0, got -1"},
        RuleCase{"model.random_weights=true",
                 "model.random_weights: only the cuda backend generates random weights"},
        RuleCase{"worker.backend=tpu", "worker.backend: must be one of cpu, cuda, got \"tpu\""},
        RuleCase{"worker.num_threads=-2", "worker.num_threads: must be >= 0, got -2"},
        RuleCase{"worker.device=-1", "worker.device: must be >= 0, got -1"},
        RuleCase{"worker.gpu_memory_utilization=0",
                 "worker.gpu_memory_utilization: must be in (0, 1], got 0"},
        RuleCase{"worker.gpu_memory_utilization=1.5",
                 "worker.gpu_memory_utilization: must be in (0, 1], got 1.5"},
        RuleCase{"worker.logits_chunk_tokens=0", "worker.logits_chunk_tokens: must be >= 1, got 0"},
        RuleCase{"cache.block_size=12",
                 "cache.block_size: must be a power of two in [8, 256], got 12"},
        RuleCase{"cache.block_size=4",
                 "cache.block_size: must be a power of two in [8, 256], got 4"},
        RuleCase{"cache.block_size=512",
                 "cache.block_size: must be a power of two in [8, 256], got 512"},
        RuleCase{"cache.device_blocks=-1", "cache.device_blocks: must be >= 0, got -1"},
        RuleCase{"cache.host_gib=-0.5", "cache.host_gib: must be >= 0, got -0.5"},
        RuleCase{"cache.eviction_policy=lru",
                 "cache.eviction_policy: must be one of none, streaming, heavy_hitter, "
                 "adaptive_precision, got \"lru\""},
        RuleCase{"cache.adaptive_precision_sink_tokens=-1",
                 "cache.adaptive_precision_sink_tokens: must be >= 0, got -1"},
        RuleCase{"cache.adaptive_precision_recent_tokens=-8",
                 "cache.adaptive_precision_recent_tokens: must be >= 0, got -8"},
        RuleCase{"cache.streaming_sink_tokens=-1",
                 "cache.streaming_sink_tokens: must be >= 0, got -1"},
        RuleCase{"cache.heavy_hitter_recent_tokens=-16",
                 "cache.heavy_hitter_recent_tokens: must be >= 0, got -16"},
        RuleCase{"cache.default_kv_budget_tokens=-1",
                 "cache.default_kv_budget_tokens: must be >= 0, got -1"},
        RuleCase{"scheduler.max_num_seqs=0", "scheduler.max_num_seqs: must be >= 1, got 0"},
        RuleCase{"scheduler.max_batch_tokens=0", "scheduler.max_batch_tokens: must be >= 1, got 0"},
        RuleCase{"scheduler.preemption=never",
                 "scheduler.preemption: must be one of swap, recompute, got \"never\""},
        RuleCase{"scheduler.prefill_mode=eager",
                 "scheduler.prefill_mode: must be one of whole, chunked, layered, got \"eager\""},
        RuleCase{"scheduler.layered_max_groups=0",
                 "scheduler.layered_max_groups: must be >= 1, got 0"},
        RuleCase{"scheduler.prefill_cost_context=-1",
                 "scheduler.prefill_cost_context: must be >= 0, got -1"},
        RuleCase{"scheduler.layered_group_table=512:1,256:2",
                 "scheduler.layered_group_table: entry \"256:2\": TOKENS must be strictly "
                 "ascending, got 512:1,256:2"},
        RuleCase{"scheduler.layered_group_table=512-1",
                 "scheduler.layered_group_table: entry \"512-1\" is not TOKENS:GROUPS (e.g. "
                 "512:1,1024:2), got 512-1"},
        RuleCase{"scheduler.layered_group_table=512:0",
                 "scheduler.layered_group_table: entry \"512:0\" needs TOKENS > 0 and GROUPS "
                 ">= 1, got 512:0"}));

TEST(ConfigValidation, AdaptivePrecisionOnEitherBackend) {
  // Both workers hold int8 KV blocks (the engine still refuses the policy on a worker that
  // reports none).
  for (const char* backend : {"worker.backend=cpu", "worker.backend=cuda"}) {
    EXPECT_EQ(ParseOk(kMinimal, {"cache.eviction_policy=adaptive_precision", backend})
                  .cache.eviction_policy,
              "adaptive_precision");
  }
}

TEST(ConfigValidationBounds, EdgesOfEachRangeAreAccepted) {
  for (const char* good : {"server.http_port=1", "server.http_port=65535", "cache.block_size=8",
                           "cache.block_size=256", "worker.gpu_memory_utilization=1",
                           "worker.gpu_memory_utilization=0.01", "cache.host_gib=0",
                           "server.max_queued_requests=1", "worker.num_threads=0"}) {
    SCOPED_TRACE(good);
    ParseOk(kMinimal, {good});
  }
  for (const char* policy : {"none", "streaming", "heavy_hitter", "adaptive_precision"}) {
    EXPECT_EQ(
        ParseOk(kMinimal, {std::string("cache.eviction_policy=") + policy}).cache.eviction_policy,
        policy);
  }
}

TEST(ConfigValidation, ReportsEveryErrorOnePerLine) {
  std::string message =
      ParseError("cache:\n  block_size: 12\n  host_gib: -1\nscheduler:\n  max_num_seqs: 0\n",
                 {"server.grpc_port=-2"});
  std::vector<std::string> lines = absl::StrSplit(message, '\n');
  EXPECT_THAT(
      lines, ::testing::ElementsAre("server.grpc_port: must be in [0, 65535], got -2",
                                    "model.path: required (set it in the config file or with --set "
                                    "model.path=DIR)",
                                    "cache.block_size: must be a power of two in [8, 256], got 12",
                                    "cache.host_gib: must be >= 0, got -1",
                                    "scheduler.max_num_seqs: must be >= 1, got 0"));
}

TEST(ConfigValidation, ValidateConfigOnAHandBuiltConfig) {
  StrataConfig config;
  config.model.path = "m";
  EXPECT_TRUE(ValidateConfig(config).ok());
  config.cache.block_size = 24;
  EXPECT_EQ(ValidateConfig(config).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigUnknown, KeySuggestsTheClosestOne) {
  EXPECT_EQ(ParseError("model:\n  path: m\ncache:\n  blok_size: 16\n"),
            "test.yaml:4:3: cache.blok_size: unknown key (did you mean cache.block_size?)");
}

TEST(ConfigUnknown, KeyInTheWrongSectionSuggestsItsHome) {
  EXPECT_THAT(ParseError("model:\n  path: m\nscheduler:\n  block_size: 16\n"),
              HasSubstr("scheduler.block_size: unknown key (did you mean cache.block_size?)"));
}

TEST(ConfigUnknown, FarFromAnyKeyHasNoSuggestion) {
  std::string message = ParseError("model:\n  path: m\ncache:\n  colour: blue\n");
  EXPECT_EQ(message, "test.yaml:4:3: cache.colour: unknown key");
}

TEST(ConfigUnknown, Section) {
  EXPECT_EQ(ParseError("model:\n  path: m\ncahce:\n  block_size: 16\n"),
            "test.yaml:3:1: cahce: unknown section (did you mean cache?)");
  EXPECT_EQ(ParseError("model:\n  path: m\nlogging:\n  level: 1\n"),
            "test.yaml:3:1: logging: unknown section");
}

TEST(ConfigUnknown, AllProblemsAreReported) {
  std::string message = ParseError("cache:\n  blok_size: 16\n  prefix_cache: true\n");
  EXPECT_THAT(message, HasSubstr("cache.blok_size"));
  EXPECT_THAT(message, HasSubstr("cache.prefix_cache: unknown key (did you mean "
                                 "cache.prefix_caching?)"));
}

TEST(ConfigTypes, WrongTypeNamesPathTypeAndValue) {
  EXPECT_EQ(ParseError("model:\n  path: m\nserver:\n  http_port: eighty\n"),
            "test.yaml:4:14: server.http_port: expected an integer, got \"eighty\"");
  EXPECT_THAT(ParseError("model:\n  path: m\nserver:\n  http_port: 80.5\n"),
              HasSubstr("server.http_port: expected an integer, got \"80.5\""));
  EXPECT_THAT(ParseError("model:\n  path: m\nserver:\n  http_port: \"8000\"\n"),
              HasSubstr("server.http_port: expected an integer, got \"8000\""));
  EXPECT_THAT(ParseError("model:\n  path: m\ncache:\n  prefix_caching: maybe\n"),
              HasSubstr("cache.prefix_caching: expected a boolean (true or false), got \"maybe\""));
  EXPECT_THAT(ParseError("model:\n  path: m\nworker:\n  gpu_memory_utilization: high\n"),
              HasSubstr("worker.gpu_memory_utilization: expected a number, got \"high\""));
  EXPECT_THAT(ParseError("model:\n  path: m\nserver:\n  host: [a, b]\n"),
              HasSubstr("server.host: expected a string, got a sequence"));
  EXPECT_THAT(ParseError("model:\n  path: m\nscheduler:\n  max_num_seqs:\n"),
              HasSubstr("scheduler.max_num_seqs: expected an integer, got null"));
  EXPECT_THAT(ParseError("model:\n  path: m\nserver:\n  http_port: 99999999999\n"),
              HasSubstr("server.http_port: expected an integer in [-2147483648, 2147483647], "
                        "got \"99999999999\""));
}

TEST(ConfigTypes, SectionAndDocumentMustBeMaps) {
  EXPECT_EQ(ParseError("model:\n  path: m\ncache: 5\n"),
            "test.yaml:3:8: cache: expected a map of keys, got \"5\"");
  EXPECT_THAT(ParseError("- a\n- b\n"), HasSubstr("test.yaml:1:1: expected a map of sections"));
}

TEST(ConfigTypes, Int64KeysTakeLargeValues) {
  StrataConfig config = ParseOk("model:\n  path: m\ncache:\n  device_blocks: 10000000000\n");
  EXPECT_EQ(config.cache.device_blocks, 10000000000);
}

TEST(ConfigSyntax, InvalidYamlNamesSourceAndLine) {
  std::string message = ParseError("model:\n  path: m\nserver: [1, 2\n");
  EXPECT_THAT(message, HasSubstr("test.yaml:"));
  EXPECT_THAT(message, HasSubstr("invalid YAML"));
}

TEST(ConfigSyntax, DuplicateKey) {
  EXPECT_THAT(ParseError("model:\n  path: m\n  path: n\n"),
              HasSubstr("test.yaml:3:3: model.path: duplicate key"));
}

TEST(ConfigOverrides, SetPortsAndModelPath) {
  StrataConfig config =
      ParseOk("", {"model.path=/srv/llama", "server.http_port=9000", "server.grpc_port=9001"});
  EXPECT_EQ(config.model.path, "/srv/llama");
  EXPECT_EQ(config.server.http_port, 9000);
  EXPECT_EQ(config.server.grpc_port, 9001);
}

TEST(ConfigOverrides, EachTypeIsParsed) {
  StrataConfig config = ParseOk(
      kMinimal, {"worker.gpu_memory_utilization=0.5", "cache.prefix_caching=true",
                 "cache.device_blocks=20000000000", "server.api_key='a key: with # signs'",
                 "scheduler.preemption=swap", "cache.host_gib=1.25", " worker.device = 3"});
  EXPECT_DOUBLE_EQ(config.worker.gpu_memory_utilization, 0.5);
  EXPECT_TRUE(config.cache.prefix_caching);
  EXPECT_EQ(config.cache.device_blocks, 20000000000);
  EXPECT_EQ(config.server.api_key, "a key: with # signs");
  EXPECT_EQ(config.scheduler.preemption, "swap");
  EXPECT_DOUBLE_EQ(config.cache.host_gib, 1.25);
  EXPECT_EQ(config.worker.device, 3);
}

TEST(ConfigOverrides, OverrideTheFileAndLaterOverridesWin) {
  StrataConfig config = ParseOk("model:\n  path: m\ncache:\n  block_size: 32\n",
                                {"cache.block_size=64", "cache.block_size=128"});
  EXPECT_EQ(config.cache.block_size, 128);
}

TEST(ConfigOverrides, WrongType) {
  EXPECT_EQ(ParseError(kMinimal, {"server.http_port=abc"}),
            "--set server.http_port=abc: server.http_port: expected an integer, got \"abc\"");
  EXPECT_THAT(ParseError(kMinimal, {"cache.prefix_caching=2"}),
              HasSubstr("cache.prefix_caching: expected a boolean (true or false), got \"2\""));
  EXPECT_THAT(ParseError(kMinimal, {"server.host={a: 1}"}),
              HasSubstr("server.host: expected a string, got a map"));
}

TEST(ConfigOverrides, UnknownPath) {
  EXPECT_EQ(ParseError(kMinimal, {"cache.blok_size=16"}),
            "--set cache.blok_size=16: cache.blok_size: unknown key (did you mean "
            "cache.block_size?)");
  EXPECT_EQ(ParseError(kMinimal, {"cache=16"}), "--set cache=16: cache: unknown key");
  EXPECT_EQ(ParseError(kMinimal, {"block_size=16"}),
            "--set block_size=16: block_size: unknown key (did you mean cache.block_size?)");
  EXPECT_THAT(ParseError(kMinimal, {"nothing.here=1"}),
              AllOf(HasSubstr("nothing.here: unknown key"), Not(HasSubstr("did you mean"))));
}

TEST(ConfigOverrides, Malformed) {
  EXPECT_EQ(ParseError(kMinimal, {"cache.block_size"}),
            "--set cache.block_size: malformed override, expected key.path=value");
  EXPECT_THAT(ParseError(kMinimal, {"=16"}), HasSubstr("--set =16: malformed override"));
  EXPECT_THAT(ParseError(kMinimal, {"server.host=[1,"}),
              HasSubstr("--set server.host=[1,: server.host: invalid YAML value"));
}

TEST(ConfigLoad, FileNotFound) {
  absl::StatusOr<StrataConfig> config = LoadConfig("/nonexistent/strata.yaml", {});
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/strata.yaml"));
}

TEST(ConfigLoad, NoFileMeansDefaultsPlusOverrides) {
  absl::StatusOr<StrataConfig> config = LoadConfig("", {"model.path=m"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model.path, "m");
  EXPECT_EQ(LoadConfig("", {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigLoad, ErrorsNameTheFile) {
  const std::string path = ::testing::TempDir() + "/config_test_bad.yaml";
  std::ofstream(path) << "model:\n  path: m\nworker:\n  backend: cuda\n  num_thread: 4\n";
  absl::StatusOr<StrataConfig> config = LoadConfig(path, {});
  EXPECT_EQ(config.status().message(),
            path + ":5:3: worker.num_thread: unknown key (did you mean worker.num_threads?)");
}

TEST(ConfigExamples, CpuDemoLoads) {
  absl::StatusOr<StrataConfig> config = LoadConfig(SourcePath("config/cpu-demo.yaml"), {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->worker.backend, "cpu");
  EXPECT_EQ(config->model.path, "models/qwen3-demo");
}

TEST(ConfigExamples, H100Llama3Loads) {
  absl::StatusOr<StrataConfig> config =
      LoadConfig(SourcePath("config/h100-llama3-8b.yaml"), {"model.path=/elsewhere"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->worker.backend, "cuda");
  EXPECT_EQ(config->model.path, "/elsewhere");
  EXPECT_EQ(config->cache.block_size, 16);
  EXPECT_DOUBLE_EQ(config->worker.gpu_memory_utilization, 0.9);
  EXPECT_EQ(config->scheduler.max_num_seqs, 256);
  EXPECT_EQ(config->scheduler.max_batch_tokens, 8192);
  EXPECT_TRUE(config->cache.prefix_caching);
}

TEST(ConfigYaml, DefaultsRoundTrip) {
  StrataConfig config = ParseOk(kMinimal);
  std::string yaml = ToYaml(config);
  StrataConfig back = ParseOk(yaml);
  EXPECT_EQ(Tie(back), Tie(config)) << yaml;
}

TEST(ConfigYaml, EveryFieldRoundTrips) {
  StrataConfig config;
  config.server = {"0.0.0.0", 8080,         9090, "k\"ey: #1 \\ 'x'",
                   12345,     7,            3,    12.5,              0.25,       "debug"};
  config.server.api_key_file = "/etc/strata/keys";
  config.server.tls_cert_file = "/etc/strata/cert.pem";
  config.server.tls_key_file = "/etc/strata/key.pem";
  config.server.tls_client_ca_file = "/etc/strata/ca.pem";
  config.server.header_timeout_seconds = 2.5;
  config.server.body_timeout_seconds = 7;
  config.model = {"/models/My Model", "true", "123", 4096, true};
  config.worker = {"cuda", 3, 2, 0.1 + 0.2, 33};
  config.cache = {32, 10000000000, 0.3, "streaming", 777, 9, true};
  config.cache.heavy_hitter_recent_tokens = 48;
  config.cache.adaptive_precision_sink_tokens = 17;
  config.cache.adaptive_precision_recent_tokens = 96;
  config.scheduler = {5, 999, "swap", "layered", 8, "100:1,300:4"};
  ASSERT_TRUE(ValidateConfig(config).ok());
  std::string yaml = ToYaml(config);
  StrataConfig back = ParseOk(yaml);
  EXPECT_EQ(Tie(back), Tie(config)) << yaml;
  EXPECT_EQ(ToYaml(back), yaml);
  EXPECT_THAT(yaml, HasSubstr("block_size: 32"));
}

TEST(ConfigReadme, DocumentsEveryKey) {
  std::ifstream in(SourcePath("config/README.md"));
  ASSERT_TRUE(in) << "config/README.md";
  std::stringstream text;
  text << in.rdbuf();
  for (const Field& field : Fields()) {
    EXPECT_THAT(text.str(), HasSubstr("`" + std::string(field.path) + "`"));
  }
}

}  // namespace
}  // namespace strata::config
