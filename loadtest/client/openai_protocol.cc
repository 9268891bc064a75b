#include "loadtest/client/openai_protocol.h"

namespace strata::loadtest {

using json = nlohmann::json;

std::string OpenAiRequestBody(const RequestSpec& spec, const OpenAiRequestOptions& options) {
  json body = json::object();
  body["model"] = options.model;
  if (options.chat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", spec.prompt}}});
  } else if (!spec.prompt_ids.empty()) {
    body["prompt"] = spec.prompt_ids;
  } else {
    body["prompt"] = spec.prompt;
  }
  body["max_tokens"] = spec.output_len;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  if (options.ignore_eos) body["ignore_eos"] = true;
  if (options.temperature) body["temperature"] = *options.temperature;
  if (!spec.session_id.empty()) body["user"] = spec.session_id;
  if (options.extra_body.is_object()) {
    for (const auto& [key, value] : options.extra_body.items()) body[key] = value;
  }
  return body.dump();
}

namespace {

std::optional<int32_t> IntField(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int32_t>();
}

bool NonEmptyString(const json& obj, const char* key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

}  // namespace

StreamEventInfo ParseStreamEvent(const std::string& data) {
  StreamEventInfo info;
  if (data == "[DONE]") {
    info.done = true;
    return info;
  }
  const json event = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!event.is_object()) {
    info.malformed = true;
    return info;
  }
  if (const auto error = event.find("error"); error != event.end() && !error->is_null()) {
    if (error->is_object() && error->contains("message") && (*error)["message"].is_string()) {
      info.error = (*error)["message"].get<std::string>();
    } else {
      info.error = error->dump();
    }
    if (info.error.empty()) info.error = "error event";
    return info;
  }
  if (const auto choices = event.find("choices"); choices != event.end() && choices->is_array()) {
    for (const json& choice : *choices) {
      if (!choice.is_object()) continue;
      if (NonEmptyString(choice, "text")) info.has_output = true;
      if (const auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
        if (NonEmptyString(*delta, "content") || NonEmptyString(*delta, "reasoning_content") ||
            NonEmptyString(*delta, "reasoning")) {
          info.has_output = true;
        }
      }
      if (const auto finish = choice.find("finish_reason");
          finish != choice.end() && finish->is_string()) {
        info.finish_reason = finish->get<std::string>();
      }
    }
  }
  if (const auto usage = event.find("usage"); usage != event.end() && usage->is_object()) {
    info.prompt_tokens = IntField(*usage, "prompt_tokens");
    info.completion_tokens = IntField(*usage, "completion_tokens");
  }
  return info;
}

std::string ErrorBodyMessage(const std::string& body) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    const auto error = parsed.find("error");
    if (error != parsed.end()) {
      if (error->is_object() && error->contains("message") && (*error)["message"].is_string()) {
        return (*error)["message"].get<std::string>();
      }
      if (error->is_string()) return error->get<std::string>();
    }
    if (parsed.contains("message") && parsed["message"].is_string()) {
      return parsed["message"].get<std::string>();
    }
  }
  return body.size() > 300 ? body.substr(0, 300) + "..." : body;
}

}  // namespace strata::loadtest
