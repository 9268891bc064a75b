// strata-tokenizer: encode and decode with a model directory's tokenizer, one JSON value per
// line, for scripts and for comparing against reference tokenizers.
//
//   strata-tokenizer --tokenizer DIR encode [--add-special-tokens]  < strings.jsonl
//   strata-tokenizer --tokenizer DIR decode [--skip-special-tokens] < id_arrays.jsonl
//   strata-tokenizer --tokenizer DIR chat < conversations.jsonl
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "tools/tokenizer/commands.h"

namespace {

struct Command {
  const char* name;
  const char* usage;
  strata::tools::CommandFn run;
};

// Sub-commands; add new ones here.
constexpr Command kCommands[] = {
    {"encode", "encode [--add-special-tokens]   JSON string per line -> JSON id array per line",
     strata::tools::RunEncode},
    {"decode", "decode [--skip-special-tokens]  JSON id array per line -> JSON string per line",
     strata::tools::RunDecode},
    {"chat", "chat                            JSON {messages, add_generation_prompt, ...} per "
             "line -> JSON prompt string per line",
     strata::tools::RunChat},
};

void PrintUsage(std::ostream& out) {
  out << "usage: strata-tokenizer --tokenizer DIR <command> [args]\n"
         "DIR holds tokenizer.json and tokenizer_config.json. Commands:\n";
  for (const Command& c : kCommands) out << "  " << c.usage << "\n";
  out << "A bad input line stops the command with exit code 1, naming the line.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::string dir;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      PrintUsage(std::cout);
      return 0;
    } else if (arg == "--tokenizer" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg.rfind("--tokenizer=", 0) == 0) {
      dir = arg.substr(std::strlen("--tokenizer="));
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "strata-tokenizer: unknown option '" << arg << "'\n";
      PrintUsage(std::cerr);
      return 2;
    } else {
      break;
    }
  }
  if (i >= argc || dir.empty()) {
    PrintUsage(std::cerr);
    return 2;
  }
  const Command* command = nullptr;
  for (const Command& c : kCommands) {
    if (argv[i] == std::string(c.name)) command = &c;
  }
  if (command == nullptr) {
    std::cerr << "strata-tokenizer: unknown command '" << argv[i] << "'\n";
    PrintUsage(std::cerr);
    return 2;
  }
  auto tokenizer = strata::server::Tokenizer::Load(dir);
  if (!tokenizer.ok()) {
    std::cerr << "strata-tokenizer: " << tokenizer.status().message() << "\n";
    return 1;
  }
  const strata::tools::CommandContext ctx{**tokenizer,
                                          std::vector<std::string>(argv + i + 1, argv + argc),
                                          std::cin, std::cout, std::cerr};
  return command->run(ctx);
}
