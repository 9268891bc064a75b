// Sub-commands of strata-tokenizer. Each reads `in` line by line and writes `out`; a bad
// input line is reported on `err` with its line number and makes the command return 1.
// To add a sub-command: implement a CommandFn and list it in kCommands in main.cc.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "server/tokenizer/tokenizer.h"

namespace strata::tools {

struct CommandContext {
  const server::Tokenizer& tokenizer;
  std::vector<std::string> args;  // the arguments after the sub-command's name
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

// Returns the process exit code: 0 success, 1 bad input, 2 bad usage.
using CommandFn = int (*)(const CommandContext&);

// encode [--add-special-tokens]: one JSON string per line -> one JSON array of ids per line.
int RunEncode(const CommandContext& ctx);
// decode [--skip-special-tokens]: one JSON array of ids per line -> one JSON string per line.
int RunDecode(const CommandContext& ctx);
// chat: one JSON object per line ({"messages": [...], "add_generation_prompt": true, and any
// other template variable such as enable_thinking}) -> the rendered prompt as a JSON string.
int RunChat(const CommandContext& ctx);

}  // namespace strata::tools
