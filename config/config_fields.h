// The schema of StrataConfig as a table: one Field per key path ("cache.block_size"), each
// giving typed access to the member it names. Parsing, overrides and ToYaml all walk this
// table, so a key exists in exactly one place. Internal to config/ (and its tests).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "config/strata_config.h"

namespace strata::config {

// A pointer to one member of a StrataConfig; the alternative is the key's type.
using FieldRef = std::variant<std::string*, int*, int64_t*, double*, bool*>;

struct Field {
  std::string_view path;  // "section.key"
  FieldRef (*ref)(StrataConfig&);

  std::string_view section() const { return path.substr(0, path.find('.')); }
  std::string_view key() const { return path.substr(path.find('.') + 1); }
};

// Every key, grouped by section in the order server, model, worker, cache, scheduler.
std::span<const Field> Fields();

// The section names, in the order above.
std::span<const std::string_view> Sections();

// The field named by `path`, or nullptr.
const Field* FindField(std::string_view path);

// For an unknown `section.key`: the closest known key path when it is a plausible typo, else
// nullopt. With `key` empty, `section` is matched against the section names; with `section`
// empty, `key` is matched against the keys of every section.
std::optional<std::string> SuggestKey(std::string_view section, std::string_view key);

// "expected an integer" style name of the type behind `ref`.
std::string_view TypeName(const FieldRef& ref);

}  // namespace strata::config
