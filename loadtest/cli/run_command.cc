// `strata-loadtest run`: options -> workload -> arrivals -> client -> runner -> reports.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/asio/io_context.hpp"
#include "loadtest/cli/commands.h"
#include "loadtest/cli/options.h"
#include "loadtest/client/grpc_client.h"
#include "loadtest/client/http_client.h"
#include "loadtest/client/http_get.h"
#include "loadtest/metrics/decode_stats.h"
#include "loadtest/metrics/run_summary.h"
#include "loadtest/metrics/server_metrics.h"
#include "loadtest/report/html_report.h"
#include "loadtest/report/result_json.h"
#include "loadtest/report/text_summary.h"
#include "loadtest/run/decode_streams.h"
#include "loadtest/run/runner.h"
#include "loadtest/workload/arrivals.h"
#include "loadtest/workload/prompt_builder.h"
#include "loadtest/workload/trace.h"
#include "loadtest/workload/workload.h"

namespace strata::loadtest {
namespace {

using json = nlohmann::json;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "strata-loadtest: %s\n", std::string(status.message()).c_str());
  return 1;
}

// Many streams need many sockets: lift the soft descriptor limit to the hard one.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

json ConfigJson(const RunOptions& o, const ArrivalOptions& arrivals, const std::string& target,
                const std::string& model, bool exact_prompts, const std::vector<std::string>& args,
                int64_t num_requests) {
  json c = json::object();
  c["command"] = "strata-loadtest " + absl::StrJoin(args, " ");
  c["label"] = o.label;
  c["target"] = target;
  c["backend"] = o.backend;
  c["endpoint"] = o.backend == "grpc" ? "Generate" : o.endpoint;
  c["model"] = model;
  c["ignore_eos"] = o.ignore_eos;
  if (o.temperature) c["temperature"] = *o.temperature;
  c["num_requests"] = num_requests;
  c["warmup_requests"] = o.warmup_requests;
  if (o.trace.empty()) {
    c["input_len"] = o.input_len.spec();
    c["output_len"] = o.output_len.spec();
    if (o.num_prefixes > 0) {
      c["num_prefixes"] = o.num_prefixes;
      c["prefix_len"] = o.prefix_len;
    }
  } else {
    c["trace"] = o.trace;
    c["trace_format"] = o.trace_format;
  }
  if (o.max_input_len) c["max_input_len"] = o.max_input_len;
  if (o.max_output_len) c["max_output_len"] = o.max_output_len;
  c["tokenizer"] = o.tokenizer;
  c["exact_prompt_lengths"] = exact_prompts;
  c["prompt_format"] = o.token_id_prompts ? "tokens" : "text";
  c["seed"] = o.seed;
  c["arrival"] = ArrivalKindName(arrivals.kind);
  if (o.request_rate > 0) {
    c["request_rate"] = o.request_rate;
  } else {
    c["request_rate"] = "inf";
  }
  if (arrivals.kind == ArrivalKind::kGamma) c["burstiness"] = o.burstiness;
  if (arrivals.kind == ArrivalKind::kRecorded) c["time_scale"] = o.time_scale;
  c["max_concurrency"] = o.max_concurrency;
  c["max_duration_s"] = o.max_duration_s;
  c["request_timeout_s"] = o.request_timeout_s;
  if (o.slo) c["slo"] = o.slo->ToString();
  if (o.decode_streams > 0) {
    c["decode_streams"] = o.decode_streams;
    c["decode_input_len"] = o.decode_input_len.spec();
    c["decode_output_len"] = o.decode_output_len.spec();
    c["lead_in_s"] = o.lead_in_s.value_or(0);
    c["lead_out_s"] = o.lead_out_s;
  }
  return c;
}

// Fetches and parses Prometheus text from `url` (http://HOST:PORT/PATH).
absl::StatusOr<std::map<std::string, double>> ScrapeCounters(const std::string& url,
                                                             bool allow_remote) {
  absl::StatusOr<BaseUrl> parsed = ParseBaseUrl(url);
  if (!parsed.ok()) return parsed.status();
  boost::asio::io_context io;
  absl::StatusOr<std::vector<boost::asio::ip::tcp::endpoint>> resolved =
      ResolveEndpoints(io, *parsed, !allow_remote);
  if (!resolved.ok()) return resolved.status();
  const std::string path = parsed->path.empty() ? "/" : parsed->path;
  absl::StatusOr<HttpGetResult> got = HttpGet(*resolved, *parsed, path, "", 10);
  if (!got.ok()) return got.status();
  if (got->status != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", url, ": HTTP ", got->status));
  }
  return ParsePrometheusText(got->body);
}

// The server's counters over the measured phase: the deltas, or the scrape's error.
struct CounterScrapes {
  std::string url;  // empty: not scraped
  std::optional<absl::StatusOr<std::map<std::string, double>>> before, after;

  json Json() const {
    json j = json::object();
    j["url"] = url;
    for (const auto* s : {&before, &after}) {
      if (!s->has_value()) {
        j["error"] = "not scraped (the run ended before the measured phase)";
        return j;
      }
      if (!(*s)->ok()) {
        j["error"] = std::string((*s)->status().message());
        return j;
      }
    }
    j.update(ServerCountersJson(DiffServerCounters(**before, **after)));
    return j;
  }
};

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  absl::StatusOr<RunOptions> parsed = ParseRunOptions(args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "strata-loadtest: %s\n%s", std::string(parsed.status().message()).c_str(),
                 kUsage);
    return 2;
  }
  RunOptions o = *std::move(parsed);
  if (o.api_key.empty()) {
    if (const char* key = std::getenv("OPENAI_API_KEY")) o.api_key = key;
  }
  absl::StatusOr<ArrivalOptions> arrivals = ArrivalsOf(o);
  if (!arrivals.ok()) return Fail(arrivals.status());
  RaiseFileLimit();

  // Prompts.
  std::unique_ptr<PromptBuilder> builder;
  if (!o.tokenizer.empty()) {
    absl::StatusOr<std::unique_ptr<PromptBuilder>> loaded =
        PromptBuilder::FromTokenizerDir(o.tokenizer);
    if (!loaded.ok()) return Fail(loaded.status());
    builder = *std::move(loaded);
  } else {
    builder = PromptBuilder::Approximate();
    if (o.token_id_prompts) {
      return Fail(absl::InvalidArgumentError("--prompt-format tokens needs --tokenizer"));
    }
    std::fprintf(stderr,
                 "strata-loadtest: no --tokenizer: prompt lengths are approximate (the "
                 "server's usage figures are reported)\n");
  }
  PromptOptions prompt_options;
  prompt_options.token_ids = o.token_id_prompts;
  prompt_options.max_input_len = o.max_input_len;
  prompt_options.max_output_len = o.max_output_len;

  // Workload: the warm-up requests first, then the measured ones.
  std::vector<RequestSpec> all;
  if (!o.trace.empty()) {
    TraceFormat format;
    if (o.trace_format.empty()) {
      absl::StatusOr<TraceFormat> detected = DetectTraceFormat(o.trace);
      if (!detected.ok()) return Fail(detected.status());
      format = *detected;
      o.trace_format = format == TraceFormat::kJsonl   ? "jsonl"
                       : format == TraceFormat::kAzure ? "azure"
                                                       : "burstgpt";
    } else {
      format = *ParseTraceFormat(o.trace_format);
    }
    TraceImportOptions import_options;
    if (o.num_requests) import_options.max_records = *o.num_requests + o.warmup_requests;
    import_options.model_filter = o.trace_model;
    absl::StatusOr<TraceImport> imported = ImportTraceFile(o.trace, format, import_options);
    if (!imported.ok()) return Fail(imported.status());
    if (imported->skipped > 0) {
      std::fprintf(stderr, "strata-loadtest: %s: skipped %lld rows with zero tokens\n",
                   o.trace.c_str(), static_cast<long long>(imported->skipped));
    }
    all = BuildFromTrace(imported->records, *builder, prompt_options, o.seed);
  } else {
    SyntheticWorkload workload;
    workload.num_requests = o.num_requests.value_or(100) + o.warmup_requests;
    workload.input_len = o.input_len;
    workload.output_len = o.output_len;
    workload.num_prefixes = o.num_prefixes;
    workload.prefix_len = o.prefix_len;
    all = BuildSynthetic(workload, *builder, prompt_options, o.seed);
  }
  const size_t warm = std::min(all.size(), static_cast<size_t>(o.warmup_requests));
  std::vector<RequestSpec> warmup(all.begin(), all.begin() + warm);
  std::vector<RequestSpec> measured(all.begin() + warm, all.end());
  if (measured.empty()) return Fail(absl::InvalidArgumentError("no request to measure"));
  absl::StatusOr<std::vector<double>> offsets =
      ArrivalOffsets(*arrivals, measured.size(), measured, o.seed);
  if (!offsets.ok()) return Fail(offsets.status());
  if (arrivals->kind == ArrivalKind::kRecorded) {  // the measured part starts at 0
    const double first = offsets->front();
    for (double& t : *offsets) t -= first;
  }

  // Client.
  boost::asio::io_context io;
  std::unique_ptr<Client> client;
  std::string target, model = o.model;
  if (o.backend == "grpc") {
    absl::StatusOr<BaseUrl> hp = ParseHostPort(o.grpc_target);
    if (!hp.ok()) return Fail(hp.status());
    if (hp->port.empty()) hp->port = "50051";
    absl::StatusOr<std::vector<boost::asio::ip::tcp::endpoint>> resolved =
        ResolveEndpoints(io, *hp, !o.allow_remote);
    if (!resolved.ok()) return Fail(resolved.status());
    target = hp->Authority();
    GrpcClientOptions g;
    g.target = target;
    g.api_key = o.api_key;
    g.model = model;
    g.ignore_eos = o.ignore_eos;
    g.temperature = o.temperature;
    g.request_timeout_s = o.request_timeout_s;
    auto grpc_client = std::make_unique<StrataGrpcClient>(io, g);
    absl::StatusOr<std::string> served = grpc_client->ServedModel(10);
    if (!served.ok()) return Fail(served.status());
    if (model.empty()) model = *served;
    client = std::move(grpc_client);
    target = "grpc://" + target;
  } else {
    absl::StatusOr<BaseUrl> url = ParseBaseUrl(o.base_url);
    if (!url.ok()) return Fail(url.status());
    absl::StatusOr<std::vector<boost::asio::ip::tcp::endpoint>> resolved =
        ResolveEndpoints(io, *url, !o.allow_remote);
    if (!resolved.ok()) return Fail(resolved.status());
    if (model.empty()) {
      absl::StatusOr<std::string> served = FirstModelId(*resolved, *url, o.api_key, 10);
      if (!served.ok()) {
        return Fail(absl::UnavailableError(
            absl::StrCat(served.status().message(), " (name the model with --model)")));
      }
      model = *served;
    }
    HttpClientOptions h;
    h.url = *url;
    h.api_key = o.api_key;
    h.request.model = model;
    h.request.chat = o.endpoint == "chat";
    h.request.ignore_eos = o.ignore_eos;
    h.request.temperature = o.temperature;
    h.request.extra_body = o.extra_body;
    h.request_timeout_s = o.request_timeout_s;
    target = absl::StrCat("http://", url->Authority(), url->path);
    client = std::make_unique<OpenAiHttpClient>(io, *resolved, h);
  }
  if (o.label.empty()) o.label = absl::StrCat(model, " @ ", target);

  // Background decode streams: their own lengths and prompts (another seed).
  std::unique_ptr<DecodeStreams> decode_streams;
  if (o.decode_streams > 0) {
    if (!o.lead_in_s) o.lead_in_s = 5;
    SyntheticWorkload streams;
    streams.num_requests = o.decode_streams;
    streams.input_len = o.decode_input_len;
    streams.output_len = o.decode_output_len;
    std::vector<RequestSpec> specs =
        BuildSynthetic(streams, *builder, prompt_options, o.seed ^ 0xdecde5u);
    for (RequestSpec& spec : specs) spec.index = -1 - spec.index;  // apart from measured ones
    decode_streams = std::make_unique<DecodeStreams>(*client, std::move(specs));
  }

  // Server counters at the measured start and end.
  CounterScrapes scrapes;
  if (o.metrics_url != "none" && (o.backend != "grpc" || !o.metrics_url.empty())) {
    if (o.metrics_url.empty()) {
      absl::StatusOr<BaseUrl> url = ParseBaseUrl(o.base_url);
      scrapes.url = absl::StrCat("http://", url->Authority(), "/metrics");  // parsed above
    } else {
      scrapes.url = o.metrics_url;
    }
  }

  // Run.
  Progress progress(o.progress);
  RunnerOptions runner_options;
  runner_options.max_concurrency = o.max_concurrency;
  runner_options.max_duration_s = o.max_duration_s;
  runner_options.decode_streams = decode_streams.get();
  runner_options.lead_in_s = o.lead_in_s.value_or(0);
  runner_options.lead_out_s = o.lead_out_s;
  if (!scrapes.url.empty()) {
    runner_options.on_measured_start = [&] {
      scrapes.before = ScrapeCounters(scrapes.url, o.allow_remote);
    };
    runner_options.on_measured_end = [&] {
      scrapes.after = ScrapeCounters(scrapes.url, o.allow_remote);
    };
  }
  Runner runner(io, *client, runner_options, &progress);
  RunOutput output = runner.Run(warmup, measured, *offsets);
  client.reset();

  const RunSummary summary =
      SummarizeRun(output.records, output.not_sent, output.concurrency, o.slo);
  const json config = ConfigJson(o, *arrivals, target, model, builder->exact(), args,
                                 static_cast<int64_t>(measured.size()));
  json result = ResultJson(config, output, summary);
  if (!scrapes.url.empty()) {
    result["server_metrics"] = scrapes.Json();
    if (result["server_metrics"].contains("error")) {
      std::fprintf(stderr, "strata-loadtest: server metrics: %s\n",
                   result["server_metrics"]["error"].get<std::string>().c_str());
    }
  }
  if (decode_streams) {
    result["decode_streams"] = DecodeStreamsJson(
        SummarizeDecodeStreams(output.decode_records, output.records,
                               static_cast<int64_t>(decode_streams->size()),
                               runner_options.lead_in_s, output.measured_end_s));
  }
  if (!o.quiet) std::cout << TextSummary(result) << std::flush;
  if (!o.result_path.empty()) {
    absl::Status written = WriteTextFile(o.result_path, result.dump(1) + "\n");
    if (!written.ok()) return Fail(written);
  }
  if (!o.html_path.empty()) {
    absl::Status written = WriteTextFile(o.html_path, HtmlReport({result}, {o.label}));
    if (!written.ok()) return Fail(written);
  }
  return 0;
}

}  // namespace strata::loadtest
