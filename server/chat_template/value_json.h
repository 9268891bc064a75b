// Conversion from nlohmann JSON (either flavour) to interpreter values. Object key order is
// whatever the JSON type iterates: insertion order for nlohmann::ordered_json (what Python's
// json module keeps), sorted for nlohmann::json.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "server/chat_template/value.h"

namespace strata::server::jinja {

template <typename Json>
Value FromJson(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      return Value::None();
    case Json::value_t::boolean:
      return Value::Bool(j.template get<bool>());
    case Json::value_t::number_integer:
      return Value::Int(j.template get<int64_t>());
    case Json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::Float(static_cast<double>(u));
      return Value::Int(static_cast<int64_t>(u));
    }
    case Json::value_t::number_float:
      return Value::Float(j.template get<double>());
    case Json::value_t::string:
      return Value::Str(j.template get<std::string>());
    case Json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(FromJson(e));
      return Value::List(std::move(items));
    }
    case Json::value_t::object: {
      auto d = std::make_shared<DictData>();
      d->entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) d->Set(it.key(), FromJson(it.value()));
      return Value::Dict(std::move(d));
    }
    case Json::value_t::binary:
      return Value::None();
  }
  return Value::None();
}

}  // namespace strata::server::jinja
