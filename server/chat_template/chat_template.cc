#include "server/chat_template/chat_template.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/chat_template/ast.h"
#include "server/chat_template/evaluator.h"
#include "server/chat_template/lexer.h"
#include "server/chat_template/parser.h"
#include "server/chat_template/value_json.h"

namespace strata::server {
namespace {

using jinja::Value;
using Variables = std::vector<std::pair<std::string, Value>>;

template <typename Json>
absl::StatusOr<Variables> ToVariables(const Json& variables) {
  if (!variables.is_object()) {
    return absl::InvalidArgumentError("chat template variables must be a JSON object");
  }
  Variables out;
  out.reserve(variables.size());
  for (auto it = variables.begin(); it != variables.end(); ++it) {
    out.emplace_back(it.key(), jinja::FromJson(it.value()));
  }
  return out;
}

template <typename Json>
absl::StatusOr<Variables> ChatVariables(const Json& messages, bool add_generation_prompt,
                                        const Json& extra_variables, const std::string& bos_token,
                                        const std::string& eos_token) {
  if (!messages.is_array()) return absl::InvalidArgumentError("messages must be a JSON array");
  if (!extra_variables.is_null() && !extra_variables.is_object()) {
    return absl::InvalidArgumentError("extra chat template variables must be a JSON object");
  }
  Variables vars;
  vars.emplace_back("messages", jinja::FromJson(messages));
  vars.emplace_back("tools", Value::None());
  vars.emplace_back("documents", Value::None());
  vars.emplace_back("add_generation_prompt", Value::Bool(add_generation_prompt));
  if (!bos_token.empty()) vars.emplace_back("bos_token", Value::Str(bos_token));
  if (!eos_token.empty()) vars.emplace_back("eos_token", Value::Str(eos_token));
  if (extra_variables.is_object()) {
    for (auto it = extra_variables.begin(); it != extra_variables.end(); ++it) {
      // Later entries win when the context is built.
      vars.emplace_back(it.key(), jinja::FromJson(it.value()));
    }
  }
  return vars;
}

}  // namespace

absl::StatusOr<ChatTemplate> ChatTemplate::Compile(std::string source) {
  STRATA_ASSIGN_OR_RETURN(std::vector<jinja::Token> tokens, jinja::Tokenize(source));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<jinja::Program> program, jinja::Parse(std::move(tokens)));
  ChatTemplate t;
  t.source_ = std::make_shared<const std::string>(std::move(source));
  t.program_ = std::shared_ptr<const jinja::Program>(std::move(program));
  return t;
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::json& variables) const {
  STRATA_ASSIGN_OR_RETURN(Variables vars, ToVariables(variables));
  return jinja::Render(*program_, std::move(vars));
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::ordered_json& variables) const {
  STRATA_ASSIGN_OR_RETURN(Variables vars, ToVariables(variables));
  return jinja::Render(*program_, std::move(vars));
}

absl::StatusOr<std::string> ApplyChatTemplate(const ChatTemplate& chat_template,
                                              const nlohmann::json& messages,
                                              bool add_generation_prompt,
                                              const nlohmann::json& extra_variables,
                                              const std::string& bos_token,
                                              const std::string& eos_token) {
  STRATA_ASSIGN_OR_RETURN(Variables vars, ChatVariables(messages, add_generation_prompt,
                                                        extra_variables, bos_token, eos_token));
  return jinja::Render(*chat_template.program_, std::move(vars));
}

absl::StatusOr<std::string> ApplyChatTemplate(const ChatTemplate& chat_template,
                                              const nlohmann::ordered_json& messages,
                                              bool add_generation_prompt,
                                              const nlohmann::ordered_json& extra_variables,
                                              const std::string& bos_token,
                                              const std::string& eos_token) {
  STRATA_ASSIGN_OR_RETURN(Variables vars, ChatVariables(messages, add_generation_prompt,
                                                        extra_variables, bos_token, eos_token));
  return jinja::Render(*chat_template.program_, std::move(vars));
}

absl::StatusOr<std::string> ChatTemplateFromTokenizerConfig(const nlohmann::json& config,
                                                            const std::string& name) {
  if (!config.is_object() || !config.contains("chat_template")) {
    return absl::NotFoundError("tokenizer config has no chat_template");
  }
  const nlohmann::json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const nlohmann::json& entry : t) {
      if (entry.is_object() && entry.value("name", "") == name && entry.contains("template") &&
          entry["template"].is_string()) {
        return entry["template"].get<std::string>();
      }
    }
    return absl::NotFoundError(
        absl::StrCat("tokenizer config has no chat template named '", name, "'"));
  }
  return absl::InvalidArgumentError("chat_template must be a string or a list of named templates");
}

}  // namespace strata::server
