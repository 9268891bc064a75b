// The encode and decode sub-commands.
#include <iostream>
#include <string>

#include "nlohmann/json.hpp"
#include "tools/tokenizer/commands.h"

namespace strata::tools {
namespace {

using Json = nlohmann::json;

// Parses the flags a sub-command accepts (all boolean); false on an unknown argument.
bool ParseFlags(const CommandContext& ctx, const char* name,
                std::initializer_list<std::pair<const char*, bool*>> flags) {
  for (const std::string& arg : ctx.args) {
    bool known = false;
    for (const auto& [flag, value] : flags) {
      if (arg == flag) {
        *value = true;
        known = true;
      }
    }
    if (!known) {
      ctx.err << "strata-tokenizer " << name << ": unknown argument '" << arg << "'\n";
      return false;
    }
  }
  return true;
}

int BadLine(const CommandContext& ctx, const char* name, size_t line, const std::string& why) {
  ctx.out.flush();
  ctx.err << "strata-tokenizer " << name << ": line " << line << ": " << why << "\n";
  return 1;
}

}  // namespace

int RunEncode(const CommandContext& ctx) {
  bool add_special = false;
  if (!ParseFlags(ctx, "encode", {{"--add-special-tokens", &add_special}})) return 2;
  std::string line;
  size_t number = 0;
  while (std::getline(ctx.in, line)) {
    ++number;
    const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_string()) {
      return BadLine(ctx, "encode", number, "expected a JSON string");
    }
    const std::string& text = j.get_ref<const std::string&>();
    const std::vector<int32_t> ids =
        add_special ? ctx.tokenizer.EncodeWithSpecial(text) : ctx.tokenizer.Encode(text);
    ctx.out << Json(ids).dump() << '\n';
  }
  ctx.out.flush();
  return 0;
}

int RunDecode(const CommandContext& ctx) {
  bool skip_special = false;
  if (!ParseFlags(ctx, "decode", {{"--skip-special-tokens", &skip_special}})) return 2;
  std::string line;
  size_t number = 0;
  std::vector<int32_t> ids;
  while (std::getline(ctx.in, line)) {
    ++number;
    const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_array()) {
      return BadLine(ctx, "decode", number, "expected a JSON array of token ids");
    }
    ids.clear();
    for (const Json& id : j) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
          id.get<int64_t>() >= ctx.tokenizer.vocab_size()) {
        return BadLine(ctx, "decode", number,
                       "token id " + id.dump() + " is not an integer in [0, " +
                           std::to_string(ctx.tokenizer.vocab_size()) + ")");
      }
      ids.push_back(id.get<int32_t>());
    }
    ctx.out << Json(ctx.tokenizer.Decode(ids, skip_special)).dump() << '\n';
  }
  ctx.out.flush();
  return 0;
}

}  // namespace strata::tools
