// `strata-loadtest compare` and `strata-loadtest report`: reports from result files.
#include <cstdio>
#include <iostream>

#include "absl/strings/str_split.h"
#include "loadtest/cli/commands.h"
#include "loadtest/cli/options.h"
#include "loadtest/report/compare.h"
#include "loadtest/report/html_report.h"
#include "loadtest/report/result_json.h"
#include "loadtest/report/text_summary.h"

namespace strata::loadtest {
namespace {

using json = nlohmann::json;

int Usage(const std::string& why) {
  std::fprintf(stderr, "strata-loadtest: %s\n%s", why.c_str(), kUsage);
  return 2;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "strata-loadtest: %s\n", std::string(status.message()).c_str());
  return 1;
}

struct ReportArgs {
  std::vector<std::string> files;
  std::vector<std::string> names;
  std::string html;
  std::string output;
};

bool ParseReportArgs(const std::vector<std::string>& args, ReportArgs* out, std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* v) {
      if (i + 1 >= args.size()) {
        *error = a + " needs a value";
        return false;
      }
      *v = args[++i];
      return true;
    };
    if (a == "--html") {
      if (!value(&out->html)) return false;
    } else if (a == "--output") {
      if (!value(&out->output)) return false;
    } else if (a == "--names") {
      std::string v;
      if (!value(&v)) return false;
      out->names = absl::StrSplit(v, ',');
    } else if (a.rfind("--", 0) == 0) {
      *error = "unknown argument '" + a + "'";
      return false;
    } else {
      out->files.push_back(a);
    }
  }
  return true;
}

// A run's default name: its label, else the file name.
std::string NameOf(const json& result, const std::string& path) {
  const json& config = result.value("config", json::object());
  if (config.contains("label") && config["label"].is_string() &&
      !config["label"].get<std::string>().empty()) {
    return config["label"].get<std::string>();
  }
  return path;
}

absl::Status Load(const ReportArgs& args, std::vector<json>* results,
                  std::vector<std::string>* names) {
  for (const std::string& file : args.files) {
    absl::StatusOr<json> r = ReadResultFile(file);
    if (!r.ok()) return r.status();
    names->push_back(NameOf(*r, file));
    results->push_back(*std::move(r));
  }
  if (!args.names.empty()) {
    if (args.names.size() != args.files.size()) {
      return absl::InvalidArgumentError("--names needs one name per result file");
    }
    *names = args.names;
  } else {
    // Same labels (e.g. two runs against one server): tell them apart by file.
    for (size_t i = 0; i < names->size(); ++i) {
      for (size_t j = 0; j < names->size(); ++j) {
        if (i != j && (*names)[i] == (*names)[j]) (*names)[i] = args.files[i];
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

int CompareCommand(const std::vector<std::string>& args) {
  ReportArgs parsed;
  std::string error;
  if (!ParseReportArgs(args, &parsed, &error)) return Usage(error);
  if (parsed.files.size() < 2) return Usage("compare needs two or more result files");
  std::vector<json> results;
  std::vector<std::string> names;
  if (absl::Status s = Load(parsed, &results, &names); !s.ok()) return Fail(s);
  const std::string table = CompareTable(results, names);
  if (!parsed.output.empty()) {
    if (absl::Status s = WriteTextFile(parsed.output, table); !s.ok()) return Fail(s);
  } else {
    std::cout << table << std::flush;
  }
  if (!parsed.html.empty()) {
    if (absl::Status s = WriteTextFile(parsed.html, HtmlReport(results, names)); !s.ok()) {
      return Fail(s);
    }
  }
  return 0;
}

int ReportCommand(const std::vector<std::string>& args) {
  ReportArgs parsed;
  std::string error;
  if (!ParseReportArgs(args, &parsed, &error)) return Usage(error);
  if (parsed.files.size() != 1) return Usage("report needs one result file");
  std::vector<json> results;
  std::vector<std::string> names;
  if (absl::Status s = Load(parsed, &results, &names); !s.ok()) return Fail(s);
  std::cout << TextSummary(results[0]) << std::flush;
  if (!parsed.html.empty()) {
    if (absl::Status s = WriteTextFile(parsed.html, HtmlReport(results, names)); !s.ok()) {
      return Fail(s);
    }
  }
  return 0;
}

}  // namespace strata::loadtest
