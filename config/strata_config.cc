#include "config/strata_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "config/config_fields.h"
#include "config/config_validate.h"
#include "yaml-cpp/yaml.h"

namespace strata::config {
namespace {

// yaml-cpp tags quoted scalars "!" and plain ones "?": a quoted "8000" is a string.
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

// The received value, for "got ..." in messages.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      return absl::StrCat("\"", node.Scalar(), "\"");
    default:
      return "nothing";
  }
}

std::optional<bool> ParseBool(std::string_view text) {
  std::string lower = absl::AsciiStrToLower(std::string(text));
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

// Stores `node` into the member behind `ref`; on a type mismatch returns the reason.
std::optional<std::string> Decode(const YAML::Node& node, const FieldRef& ref) {
  const std::string expected =
      absl::StrCat("expected ", std::string(TypeName(ref)), ", got ", Describe(node));
  if (auto* s = std::get_if<std::string*>(&ref)) {
    if (node.IsNull()) {
      **s = "";
    } else if (node.IsScalar()) {
      **s = node.Scalar();
    } else {
      return expected;
    }
    return std::nullopt;
  }
  if (!node.IsScalar() || IsQuoted(node)) return expected;
  const std::string& text = node.Scalar();
  if (auto* b = std::get_if<bool*>(&ref)) {
    std::optional<bool> value = ParseBool(text);
    if (!value) return expected;
    **b = *value;
  } else if (auto* d = std::get_if<double*>(&ref)) {
    double value;
    if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) return expected;
    **d = value;
  } else {
    int64_t value;
    if (!absl::SimpleAtoi(text, &value)) return expected;
    if (auto* i64 = std::get_if<int64_t*>(&ref)) {
      **i64 = value;
    } else {
      using Limits = std::numeric_limits<int>;
      if (value < Limits::min() || value > Limits::max()) {
        return absl::StrCat("expected an integer in [", Limits::min(), ", ", Limits::max(),
                            "], got ", Describe(node));
      }
      *std::get<int*>(ref) = static_cast<int>(value);
    }
  }
  return std::nullopt;
}

// "server, model, worker, cache, scheduler".
std::string SectionList() {
  std::string list;
  for (std::string_view section : Sections()) {
    if (!list.empty()) list += ", ";
    list += section;
  }
  return list;
}

std::string UnknownKey(const std::string& path, std::optional<std::string> suggestion) {
  if (!suggestion) return absl::StrCat(path, ": unknown key");
  return absl::StrCat(path, ": unknown key (did you mean ", *suggestion, "?)");
}

// Walks a parsed document or override strings into a StrataConfig, collecting one message
// per problem; each message starts with where it came from.
class Reader {
 public:
  Reader(std::string_view source, StrataConfig& config) : source_(source), config_(config) {}

  void ReadDocument(const YAML::Node& root) {
    if (root.IsNull()) return;
    if (!root.IsMap()) {
      Error(root.Mark(),
            absl::StrCat("expected a map of sections (", SectionList(), "), got ", Describe(root)));
      return;
    }
    std::set<std::string> seen;
    for (const auto& entry : root) {
      const YAML::Node& name = entry.first;
      const std::string& section = name.Scalar();
      if (!seen.insert(section).second) {
        Error(name.Mark(), absl::StrCat(section, ": duplicate section"));
      } else if (std::find(Sections().begin(), Sections().end(), section) == Sections().end()) {
        std::optional<std::string> suggestion = SuggestKey(section, "");
        std::string message = absl::StrCat(section, ": unknown section");
        if (suggestion) absl::StrAppend(&message, " (did you mean ", *suggestion, "?)");
        Error(name.Mark(), message);
      } else {
        ReadSection(section, entry.second);
      }
    }
  }

  // Applies one "key.path=value" override.
  void ApplyOverride(const std::string& override_text) {
    const std::string where = absl::StrCat("--set ", override_text, ": ");
    size_t eq = override_text.find('=');
    const std::string path(
        absl::StripAsciiWhitespace(absl::string_view(override_text).substr(0, eq)));
    if (eq == std::string::npos || path.empty()) {
      errors_.push_back(absl::StrCat(where, "malformed override, expected key.path=value"));
      return;
    }
    const Field* field = FindField(path);
    if (field == nullptr) {
      size_t dot = path.find('.');
      std::optional<std::string> suggestion =
          dot == std::string::npos ? SuggestKey("", path)  // a bare key: look in every section
                                   : SuggestKey(path.substr(0, dot), path.substr(dot + 1));
      errors_.push_back(absl::StrCat(where, UnknownKey(path, suggestion)));
      return;
    }
    YAML::Node value;
    try {
      value = YAML::Load(override_text.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      errors_.push_back(absl::StrCat(where, path, ": invalid YAML value: ", e.msg));
      return;
    }
    if (std::optional<std::string> problem = Decode(value, field->ref(config_))) {
      errors_.push_back(absl::StrCat(where, path, ": ", *problem));
    }
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  void ReadSection(const std::string& section, const YAML::Node& node) {
    if (node.IsNull()) return;  // "cache:" with nothing under it
    if (!node.IsMap()) {
      Error(node.Mark(), absl::StrCat(section, ": expected a map of keys, got ", Describe(node)));
      return;
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      const std::string path = absl::StrCat(section, ".", entry.first.Scalar());
      const Field* field = FindField(path);
      if (!seen.insert(path).second) {
        Error(entry.first.Mark(), absl::StrCat(path, ": duplicate key"));
      } else if (field == nullptr) {
        Error(entry.first.Mark(), UnknownKey(path, SuggestKey(section, entry.first.Scalar())));
      } else if (std::optional<std::string> problem = Decode(entry.second, field->ref(config_))) {
        Error(entry.second.Mark(), absl::StrCat(path, ": ", *problem));
      }
    }
  }

  void Error(const YAML::Mark& mark, const std::string& message) {
    if (mark.is_null()) {
      errors_.push_back(absl::StrCat(source_, ": ", message));
    } else {
      errors_.push_back(
          absl::StrCat(source_, ":", mark.line + 1, ":", mark.column + 1, ": ", message));
    }
  }

  std::string source_;
  StrataConfig& config_;
  std::vector<std::string> errors_;
};

// Shortest text that reads back as the same double, always with a '.' or exponent so a
// reader sees a number with a fraction.
std::string FormatDouble(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, end);
  if (text.find_first_of(".einf") == std::string::npos) text += ".0";
  return text;
}

absl::StatusOr<StrataConfig> ParseConfigOrThrow(std::string_view yaml_text, std::string_view source,
                                                const std::vector<std::string>& overrides) {
  const std::string where = source.empty() ? "<config>" : std::string(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", e.msg));
    return absl::InvalidArgumentError(absl::StrCat(where, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": invalid YAML: ", e.msg));
  }
  StrataConfig config;
  Reader reader(where, config);
  reader.ReadDocument(root);
  for (const std::string& override_text : overrides) reader.ApplyOverride(override_text);
  if (!reader.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(reader.errors(), "\n"));
  }
  STRATA_RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

}  // namespace

absl::StatusOr<StrataConfig> ParseConfig(std::string_view yaml_text, std::string_view source,
                                         const std::vector<std::string>& overrides) {
  try {
    return ParseConfigOrThrow(yaml_text, source, overrides);
  } catch (const std::exception& e) {
    // yaml-cpp throws from node access too; nothing may escape this module.
    return absl::InternalError(
        absl::StrCat(std::string(source), ": reading the configuration: ", e.what()));
  }
}

absl::StatusOr<StrataConfig> LoadConfig(const std::string& path,
                                        const std::vector<std::string>& overrides) {
  if (path.empty()) return ParseConfig("", "<defaults>", overrides);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": config file not found"));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a config file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || !text) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot read config file"));
  }
  return ParseConfig(text.str(), path, overrides);
}

std::string ToYaml(const StrataConfig& config) {
  StrataConfig copy = config;  // Field accessors take a mutable config.
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (std::string_view section : Sections()) {
    out << YAML::Key << std::string(section) << YAML::Value << YAML::BeginMap;
    for (const Field& field : Fields()) {
      if (field.section() != section) continue;
      out << YAML::Key << std::string(field.key()) << YAML::Value;
      FieldRef ref = field.ref(copy);
      if (auto* s = std::get_if<std::string*>(&ref)) {
        out << YAML::DoubleQuoted << **s;
      } else if (auto* d = std::get_if<double*>(&ref)) {
        out << FormatDouble(**d);
      } else if (auto* b = std::get_if<bool*>(&ref)) {
        out << YAML::TrueFalseBool << **b;
      } else if (auto* i = std::get_if<int*>(&ref)) {
        out << **i;
      } else {
        out << *std::get<int64_t*>(ref);
      }
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return absl::StrCat(out.c_str(), "\n");
}

absl::StatusOr<std::vector<LayerGroupRow>> ParseLayerGroupTable(std::string_view table) {
  const absl::string_view text(table.data(), table.size());
  std::vector<LayerGroupRow> rows;
  if (absl::StripAsciiWhitespace(text).empty()) return rows;
  for (absl::string_view entry : absl::StrSplit(text, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t colon = entry.find(':');  // npos: not an entry
    LayerGroupRow row;
    if (colon == absl::string_view::npos ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(entry.substr(0, colon)), &row.max_tokens) ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(entry.substr(colon + 1)), &row.groups)) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry \"", entry, "\" is not TOKENS:GROUPS (e.g. 512:1,1024:2)"));
    }
    if (row.max_tokens <= 0 || row.groups < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry \"", entry, "\" needs TOKENS > 0 and GROUPS >= 1"));
    }
    if (!rows.empty() && row.max_tokens <= rows.back().max_tokens) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry \"", entry, "\": TOKENS must be strictly ascending"));
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace strata::config
