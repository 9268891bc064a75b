// Tokenizer::Load: parsing tokenizer.json and tokenizer_config.json.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/unicode.h"

namespace strata::server {
namespace {

using Json = nlohmann::json;

absl::StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("tokenizer: ", path.string(), " not found"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("tokenizer: cannot open ", path.string()));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("tokenizer: cannot read ", path.string()));
  return buffer.str();
}

absl::StatusOr<Json> ParseJson(std::string_view text, std::string_view what) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": not valid JSON"));
  }
  if (!j.is_object())
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": not a JSON object"));
  return j;
}

std::string TypeOf(const Json& j) {
  return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                      : std::string("?");
}

absl::Status Unsupported(std::string_view part, const Json& j) {
  return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: unsupported ", std::string(part),
                                                 ": ", j.dump().substr(0, 300)));
}

// Token strings in tokenizer_config.json are plain strings or AddedToken objects.
std::optional<std::string> ConfigToken(const Json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return std::nullopt;
}

// Collects the normalizers into `nfc`; only NFC (alone or in a Sequence) is supported.
absl::Status ParseNormalizer(const Json& n, bool* nfc) {
  if (n.is_null()) return absl::OkStatus();
  const std::string type = TypeOf(n);
  if (type == "NFC") {
    *nfc = true;
    return absl::OkStatus();
  }
  if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
    for (const Json& child : n["normalizers"]) STRATA_RETURN_IF_ERROR(ParseNormalizer(child, nfc));
    return absl::OkStatus();
  }
  return Unsupported("normalizer (supported: none or NFC)", n);
}

absl::Status CheckByteLevelPreTokenizer(const Json& p) {
  if (p.value("add_prefix_space", false) || p.value("use_regex", true)) {
    return Unsupported("ByteLevel pre-tokenizer (need add_prefix_space=false, use_regex=false)", p);
  }
  return absl::OkStatus();
}

absl::Status ParsePreTokenizer(const Json& p, std::optional<PreTokenizer>* out) {
  if (p.is_null()) return Unsupported("pre_tokenizer (none; need Split + ByteLevel)", p);
  std::vector<Json> steps;
  if (TypeOf(p) == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].is_array()) {
    steps.assign(p["pretokenizers"].begin(), p["pretokenizers"].end());
  } else {
    steps.push_back(p);
  }
  bool byte_level = false;
  for (const Json& step : steps) {
    const std::string type = TypeOf(step);
    if (type == "Split" && !byte_level && !out->has_value()) {
      const Json pattern = step.value("pattern", Json());
      if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string() ||
          step.value("behavior", "") != "Isolated" || step.value("invert", false)) {
        return Unsupported("Split pre-tokenizer (need a Regex pattern, Isolated, no invert)", step);
      }
      STRATA_ASSIGN_OR_RETURN(PreTokenizer split,
                              PreTokenizer::FromRegex(pattern["Regex"].get<std::string>()));
      out->emplace(split);
    } else if (type == "ByteLevel" && !byte_level) {
      STRATA_RETURN_IF_ERROR(CheckByteLevelPreTokenizer(step));
      byte_level = true;
    } else {
      return Unsupported("pre_tokenizer (supported: Sequence[Split(regex), ByteLevel])", p);
    }
  }
  if (!byte_level) return Unsupported("pre_tokenizer (no ByteLevel step)", p);
  return absl::OkStatus();
}

absl::Status CheckDecoder(const Json& d) {
  const std::string type = TypeOf(d);
  if (type == "ByteLevel") return absl::OkStatus();
  if (type == "Sequence" && d.contains("decoders") && d["decoders"].is_array() &&
      d["decoders"].size() == 1) {
    return CheckDecoder(d["decoders"][0]);
  }
  return Unsupported("decoder (supported: ByteLevel)", d);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& dir) {
  const std::filesystem::path root(dir);
  STRATA_ASSIGN_OR_RETURN(std::string tokenizer_json, ReadWholeFile(root / "tokenizer.json"));
  STRATA_ASSIGN_OR_RETURN(std::string config_json, ReadWholeFile(root / "tokenizer_config.json"));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                          FromJson(tokenizer_json, config_json, dir));
  if (tokenizer->chat_template_.empty()) {
    const std::filesystem::path jinja = root / "chat_template.jinja";
    std::error_code ec;
    if (std::filesystem::is_regular_file(jinja, ec)) {
      STRATA_ASSIGN_OR_RETURN(tokenizer->chat_template_, ReadWholeFile(jinja));
    }
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view tokenizer_json,
                                                               std::string_view config_json,
                                                               std::string_view dir) {
  auto tokenizer = std::unique_ptr<Tokenizer>(new Tokenizer());
  absl::Status status;
  try {
    status = tokenizer->ParseTokenizerJson(tokenizer_json);
    if (status.ok()) status = tokenizer->ParseConfigJson(config_json);
  } catch (const nlohmann::json::exception& e) {
    // A field of an unexpected JSON type.
    status = absl::InvalidArgumentError(absl::StrCat("tokenizer files: ", e.what()));
  }
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat(status.message(), " (in ", std::string(dir), ")"));
  }
  return tokenizer;
}

absl::Status Tokenizer::ParseTokenizerJson(std::string_view text) {
  STRATA_ASSIGN_OR_RETURN(const Json root, ParseJson(text, "tokenizer.json"));
  STRATA_RETURN_IF_ERROR(ParseNormalizer(root.value("normalizer", Json()), &nfc_));
  STRATA_RETURN_IF_ERROR(ParsePreTokenizer(root.value("pre_tokenizer", Json()), &pre_tokenizer_));
  STRATA_RETURN_IF_ERROR(CheckDecoder(root.value("decoder", Json())));
  if (!root.contains("model")) return absl::InvalidArgumentError("tokenizer.json: no model");
  STRATA_ASSIGN_OR_RETURN(model_, BpeModel::FromJson(root["model"]));

  // Added tokens.
  const Json added = root.value("added_tokens", Json::array());
  if (!added.is_array())
    return absl::InvalidArgumentError("tokenizer.json: added_tokens is not an array");
  for (const Json& t : added) {
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        !t.contains("content") || !t["content"].is_string() || t["id"].get<int64_t>() < 0 ||
        t["id"].get<int64_t>() > INT32_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer.json: bad added token ", t.dump().substr(0, 200)));
    }
    AddedToken token;
    token.id = t["id"].get<int32_t>();
    token.content = t["content"].get<std::string>();
    token.special = t.value("special", false);
    token.single_word = t.value("single_word", false);
    token.lstrip = t.value("lstrip", false);
    token.rstrip = t.value("rstrip", false);
    token.normalized = t.value("normalized", !token.special);
    added_tokens_.push_back(std::move(token));
  }
  // Matching order is special tokens first, then the others, as upstream builds its tries.
  std::vector<AddedToken> ordered;
  for (bool special : {true, false}) {
    for (const AddedToken& t : added_tokens_) {
      if (t.special == special) ordered.push_back(t);
    }
  }
  std::vector<std::string> raw_patterns, normalized_patterns;
  std::vector<AddedToken> raw_tokens, normalized_tokens;
  for (const AddedToken& t : ordered) {
    if (t.normalized) {
      normalized_patterns.push_back(nfc_ ? unicode::NfcNormalize(t.content) : t.content);
      normalized_tokens.push_back(t);
    } else {
      raw_patterns.push_back(t.content);
      raw_tokens.push_back(t);
    }
  }
  raw_matcher_ = AddedTokenMatcher(raw_patterns, raw_tokens);
  normalized_matcher_ = AddedTokenMatcher(normalized_patterns, normalized_tokens);

  // Id tables: model vocabulary first, added tokens override.
  int32_t size = 0;
  for (const auto& [token, id] : model_->vocab()) size = std::max(size, id + 1);
  for (const AddedToken& t : added_tokens_) size = std::max(size, t.id + 1);
  id_to_token_.assign(size, std::string());
  for (const auto& [token, id] : model_->vocab()) id_to_token_[id] = token;
  for (const AddedToken& t : added_tokens_) {
    id_to_token_[t.id] = t.content;
    added_by_content_[t.content] = t.id;
  }
  is_special_.assign(size, false);
  StringMap<bool> special_content;
  for (const AddedToken& t : added_tokens_) {
    if (t.special) special_content[t.content] = true;
  }
  id_to_bytes_.resize(size);
  for (int32_t id = 0; id < size; ++id) {
    const std::string& token = id_to_token_[id];
    is_special_[id] = special_content.contains(token);
    // Upstream's byte-level decoder falls back to a token's own UTF-8 when some character of
    // it is outside the byte alphabet.
    std::optional<std::string> bytes = byte_level::Decode(token);
    id_to_bytes_[id] = bytes.has_value() ? std::move(*bytes) : token;
  }

  // Post-processor: only a TemplateProcessing changes the ids.
  const Json post = root.value("post_processor", Json());
  std::vector<Json> processors;
  if (TypeOf(post) == "Sequence" && post.contains("processors") && post["processors"].is_array()) {
    processors.assign(post["processors"].begin(), post["processors"].end());
  } else if (!post.is_null()) {
    processors.push_back(post);
  }
  for (const Json& p : processors) {
    const std::string type = TypeOf(p);
    if (type == "ByteLevel") continue;
    if (type != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array()) {
      return Unsupported("post_processor (supported: ByteLevel, TemplateProcessing)", p);
    }
    has_template_ = true;
    template_prefix_.clear();
    template_suffix_.clear();
    bool seen_sequence = false;
    const Json specials = p.value("special_tokens", Json::object());
    for (const Json& piece : p["single"]) {
      if (piece.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      const Json st = piece.value("SpecialToken", Json());
      if (!st.is_object() || !st.contains("id") || !st["id"].is_string()) {
        return Unsupported("TemplateProcessing piece", piece);
      }
      const std::string name = st["id"].get<std::string>();
      std::vector<int32_t> ids;
      if (specials.contains(name) && specials[name].contains("ids")) {
        for (const Json& id : specials[name]["ids"]) ids.push_back(id.get<int32_t>());
      } else if (std::optional<int32_t> id = TokenToId(name)) {
        ids.push_back(*id);
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("tokenizer.json: template token '", name, "' is unknown"));
      }
      std::vector<int32_t>& target = seen_sequence ? template_suffix_ : template_prefix_;
      target.insert(target.end(), ids.begin(), ids.end());
    }
  }
  return absl::OkStatus();
}

absl::Status Tokenizer::ParseConfigJson(std::string_view text) {
  STRATA_ASSIGN_OR_RETURN(const Json config, ParseJson(text, "tokenizer_config.json"));
  bos_token_ = ConfigToken(config, "bos_token");
  eos_token_ = ConfigToken(config, "eos_token");
  pad_token_ = ConfigToken(config, "pad_token");
  unk_token_ = ConfigToken(config, "unk_token");
  const Json add_bos = config.value("add_bos_token", Json());
  const Json add_eos = config.value("add_eos_token", Json());
  add_bos_token_ = add_bos.is_boolean() && add_bos.get<bool>();
  add_eos_token_ = add_eos.is_boolean() && add_eos.get<bool>();
  const Json chat = config.value("chat_template", Json());
  if (chat.is_string()) {
    chat_template_ = chat.get<std::string>();
  } else if (chat.is_array()) {
    for (const Json& named : chat) {
      if (named.is_object() && named.value("name", "") == "default" && named.contains("template") &&
          named["template"].is_string()) {
        chat_template_ = named["template"].get<std::string>();
      }
    }
  } else if (!chat.is_null()) {
    return absl::InvalidArgumentError("tokenizer_config.json: chat_template is not a string");
  }
  for (const auto& token : {bos_token_, eos_token_}) {
    if (token.has_value() && !TokenToId(*token).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: special token '",
                                                     *token, "' is not in the vocabulary"));
    }
  }
  return absl::OkStatus();
}

}  // namespace strata::server
