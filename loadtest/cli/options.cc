#include "loadtest/cli/options.h"

#include <cmath>
#include <functional>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace strata::loadtest {

const char kUsage[] = R"(usage: strata-loadtest [run] [options]
       strata-loadtest compare RESULT.json RESULT.json... [--names A,B,...] [--html FILE]
       strata-loadtest report RESULT.json [--html FILE]

Sends a bounded, seeded load to an OpenAI-compatible server (or Strata's gRPC API) and
reports what each request saw on its stream.

Target:
  --base-url URL          http://HOST[:PORT][/v1] (default http://127.0.0.1:8000)
  --backend openai|grpc   protocol (default openai)
  --grpc-target HOST:PORT Strata gRPC address (default 127.0.0.1:50051)
  --endpoint completions|chat   OpenAI route (default completions)
  --model NAME            model name (default: the server's first model)
  --api-key KEY           bearer token (default: $OPENAI_API_KEY)
  --allow-remote          allow a target that is not a loopback address
  --no-ignore-eos         do not send ignore_eos (outputs may end early)
  --temperature T         sampling temperature (default: the server's)
  --extra-body JSON       object merged into every OpenAI request body

Workload:
  --num-requests N        measured requests (default 100; a trace: all of it)
  --input-len L           prompt tokens: N, uniform:MIN,MAX, normal:MEAN,SD, hist:FILE
  --output-len L          output tokens (max_tokens), same forms (default 128 each)
  --num-prefixes N        shared-prefix workload: N system prompts, request i uses i % N
  --prefix-len P          tokens of each shared prefix (input-len is then the rest)
  --trace FILE            replay a trace (JSONL, Azure CSV or BurstGPT CSV)
  --trace-format F        jsonl | azure | burstgpt (default: detected)
  --trace-model NAME      BurstGPT: only rows of this Model
  --max-input-len N       clamp prompt lengths (e.g. to fit the model's context)
  --max-output-len N      clamp output lengths
  --tokenizer DIR         model directory with tokenizer.json: prompts of exact length
  --prompt-format text|tokens   send prompts as text (default) or token ids
  --seed N                random seed of lengths, prompts and arrivals (default 0)
  --decode-streams N      background decode traffic: N streams start before the measured
                          requests and run until they end, each re-sent when it completes
  --decode-input-len L    their prompt tokens (default 128; forms as --input-len)
  --decode-output-len L   their output tokens (default 2048)
  --lead-in T             the streams alone before the first arrival; the second half
                          gives the decode-only inter-token baseline (default 5s)
  --lead-out T            the streams alone again after the measured phase (default 0):
                          the decode-only gap at the contexts they reached, so that each
                          gap under load is compared with decode-only at its own context

Arrivals and limits:
  --request-rate R        requests per second (default inf: all at once)
  --arrival KIND          all-at-once | constant | poisson | gamma | trace
                          (default: trace with --trace, else poisson with a rate)
  --burstiness B          gamma shape; 1 = Poisson, < 1 burstier (default 1)
  --time-scale F          multiply trace inter-arrival times by F (default 1)
  --max-concurrency N     requests in flight at most (default: no cap)
  --warmup-requests N     sent and awaited first, not measured (default 0)
  --max-duration T        stop the run after T (default 600s; units us, ms, s, m)
  --request-timeout T     one request's limit (default 300s)
  --metrics-url URL       Prometheus text scraped at the measured start and end, for the
                          server's counters (default: BASE-URL's /metrics; none: off)

Output:
  --result FILE.json      the result file
  --html FILE.html        the HTML report
  --label NAME            the run's name in reports (default: model @ target)
  --slo SPEC              objectives for goodput, e.g. ttft=200ms,tpot=20ms,e2e=5s,itl=50ms
  --progress auto|always|never  live progress on stderr (default auto: on a terminal)
  --quiet                 no summary on stdout
)";

namespace {

absl::StatusOr<double> ParseSeconds(const std::string& flag, const std::string& v) {
  double seconds;
  if (absl::SimpleAtod(v, &seconds)) {
    if (!(seconds > 0) || !std::isfinite(seconds)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": must be > 0, got '", v, "'"));
    }
    return seconds;
  }
  if (absl::EndsWith(v, "m") && !absl::EndsWith(v, "ms")) {
    double minutes;
    if (absl::SimpleAtod(v.substr(0, v.size() - 1), &minutes) && minutes > 0) return minutes * 60;
  }
  absl::StatusOr<double> d = ParseDuration(v);
  if (!d.ok() || !(*d > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected a duration such as 30s, 500ms or 10m, got '", v, "'"));
  }
  return *d;
}

template <typename T>
absl::Status ParseInt(const std::string& flag, const std::string& v, T min, T* out) {
  T n;
  if (!absl::SimpleAtoi(v, &n) || n < min) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected an integer >= ", min, ", got '", v, "'"));
  }
  *out = n;
  return absl::OkStatus();
}

absl::Status OneOf(const std::string& flag, const std::string& v,
                   std::initializer_list<const char*> allowed, std::string* out) {
  for (const char* a : allowed) {
    if (v == a) {
      *out = v;
      return absl::OkStatus();
    }
  }
  std::string list;
  for (const char* a : allowed) absl::StrAppend(&list, list.empty() ? "" : ", ", a);
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": expected one of ", list, ", got '", v, "'"));
}

}  // namespace

absl::StatusOr<RunOptions> ParseRunOptions(const std::vector<std::string>& args) {
  RunOptions o;
  using Setter = std::function<absl::Status(const std::string& flag, const std::string& v)>;
  const std::map<std::string, Setter> with_value = {
      {"--base-url",
       [&](auto&, auto& v) {
         o.base_url = v;
         return absl::OkStatus();
       }},
      {"--backend",
       [&](auto& f, auto& v) {
         return OneOf(f, v, {"openai", "grpc"}, &o.backend);
       }},
      {"--grpc-target",
       [&](auto&, auto& v) {
         o.grpc_target = v;
         return absl::OkStatus();
       }},
      {"--endpoint",
       [&](auto& f, auto& v) {
         return OneOf(f, v, {"completions", "chat"}, &o.endpoint);
       }},
      {"--model",
       [&](auto&, auto& v) {
         o.model = v;
         return absl::OkStatus();
       }},
      {"--api-key",
       [&](auto&, auto& v) {
         o.api_key = v;
         return absl::OkStatus();
       }},
      {"--temperature",
       [&](auto& f, auto& v) {
         double t;
         if (!absl::SimpleAtod(v, &t) || t < 0 || t > 2) {
           return absl::InvalidArgumentError(absl::StrCat(f, ": expected a number in [0, 2]"));
         }
         o.temperature = t;
         return absl::OkStatus();
       }},
      {"--extra-body",
       [&](auto& f, auto& v) {
         o.extra_body = nlohmann::json::parse(v, nullptr, false);
         if (!o.extra_body.is_object()) {
           return absl::InvalidArgumentError(absl::StrCat(f, ": expected a JSON object"));
         }
         return absl::OkStatus();
       }},
      {"--num-requests",
       [&](auto& f, auto& v) {
         int64_t n = 0;
         absl::Status s = ParseInt<int64_t>(f, v, 1, &n);
         if (s.ok() && n > 100'000'000)
           s = absl::InvalidArgumentError(absl::StrCat(f, ": at most 1e8"));
         if (s.ok()) o.num_requests = n;
         return s;
       }},
      {"--input-len",
       [&](auto&, auto& v) {
         absl::StatusOr<LengthDist> d = LengthDist::Parse(v);
         if (d.ok()) o.input_len = *d;
         return d.status();
       }},
      {"--output-len",
       [&](auto&, auto& v) {
         absl::StatusOr<LengthDist> d = LengthDist::Parse(v);
         if (d.ok()) o.output_len = *d;
         return d.status();
       }},
      {"--num-prefixes",
       [&](auto& f, auto& v) { return ParseInt<int32_t>(f, v, 1, &o.num_prefixes); }},
      {"--prefix-len", [&](auto& f, auto& v) { return ParseInt<int32_t>(f, v, 1, &o.prefix_len); }},
      {"--trace",
       [&](auto&, auto& v) {
         o.trace = v;
         return absl::OkStatus();
       }},
      {"--trace-format",
       [&](auto& f, auto& v) {
         return OneOf(f, v, {"jsonl", "azure", "burstgpt"}, &o.trace_format);
       }},
      {"--trace-model",
       [&](auto&, auto& v) {
         o.trace_model = v;
         return absl::OkStatus();
       }},
      {"--max-input-len",
       [&](auto& f, auto& v) { return ParseInt<int32_t>(f, v, 1, &o.max_input_len); }},
      {"--max-output-len",
       [&](auto& f, auto& v) { return ParseInt<int32_t>(f, v, 1, &o.max_output_len); }},
      {"--tokenizer",
       [&](auto&, auto& v) {
         o.tokenizer = v;
         return absl::OkStatus();
       }},
      {"--prompt-format",
       [&](auto& f, auto& v) {
         std::string format;
         absl::Status s = OneOf(f, v, {"text", "tokens"}, &format);
         o.token_id_prompts = format == "tokens";
         return s;
       }},
      {"--seed", [&](auto& f, auto& v) { return ParseInt<uint64_t>(f, v, 0, &o.seed); }},
      {"--decode-streams",
       [&](auto& f, auto& v) { return ParseInt<int32_t>(f, v, 1, &o.decode_streams); }},
      {"--decode-input-len",
       [&](auto&, auto& v) {
         absl::StatusOr<LengthDist> d = LengthDist::Parse(v);
         if (d.ok()) o.decode_input_len = *d;
         return d.status();
       }},
      {"--decode-output-len",
       [&](auto&, auto& v) {
         absl::StatusOr<LengthDist> d = LengthDist::Parse(v);
         if (d.ok()) o.decode_output_len = *d;
         return d.status();
       }},
      {"--lead-in",
       [&](auto& f, auto& v) {
         absl::StatusOr<double> s = ParseSeconds(f, v);
         if (s.ok()) o.lead_in_s = *s;
         return s.status();
       }},
      {"--lead-out",
       [&](auto& f, auto& v) {
         absl::StatusOr<double> s = ParseSeconds(f, v);
         if (s.ok()) o.lead_out_s = *s;
         return s.status();
       }},
      {"--metrics-url",
       [&](auto&, auto& v) {
         o.metrics_url = v;
         return absl::OkStatus();
       }},
      {"--request-rate",
       [&](auto& f, auto& v) {
         if (v == "inf") {
           o.request_rate = 0;
           return absl::OkStatus();
         }
         if (!absl::SimpleAtod(v, &o.request_rate) || !(o.request_rate > 0) ||
             !std::isfinite(o.request_rate)) {
           return absl::InvalidArgumentError(absl::StrCat(f, ": expected a rate > 0 or inf"));
         }
         return absl::OkStatus();
       }},
      {"--arrival",
       [&](auto& f, auto& v) {
         absl::StatusOr<ArrivalKind> k = ParseArrivalKind(v);
         if (k.ok()) o.arrival = v;
         return k.status();
       }},
      {"--burstiness",
       [&](auto& f, auto& v) {
         if (!absl::SimpleAtod(v, &o.burstiness) || !(o.burstiness > 0)) {
           return absl::InvalidArgumentError(absl::StrCat(f, ": expected a number > 0"));
         }
         return absl::OkStatus();
       }},
      {"--time-scale",
       [&](auto& f, auto& v) {
         if (!absl::SimpleAtod(v, &o.time_scale) || !(o.time_scale > 0)) {
           return absl::InvalidArgumentError(absl::StrCat(f, ": expected a number > 0"));
         }
         return absl::OkStatus();
       }},
      {"--max-concurrency",
       [&](auto& f, auto& v) { return ParseInt<int32_t>(f, v, 1, &o.max_concurrency); }},
      {"--warmup-requests",
       [&](auto& f, auto& v) { return ParseInt<int32_t>(f, v, 0, &o.warmup_requests); }},
      {"--max-duration",
       [&](auto& f, auto& v) {
         absl::StatusOr<double> s = ParseSeconds(f, v);
         if (s.ok()) o.max_duration_s = *s;
         return s.status();
       }},
      {"--request-timeout",
       [&](auto& f, auto& v) {
         absl::StatusOr<double> s = ParseSeconds(f, v);
         if (s.ok()) o.request_timeout_s = *s;
         return s.status();
       }},
      {"--result",
       [&](auto&, auto& v) {
         o.result_path = v;
         return absl::OkStatus();
       }},
      {"--html",
       [&](auto&, auto& v) {
         o.html_path = v;
         return absl::OkStatus();
       }},
      {"--label",
       [&](auto&, auto& v) {
         o.label = v;
         return absl::OkStatus();
       }},
      {"--slo",
       [&](auto&, auto& v) {
         absl::StatusOr<Slo> slo = ParseSlo(v);
         if (slo.ok()) o.slo = *slo;
         return slo.status();
       }},
      {"--progress",
       [&](auto& f, auto& v) {
         std::string mode;
         absl::Status s = OneOf(f, v, {"auto", "always", "never"}, &mode);
         o.progress = mode == "always"  ? Progress::Mode::kAlways
                      : mode == "never" ? Progress::Mode::kNever
                                        : Progress::Mode::kAuto;
         return s;
       }},
  };
  const std::map<std::string, std::function<void()>> switches = {
      {"--allow-remote", [&] { o.allow_remote = true; }},
      {"--no-ignore-eos", [&] { o.ignore_eos = false; }},
      {"--quiet", [&] { o.quiet = true; }},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> value;
    if (const size_t eq = flag.find('='); absl::StartsWith(flag, "--") && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    if (const auto s = switches.find(flag); s != switches.end() && !value) {
      s->second();
      continue;
    }
    const auto it = with_value.find(flag);
    if (it == with_value.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument '", args[i], "'"));
    }
    if (!value) {
      if (i + 1 >= args.size())
        return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
      value = args[++i];
    }
    absl::Status status = it->second(flag, *value);
    if (!status.ok()) return status;
  }
  if ((o.num_prefixes > 0) != (o.prefix_len > 0)) {
    return absl::InvalidArgumentError("--num-prefixes and --prefix-len go together");
  }
  if (!o.trace.empty() && o.num_prefixes > 0) {
    return absl::InvalidArgumentError("--num-prefixes does not apply to --trace replay");
  }
  if (o.lead_in_s && o.decode_streams == 0) {
    return absl::InvalidArgumentError("--lead-in needs --decode-streams");
  }
  if (o.lead_out_s > 0 && o.decode_streams == 0) {
    return absl::InvalidArgumentError("--lead-out needs --decode-streams");
  }
  if (o.backend == "grpc" && o.endpoint == "chat") {
    return absl::InvalidArgumentError("--endpoint chat is an OpenAI route; gRPC has Generate only");
  }
  if (o.token_id_prompts && o.endpoint == "chat") {
    return absl::InvalidArgumentError("--prompt-format tokens needs the completions endpoint");
  }
  return o;
}

absl::StatusOr<ArrivalOptions> ArrivalsOf(const RunOptions& o) {
  ArrivalOptions a;
  a.rate = o.request_rate;
  a.burstiness = o.burstiness;
  a.time_scale = o.time_scale;
  if (!o.arrival.empty()) {
    absl::StatusOr<ArrivalKind> kind = ParseArrivalKind(o.arrival);
    if (!kind.ok()) return kind.status();
    a.kind = *kind;
  } else if (!o.trace.empty() && o.request_rate == 0) {
    a.kind = ArrivalKind::kRecorded;
  } else if (o.request_rate > 0) {
    a.kind = o.burstiness == 1 ? ArrivalKind::kPoisson : ArrivalKind::kGamma;
  } else {
    a.kind = ArrivalKind::kAllAtOnce;
  }
  if (a.kind == ArrivalKind::kPoisson && o.burstiness != 1) a.kind = ArrivalKind::kGamma;
  if (a.kind == ArrivalKind::kRecorded && o.trace.empty()) {
    return absl::InvalidArgumentError("--arrival trace needs --trace");
  }
  return a;
}

}  // namespace strata::loadtest
