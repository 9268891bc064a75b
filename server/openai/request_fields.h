// Typed, range-checked access to the fields of a JSON request object; each failure is a
// 400 naming the field. Internal to server/openai.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "nlohmann/json.hpp"
#include "server/openai/api_error.h"
#include "server/openai/request_parser.h"

namespace strata::server::openai::internal {

// A JSON value's kind as OpenAI's messages name it ("string", "integer", "object"...).
std::string KindName(const nlohmann::ordered_json& value);
// A short rendering of a value for messages (long strings and containers are cut).
std::string Preview(const nlohmann::ordered_json& value);

class FieldReader {
 public:
  explicit FieldReader(const nlohmann::ordered_json& object) : object_(object) {}

  // The value of `key`; nullptr when absent or null (null means "use the default").
  const nlohmann::ordered_json* Find(const char* key) const;

  // Each returns false and sets the error when the field is present but invalid; on
  // absence it leaves `out` unchanged and returns true.
  bool Bool(const char* key, bool* out);
  bool String(const char* key, std::string* out);
  bool Int(const char* key, int64_t min, int64_t max, int64_t* out);
  bool Int32(const char* key, int32_t min, int32_t max, int32_t* out);
  // A number in [min, max] (min excluded when `min_exclusive`).
  bool Float(const char* key, double min, double max, bool min_exclusive, float* out);
  bool Object(const char* key, const nlohmann::ordered_json** out);

  bool failed() const { return error_.has_value(); }
  const ApiError& error() const { return *error_; }
  void Fail(ApiError error) {
    if (!error_) error_ = std::move(error);
  }

 private:
  const nlohmann::ordered_json& object_;
  std::optional<ApiError> error_;
};

// Fills the parameters common to both endpoints. `chat` selects the chat forms of
// logprobs/top_logprobs and max_completion_tokens.
bool ReadSamplingOptions(FieldReader& reader, bool chat, SamplingOptions* options);

// Rejects parameters that are recognised but not implemented when set to a non-default
// value (logit_bias, response_format other than text, ...).
bool RejectUnsupported(FieldReader& reader, bool chat);

}  // namespace strata::server::openai::internal
