// Chat templates: the Jinja `chat_template` of a model's tokenizer_config.json, compiled once
// at model load and rendered per request, producing the prompt text byte for byte as Hugging
// Face transformers' apply_chat_template(tokenize=False) does.
//
// Compile() rejects anything the interpreter cannot run (unsupported statements, unknown
// filters/tests/functions, syntax errors) with the line and column, so a bad template fails
// at load time instead of producing a wrong prompt. Render() errors (raise_exception() in the
// template, type errors on odd input) are InvalidArgument; raise_exception's message is
// passed on verbatim, other messages name the template line and column.
//
// A ChatTemplate is immutable after Compile and cheap to copy; Render is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace strata::server {

namespace jinja {
struct Program;
}

class ChatTemplate {
 public:
  static absl::StatusOr<ChatTemplate> Compile(std::string source);

  // `variables` is a JSON object whose members become template variables (messages,
  // add_generation_prompt, bos_token, eos_token, tools, enable_thinking, ...). Object member
  // order is what tojson prints: pass nlohmann::ordered_json to keep a request's key order
  // (as Python does); nlohmann::json iterates keys sorted.
  absl::StatusOr<std::string> Render(const nlohmann::json& variables) const;
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& variables) const;

  const std::string& source() const { return *source_; }

 private:
  friend absl::StatusOr<std::string> ApplyChatTemplate(const ChatTemplate&, const nlohmann::json&,
                                                       bool, const nlohmann::json&,
                                                       const std::string&, const std::string&);
  friend absl::StatusOr<std::string> ApplyChatTemplate(const ChatTemplate&,
                                                       const nlohmann::ordered_json&, bool,
                                                       const nlohmann::ordered_json&,
                                                       const std::string&, const std::string&);
  ChatTemplate() = default;
  std::shared_ptr<const std::string> source_;
  std::shared_ptr<const jinja::Program> program_;
};

// Renders `messages` the way transformers' apply_chat_template does: the template sees
// messages, add_generation_prompt, bos_token and eos_token (each omitted when empty, like a
// tokenizer without that token), tools and documents (None unless given in
// extra_variables), and every member of `extra_variables` (e.g. tools, enable_thinking,
// date_string), which take precedence.
absl::StatusOr<std::string> ApplyChatTemplate(const ChatTemplate& chat_template,
                                              const nlohmann::json& messages,
                                              bool add_generation_prompt,
                                              const nlohmann::json& extra_variables,
                                              const std::string& bos_token,
                                              const std::string& eos_token);
absl::StatusOr<std::string> ApplyChatTemplate(const ChatTemplate& chat_template,
                                              const nlohmann::ordered_json& messages,
                                              bool add_generation_prompt,
                                              const nlohmann::ordered_json& extra_variables,
                                              const std::string& bos_token,
                                              const std::string& eos_token);

// The template source in a tokenizer_config.json: `chat_template` as a string, or the entry
// called `name` of a list of {"name", "template"} (transformers picks "tool_use" when tools
// are given and such an entry exists, else "default"). NotFound when there is none.
absl::StatusOr<std::string> ChatTemplateFromTokenizerConfig(const nlohmann::json& config,
                                                            const std::string& name = "default");

}  // namespace strata::server
