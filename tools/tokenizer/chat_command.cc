// chat: one JSON object per line -> the rendered prompt as one JSON string per line.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "server/chat_template/chat_template.h"
#include "tools/tokenizer/commands.h"

namespace strata::tools {

int RunChat(const CommandContext& ctx) {
  if (!ctx.args.empty()) {
    ctx.err << "strata-tokenizer: chat takes no arguments\n";
    return 2;
  }
  const std::string& source = ctx.tokenizer.chat_template();
  if (source.empty()) {
    ctx.err << "strata-tokenizer: the tokenizer has no chat template\n";
    return 1;
  }
  auto compiled = server::ChatTemplate::Compile(source);
  if (!compiled.ok()) {
    ctx.err << "strata-tokenizer: chat template: " << compiled.status().message() << "\n";
    return 1;
  }
  const std::string bos = ctx.tokenizer.bos_token().value_or("");
  const std::string eos = ctx.tokenizer.eos_token().value_or("");
  std::string line;
  for (int number = 1; std::getline(ctx.in, line); ++number) {
    // ordered_json keeps the caller's key order, which tojson prints as Python would.
    nlohmann::ordered_json request = nlohmann::ordered_json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object() || !request.contains("messages") ||
        !request["messages"].is_array()) {
      ctx.err << "strata-tokenizer: line " << number
              << ": expected a JSON object with a \"messages\" array\n";
      return 1;
    }
    const auto& flag = request.value("add_generation_prompt", nlohmann::ordered_json(false));
    if (!flag.is_boolean()) {
      ctx.err << "strata-tokenizer: line " << number
              << ": \"add_generation_prompt\" must be true or false\n";
      return 1;
    }
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
    for (const auto& [key, value] : request.items()) {
      if (key != "messages" && key != "add_generation_prompt") extra[key] = value;
    }
    auto rendered = server::ApplyChatTemplate(*compiled, request["messages"], flag.get<bool>(),
                                              extra, bos, eos);
    if (!rendered.ok()) {
      ctx.err << "strata-tokenizer: line " << number << ": " << rendered.status().message() << "\n";
      return 1;
    }
    ctx.out << nlohmann::json(*rendered).dump(-1, ' ', false,
                                              nlohmann::json::error_handler_t::replace)
            << "\n";
  }
  return 0;
}

}  // namespace strata::tools
