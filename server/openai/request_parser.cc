#include "server/openai/request_parser.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "server/openai/request_fields.h"

namespace strata::server::openai {
namespace {

using internal::FieldReader;
using internal::KindName;
using internal::Preview;
using json = nlohmann::ordered_json;

ApiOr<json> ParseBody(std::string_view body) {
  if (JsonTooDeep(body, kMaxJsonDepth)) {
    return InvalidRequest(
        "", absl::StrCat("The request body nests deeper than ", kMaxJsonDepth, " levels."));
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return InvalidRequest("", "The request body is not valid JSON.");
  }
  if (!parsed.is_object()) {
    return InvalidRequest(
        "", absl::StrCat("The request body must be a JSON object, got ", KindName(parsed), "."));
  }
  return parsed;
}

// A message's content as one string: a string, or the text parts of an array joined with
// "\n" (as vLLM does). Null yields "" when `null_ok`.
bool ReadContent(const json& message, const std::string& param, bool null_ok, std::string* out,
                 ApiError* error) {
  auto it = message.find("content");
  if (it == message.end() || it->is_null()) {
    if (null_ok) return true;
    *error = InvalidRequest(param, absl::StrCat("Missing required parameter: '", param, "'."));
    return false;
  }
  if (it->is_string()) {
    *out = it->get<std::string>();
    return true;
  }
  if (!it->is_array()) {
    *error = InvalidRequest(param, absl::StrCat("Invalid type for '", param,
                                                "': expected a string or an array of content "
                                                "parts, but got ",
                                                KindName(*it), " instead."));
    return false;
  }
  std::string text;
  for (size_t j = 0; j < it->size(); ++j) {
    const json& part = (*it)[j];
    const std::string part_param = absl::StrCat(param, "[", j, "]");
    if (!part.is_object()) {
      *error = InvalidRequest(
          part_param, absl::StrCat("Invalid type for '", part_param,
                                   "': expected an object, but got ", KindName(part), " instead."));
      return false;
    }
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) {
      *error = InvalidRequest(absl::StrCat(part_param, ".type"),
                              absl::StrCat("Missing required parameter: '", part_param, ".type'."));
      return false;
    }
    if (type->get<std::string>() != "text") {
      *error = InvalidRequest(
          absl::StrCat(part_param, ".type"),
          absl::StrCat("Invalid value for '", part_param, ".type': '", Preview(*type),
                       "'. Only 'text' content parts are supported."));
      return false;
    }
    auto part_text = part.find("text");
    if (part_text == part.end() || !part_text->is_string()) {
      *error = InvalidRequest(absl::StrCat(part_param, ".text"),
                              absl::StrCat("Invalid '", part_param, ".text': expected a string."));
      return false;
    }
    if (j > 0) text += "\n";
    text += part_text->get<std::string>();
  }
  *out = std::move(text);
  return true;
}

// Tool calls pass through with their JSON-string arguments parsed into objects, which is
// what chat templates iterate over (as vLLM does).
json NormalizeToolCalls(const json& calls) {
  json out = calls;
  for (json& call : out) {
    if (!call.is_object()) continue;
    auto function = call.find("function");
    if (function == call.end() || !function->is_object()) continue;
    auto arguments = function->find("arguments");
    if (arguments == function->end() || !arguments->is_string()) continue;
    json parsed = json::parse(arguments->get<std::string>(), nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) *arguments = std::move(parsed);
  }
  return out;
}

bool ReadMessages(const json& body, ChatRequest* request, ApiError* error) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) {
    *error = InvalidRequest("messages", "Missing required parameter: 'messages'.");
    return false;
  }
  if (!it->is_array()) {
    *error = InvalidRequest("messages", absl::StrCat("Invalid type for 'messages': expected an "
                                                     "array, but got ",
                                                     KindName(*it), " instead."));
    return false;
  }
  if (it->empty()) {
    *error = InvalidRequest("messages",
                            "Invalid 'messages': empty array. Expected an array "
                            "with minimum length 1.");
    return false;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& message = (*it)[i];
    const std::string param = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) {
      *error = InvalidRequest(
          param, absl::StrCat("Invalid type for '", param, "': expected an object, but got ",
                              KindName(message), " instead."));
      return false;
    }
    auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
      *error = InvalidRequest(absl::StrCat(param, ".role"),
                              absl::StrCat("Missing required parameter: '", param, ".role'."));
      return false;
    }
    std::string role_name = role->get<std::string>();
    if (role_name == "developer") role_name = "system";
    if (role_name != "system" && role_name != "user" && role_name != "assistant" &&
        role_name != "tool") {
      *error = InvalidRequest(
          absl::StrCat(param, ".role"),
          absl::StrCat("Invalid value for '", param, ".role': '", Preview(*role),
                       "'. Supported values are: 'system', 'developer', 'user', 'assistant' "
                       "and 'tool'."));
      return false;
    }
    json out = {{"role", role_name}, {"content", ""}};
    std::string content;
    if (!ReadContent(message, absl::StrCat(param, ".content"), role_name == "assistant", &content,
                     error)) {
      return false;
    }
    out["content"] = std::move(content);
    for (const char* key : {"name", "tool_call_id", "reasoning_content"}) {
      auto field = message.find(key);
      if (field == message.end() || field->is_null()) continue;
      if (!field->is_string()) {
        *error = InvalidRequest(
            absl::StrCat(param, ".", key),
            absl::StrCat("Invalid type for '", param, ".", key, "': expected a string, but got ",
                         KindName(*field), " instead."));
        return false;
      }
      out[key] = *field;
    }
    if (auto calls = message.find("tool_calls"); calls != message.end() && !calls->is_null()) {
      if (!calls->is_array()) {
        *error = InvalidRequest(
            absl::StrCat(param, ".tool_calls"),
            absl::StrCat("Invalid type for '", param, ".tool_calls': expected an array."));
        return false;
      }
      out["tool_calls"] = NormalizeToolCalls(*calls);
    }
    request->messages.push_back(std::move(out));
  }
  return true;
}

bool ReadTools(FieldReader& reader, ChatRequest* request) {
  if (const json* tools = reader.Find("tools"); tools != nullptr) {
    if (!tools->is_array()) {
      reader.Fail(InvalidRequest("tools", absl::StrCat("Invalid type for 'tools': expected an "
                                                       "array, but got ",
                                                       KindName(*tools), " instead.")));
      return false;
    }
    if (!tools->empty()) request->tools = *tools;
  }
  if (const json* choice = reader.Find("tool_choice"); choice != nullptr) {
    if (!choice->is_string() ||
        (choice->get<std::string>() != "none" && choice->get<std::string>() != "auto")) {
      reader.Fail(InvalidRequest("tool_choice",
                                 "Invalid 'tool_choice': only 'none' and 'auto' "
                                 "are supported."));
      return false;
    }
  }
  return true;
}

// One prompt of token ids; `param` names it in errors.
bool ReadTokenPrompt(const json& ids, const std::string& param, CompletionPrompt* prompt,
                     ApiError* error) {
  if (ids.empty()) {
    *error = InvalidRequest("prompt", absl::StrCat("Invalid '", param, "': empty token list."));
    return false;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& id = ids[i];
    const bool valid =
        id.is_number_integer() &&
        (id.is_number_unsigned()
             ? id.get<uint64_t>() <= std::numeric_limits<int32_t>::max()
             : id.get<int64_t>() >= 0 && id.get<int64_t>() <= std::numeric_limits<int32_t>::max());
    if (!valid) {
      *error =
          InvalidRequest("prompt", absl::StrCat("Invalid '", param, "[", i,
                                                "]': expected a token id, got ", Preview(id), "."));
      return false;
    }
    prompt->tokens.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  return true;
}

bool ReadPrompts(const json& body, CompletionRequest* request, ApiError* error) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) {
    *error = InvalidRequest("prompt", "Missing required parameter: 'prompt'.");
    return false;
  }
  const json& prompt = *it;
  if (prompt.is_string()) {
    request->prompts.push_back({prompt.get<std::string>(), {}});
    return true;
  }
  const char* kShapes =
      "a string, an array of strings, an array of token ids or an array of token-id arrays";
  if (!prompt.is_array()) {
    *error = InvalidRequest("prompt", absl::StrCat("Invalid type for 'prompt': expected ", kShapes,
                                                   ", but got ", KindName(prompt), " instead."));
    return false;
  }
  if (prompt.empty()) {
    *error = InvalidRequest("prompt", "Invalid 'prompt': empty array.");
    return false;
  }
  const json& first = prompt[0];
  if (first.is_number()) {
    CompletionPrompt one;
    if (!ReadTokenPrompt(prompt, "prompt", &one, error)) return false;
    request->prompts.push_back(std::move(one));
    return true;
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    const json& item = prompt[i];
    const std::string param = absl::StrCat("prompt[", i, "]");
    if (first.is_string() && item.is_string()) {
      request->prompts.push_back({item.get<std::string>(), {}});
    } else if (first.is_array() && item.is_array()) {
      CompletionPrompt one;
      if (!ReadTokenPrompt(item, param, &one, error)) return false;
      request->prompts.push_back(std::move(one));
    } else {
      *error = InvalidRequest("prompt", absl::StrCat("Invalid type for '", param, "': expected ",
                                                     kShapes, " (all items of one kind)."));
      return false;
    }
  }
  return true;
}

}  // namespace

bool JsonTooDeep(std::string_view body, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

ApiOr<ChatRequest> ParseChatRequest(std::string_view body) {
  ApiOr<json> parsed = ParseBody(body);
  if (!parsed.ok()) return parsed.error();
  ChatRequest request;
  ApiError error;
  if (!ReadMessages(*parsed, &request, &error)) return error;
  FieldReader reader(*parsed);
  if (!internal::ReadSamplingOptions(reader, /*chat=*/true, &request.options) ||
      !ReadTools(reader, &request) ||
      !reader.Bool("add_generation_prompt", &request.add_generation_prompt) ||
      !reader.Bool("continue_final_message", &request.continue_final_message)) {
    return reader.error();
  }
  const json* kwargs = nullptr;
  if (!reader.Object("chat_template_kwargs", &kwargs)) return reader.error();
  if (kwargs != nullptr) request.chat_template_kwargs = *kwargs;
  if (request.continue_final_message) {
    if (request.add_generation_prompt) {
      return InvalidRequest("continue_final_message",
                            "'continue_final_message' and 'add_generation_prompt' cannot both "
                            "be true.");
    }
    if (request.messages.back()["role"] != "assistant") {
      return InvalidRequest("continue_final_message",
                            "'continue_final_message' needs a final assistant message.");
    }
  }
  return request;
}

ApiOr<CompletionRequest> ParseCompletionRequest(std::string_view body) {
  ApiOr<json> parsed = ParseBody(body);
  if (!parsed.ok()) return parsed.error();
  CompletionRequest request;
  ApiError error;
  if (!ReadPrompts(*parsed, &request, &error)) return error;
  FieldReader reader(*parsed);
  if (!internal::ReadSamplingOptions(reader, /*chat=*/false, &request.options) ||
      !reader.Bool("echo", &request.echo)) {
    return reader.error();
  }
  if (const json* best_of = reader.Find("best_of"); best_of != nullptr) {
    int32_t value = 0;
    if (!reader.Int32("best_of", 1, kMaxChoices, &value)) return reader.error();
    if (value != request.options.n) {
      return InvalidRequest("best_of", "Invalid 'best_of': only best_of equal to n is supported.");
    }
  }
  if (request.echo && request.options.logprobs) {
    return InvalidRequest("echo",
                          "'echo' together with 'logprobs' is not supported (prompt "
                          "log-probabilities are not computed).");
  }
  return request;
}

}  // namespace strata::server::openai
