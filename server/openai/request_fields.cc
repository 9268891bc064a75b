#include "server/openai/request_fields.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace strata::server::openai::internal {
namespace {

using json = nlohmann::ordered_json;

ApiError TypeError(const std::string& key, const char* expected, const json& got) {
  return InvalidRequest(key, absl::StrCat("Invalid type for '", key, "': expected ", expected,
                                          ", but got ", KindName(got), " instead."));
}

std::string RangeText(double min, double max, bool min_exclusive) {
  return absl::StrCat(min_exclusive ? "(" : "[", min, ", ", max, "]");
}

// The integer value of `v` if it is an integer, or a float with an integral value.
std::optional<long double> IntegralValue(const json& v) {
  if (v.is_number_integer()) {
    return v.is_number_unsigned() ? static_cast<long double>(v.get<uint64_t>())
                                  : static_cast<long double>(v.get<int64_t>());
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d) return static_cast<long double>(d);
  }
  return std::nullopt;
}

}  // namespace

std::string KindName(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

std::string Preview(const json& value) {
  std::string text = value.is_string() ? value.get<std::string>() : DumpJson(value);
  if (text.size() > 64) text = text.substr(0, 61) + "...";
  return text;
}

const json* FieldReader::Find(const char* key) const {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool FieldReader::Bool(const char* key, bool* out) {
  const json* v = Find(key);
  if (v == nullptr) return true;
  if (!v->is_boolean()) {
    Fail(TypeError(key, "a boolean", *v));
    return false;
  }
  *out = v->get<bool>();
  return true;
}

bool FieldReader::String(const char* key, std::string* out) {
  const json* v = Find(key);
  if (v == nullptr) return true;
  if (!v->is_string()) {
    Fail(TypeError(key, "a string", *v));
    return false;
  }
  *out = v->get<std::string>();
  return true;
}

bool FieldReader::Int(const char* key, int64_t min, int64_t max, int64_t* out) {
  const json* v = Find(key);
  if (v == nullptr) return true;
  const std::optional<long double> value = IntegralValue(*v);
  if (!value) {
    Fail(TypeError(key, "an integer", *v));
    return false;
  }
  if (*value < min || *value > max) {
    Fail(InvalidRequest(key, absl::StrCat("Invalid '", key, "': expected an integer in [", min,
                                          ", ", max, "], got ", Preview(*v), ".")));
    return false;
  }
  *out = static_cast<int64_t>(*value);
  return true;
}

bool FieldReader::Int32(const char* key, int32_t min, int32_t max, int32_t* out) {
  int64_t value = 0;
  if (Find(key) == nullptr) return true;
  if (!Int(key, min, max, &value)) return false;
  *out = static_cast<int32_t>(value);
  return true;
}

bool FieldReader::Float(const char* key, double min, double max, bool min_exclusive, float* out) {
  const json* v = Find(key);
  if (v == nullptr) return true;
  if (!v->is_number()) {
    Fail(TypeError(key, "a number", *v));
    return false;
  }
  const double d = v->get<double>();
  // Checked after the conversion too: a tiny positive double may round to 0.0f.
  const float f = static_cast<float>(d);
  const bool below = min_exclusive ? !(d > min && f > min) : !(d >= min);
  if (!std::isfinite(d) || below || d > max) {
    Fail(InvalidRequest(
        key, absl::StrCat("Invalid '", key, "': expected a number in ",
                          RangeText(min, max, min_exclusive), ", got ", Preview(*v), ".")));
    return false;
  }
  *out = f;
  return true;
}

bool FieldReader::Object(const char* key, const json** out) {
  const json* v = Find(key);
  if (v == nullptr) return true;
  if (!v->is_object()) {
    Fail(TypeError(key, "an object", *v));
    return false;
  }
  *out = v;
  return true;
}

namespace {

bool ReadStop(FieldReader& reader, SamplingOptions* options) {
  const json* v = reader.Find("stop");
  if (v == nullptr) return true;
  auto add = [&](const json& s, const std::string& param) {
    if (!s.is_string()) {
      reader.Fail(TypeError(param, "a string", s));
      return false;
    }
    if (s.get_ref<const std::string&>().empty()) {
      reader.Fail(InvalidRequest(
          param, absl::StrCat("Invalid '", param, "': stop sequences must not be empty.")));
      return false;
    }
    options->stop.push_back(s.get<std::string>());
    return true;
  };
  if (v->is_string()) return add(*v, "stop");
  if (!v->is_array()) {
    reader.Fail(TypeError("stop", "a string or an array of strings", *v));
    return false;
  }
  if (v->size() > static_cast<size_t>(kMaxStopSequences)) {
    reader.Fail(InvalidRequest("stop", absl::StrCat("Invalid 'stop': at most ", kMaxStopSequences,
                                                    " stop sequences, got ", v->size(), ".")));
    return false;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    if (!add((*v)[i], absl::StrCat("stop[", i, "]"))) return false;
  }
  return true;
}

bool ReadStopTokenIds(FieldReader& reader, SamplingOptions* options) {
  const json* v = reader.Find("stop_token_ids");
  if (v == nullptr) return true;
  if (!v->is_array()) {
    reader.Fail(TypeError("stop_token_ids", "an array of integers", *v));
    return false;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const json& id = (*v)[i];
    const std::optional<long double> value = IntegralValue(id);
    if (!value || *value < 0 || *value > std::numeric_limits<int32_t>::max()) {
      reader.Fail(InvalidRequest("stop_token_ids",
                                 absl::StrCat("Invalid 'stop_token_ids[", i,
                                              "]': expected a token id, got ", Preview(id), ".")));
      return false;
    }
    options->stop_token_ids.push_back(static_cast<int32_t>(*value));
  }
  return true;
}

bool ReadSeed(FieldReader& reader, SamplingOptions* options) {
  const json* v = reader.Find("seed");
  if (v == nullptr) return true;
  if (v->is_number_unsigned()) {
    options->seed = v->get<uint64_t>();
    return true;
  }
  if (v->is_number_integer()) {
    options->seed = static_cast<uint64_t>(v->get<int64_t>());
    return true;
  }
  int64_t seed = 0;
  if (!reader.Int("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                  &seed)) {
    return false;
  }
  options->seed = static_cast<uint64_t>(seed);
  return true;
}

bool ReadStreamOptions(FieldReader& reader, SamplingOptions* options) {
  const json* stream_options = nullptr;
  if (!reader.Object("stream_options", &stream_options)) return false;
  if (stream_options == nullptr) return true;
  if (!options->stream) {
    reader.Fail(InvalidRequest("stream_options",
                               "Invalid 'stream_options': only allowed when 'stream' is true."));
    return false;
  }
  FieldReader sub(*stream_options);
  if (!sub.Bool("include_usage", &options->include_usage)) {
    reader.Fail(InvalidRequest(
        "stream_options.include_usage",
        absl::StrCat("Invalid type for 'stream_options.include_usage': ", "expected a boolean.")));
    return false;
  }
  return true;
}

bool ReadLogprobs(FieldReader& reader, bool chat, SamplingOptions* options) {
  if (chat) {
    if (!reader.Bool("logprobs", &options->logprobs)) return false;
    if (reader.Find("top_logprobs") != nullptr) {
      if (!reader.Int32("top_logprobs", 0, kMaxTopLogprobs, &options->top_logprobs)) return false;
      if (!options->logprobs) {
        reader.Fail(InvalidRequest("top_logprobs",
                                   "Invalid 'top_logprobs': 'logprobs' must be true to use it."));
        return false;
      }
    }
    return true;
  }
  const json* v = reader.Find("logprobs");
  if (v == nullptr) return true;
  if (v->is_boolean()) {
    reader.Fail(TypeError("logprobs", "an integer", *v));
    return false;
  }
  if (!reader.Int32("logprobs", 0, kMaxCompletionLogprobs, &options->top_logprobs)) return false;
  options->logprobs = true;
  return true;
}

}  // namespace

bool ReadSamplingOptions(FieldReader& reader, bool chat, SamplingOptions* o) {
  constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();
  if (!reader.String("model", &o->model)) return false;
  if (!reader.Int32("n", 1, kMaxChoices, &o->n)) return false;
  int32_t max_tokens = 0;
  if (reader.Find("max_tokens") != nullptr) {
    if (!reader.Int32("max_tokens", 1, kInt32Max, &max_tokens)) return false;
    o->max_tokens = max_tokens;
  }
  if (chat && reader.Find("max_completion_tokens") != nullptr) {
    if (!reader.Int32("max_completion_tokens", 1, kInt32Max, &max_tokens)) return false;
    o->max_tokens = max_tokens;
    o->max_tokens_param = "max_completion_tokens";
  }
  if (!reader.Float("temperature", 0.0, 2.0, false, &o->temperature)) return false;
  if (!reader.Float("top_p", 0.0, 1.0, true, &o->top_p)) return false;
  if (!reader.Int32("top_k", -1, kInt32Max, &o->top_k)) return false;
  if (o->top_k < 0) o->top_k = 0;
  if (!reader.Float("min_p", 0.0, 1.0, false, &o->min_p)) return false;
  if (!reader.Float("presence_penalty", -2.0, 2.0, false, &o->presence_penalty)) return false;
  if (!reader.Float("frequency_penalty", -2.0, 2.0, false, &o->frequency_penalty)) return false;
  if (!reader.Float("repetition_penalty", 0.0, 1e6, true, &o->repetition_penalty)) return false;
  if (!ReadSeed(reader, o)) return false;
  if (!ReadStop(reader, o) || !ReadStopTokenIds(reader, o)) return false;
  if (!reader.Bool("stream", &o->stream) || !ReadStreamOptions(reader, o)) return false;
  if (!ReadLogprobs(reader, chat, o)) return false;
  if (!reader.Bool("ignore_eos", &o->ignore_eos)) return false;
  if (!reader.Bool("skip_special_tokens", &o->skip_special_tokens)) return false;
  if (!reader.Int32("priority", std::numeric_limits<int32_t>::min(), kInt32Max, &o->priority)) {
    return false;
  }
  if (reader.Find("kv_budget_tokens") != nullptr) {
    int64_t budget = 0;
    if (!reader.Int("kv_budget_tokens", 0, std::numeric_limits<int64_t>::max(), &budget)) {
      return false;
    }
    o->kv_budget_tokens = budget;
  }
  if (!reader.String("kv_eviction_policy", &o->kv_eviction_policy)) return false;
  if (!o->kv_eviction_policy.empty() && o->kv_eviction_policy != "none" &&
      o->kv_eviction_policy != "streaming" && o->kv_eviction_policy != "heavy_hitter" &&
      o->kv_eviction_policy != "adaptive_precision") {
    reader.Fail(InvalidRequest(
        "kv_eviction_policy",
        absl::StrCat("'kv_eviction_policy' must be 'none', 'streaming', 'heavy_hitter' or "
                     "'adaptive_precision', got '",
                     o->kv_eviction_policy, "'.")));
    return false;
  }
  if (!reader.String("cache_salt", &o->cache_salt)) return false;
  if (!reader.String("user", &o->user)) return false;
  return RejectUnsupported(reader, chat);
}

bool RejectUnsupported(FieldReader& reader, bool chat) {
  auto unsupported = [&](const char* key, const std::string& what) {
    reader.Fail(InvalidRequest(key, absl::StrCat("'", key, "' ", what, " is not supported.")));
    return false;
  };
  if (const json* v = reader.Find("logit_bias"); v != nullptr) {
    if (!v->is_object()) {
      reader.Fail(TypeError("logit_bias", "an object", *v));
      return false;
    }
    if (!v->empty()) return unsupported("logit_bias", "with entries");
  }
  if (chat) {
    if (const json* v = reader.Find("response_format"); v != nullptr) {
      if (!v->is_object()) {
        reader.Fail(TypeError("response_format", "an object", *v));
        return false;
      }
      auto type = v->find("type");
      if (type == v->end() || !type->is_string() || type->get<std::string>() != "text") {
        return unsupported("response_format", "other than {\"type\": \"text\"}");
      }
    }
    if (const json* v = reader.Find("modalities"); v != nullptr) {
      if (!v->is_array()) {
        reader.Fail(TypeError("modalities", "an array", *v));
        return false;
      }
      for (const json& m : *v) {
        if (!m.is_string() || m.get<std::string>() != "text") {
          return unsupported("modalities", "other than [\"text\"]");
        }
      }
    }
    if (reader.Find("audio") != nullptr) return unsupported("audio", "output");
  } else {
    if (const json* v = reader.Find("suffix"); v != nullptr) {
      if (!v->is_string()) {
        reader.Fail(TypeError("suffix", "a string", *v));
        return false;
      }
      if (!v->get_ref<const std::string&>().empty()) return unsupported("suffix", "(insertion)");
    }
  }
  return true;
}

}  // namespace strata::server::openai::internal
