#include "server/openai/response_builder.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "server/openai/api_error.h"

namespace strata::server::openai {
namespace {

using json = nlohmann::ordered_json;

constexpr char kReplacement[] = "\xEF\xBF\xBD";
constexpr double kMinLogprob = -9999.0;  // JSON has no -inf; vLLM clamps likewise

double ClampLogprob(float logprob) { return std::max<double>(logprob, kMinLogprob); }

json BytesJson(std::string_view bytes) {
  json out = json::array();
  for (unsigned char c : bytes) out.push_back(static_cast<int>(c));
  return out;
}

int64_t CountChars(std::string_view utf8) {
  return std::count_if(utf8.begin(), utf8.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

json ChoiceLogprobs(const ChoiceOutput& choice, const LogprobsSpec& spec, bool chat) {
  if (!spec.enabled) return nullptr;
  if (chat) return ChatLogprobsJson(choice.tokens, spec.top);
  int64_t offset = 0;
  return CompletionLogprobsJson(choice.tokens, spec.top, &offset);
}

json StopReason(const ChoiceOutput& choice) {
  return choice.stop_reason ? json(*choice.stop_reason) : json(nullptr);
}

}  // namespace

std::string NewResponseId(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  for (int i = 0; i < 2; ++i) {
    uint64_t bits = rng();
    for (int j = 0; j < 16; ++j, bits >>= 4) id += kHex[bits & 0xF];
  }
  return id;
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Utf8Lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t j = i + 1;
    int got = 0;
    while (got < need && j < s.size()) {
      const unsigned char d = s[j];
      if (d < lo || d > hi) break;
      lo = 0x80;
      hi = 0xBF;
      ++j;
      ++got;
    }
    if (got == need) {
      out.append(s.substr(i, j - i));
    } else {
      out += kReplacement;
    }
    i = j;
  }
  return out;
}

json UsageJson(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

json ChatLogprobsJson(const std::vector<TokenInfo>& tokens, int32_t top) {
  json content = json::array();
  for (const TokenInfo& t : tokens) {
    json alternatives = json::array();
    for (size_t i = 0; i < t.top.size() && i < static_cast<size_t>(top); ++i) {
      const TopLogprob& alt = t.top[i];
      alternatives.push_back({{"token", Utf8Lossy(alt.text)},
                              {"logprob", ClampLogprob(alt.logprob)},
                              {"bytes", BytesJson(alt.text)}});
    }
    content.push_back({{"token", Utf8Lossy(t.text)},
                       {"logprob", ClampLogprob(t.logprob)},
                       {"bytes", BytesJson(t.text)},
                       {"top_logprobs", std::move(alternatives)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

json CompletionLogprobsJson(const std::vector<TokenInfo>& tokens, int32_t top,
                            int64_t* text_offset) {
  json texts = json::array(), logprobs = json::array(), tops = json::array(),
       offsets = json::array();
  for (const TokenInfo& t : tokens) {
    const std::string text = Utf8Lossy(t.text);
    texts.push_back(text);
    logprobs.push_back(ClampLogprob(t.logprob));
    // The `top` most likely tokens and always the chosen one (up to top + 1 entries).
    json alternatives = json::object();
    for (size_t i = 0; i < t.top.size() && i < static_cast<size_t>(top); ++i) {
      alternatives[Utf8Lossy(t.top[i].text)] = ClampLogprob(t.top[i].logprob);
    }
    alternatives[text] = ClampLogprob(t.logprob);
    tops.push_back(std::move(alternatives));
    offsets.push_back(*text_offset);
    *text_offset += CountChars(text);
  }
  return {{"tokens", std::move(texts)},
          {"token_logprobs", std::move(logprobs)},
          {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

json ChatCompletionJson(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices,
                        const Usage& usage, const LogprobsSpec& logprobs) {
  json out_choices = json::array();
  for (const ChoiceOutput& c : choices) {
    out_choices.push_back(
        {{"index", c.index},
         {"message", {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}}},
         {"logprobs", ChoiceLogprobs(c, logprobs, /*chat=*/true)},
         {"finish_reason", c.finish_reason},
         {"stop_reason", StopReason(c)}});
  }
  return {{"id", meta.id},       {"object", "chat.completion"}, {"created", meta.created},
          {"model", meta.model}, {"choices", out_choices},      {"usage", UsageJson(usage)}};
}

json CompletionJson(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices,
                    const Usage& usage, const LogprobsSpec& logprobs) {
  json out_choices = json::array();
  for (const ChoiceOutput& c : choices) {
    out_choices.push_back({{"index", c.index},
                           {"text", c.text},
                           {"logprobs", ChoiceLogprobs(c, logprobs, /*chat=*/false)},
                           {"finish_reason", c.finish_reason},
                           {"stop_reason", StopReason(c)}});
  }
  return {{"id", meta.id},       {"object", "text_completion"}, {"created", meta.created},
          {"model", meta.model}, {"choices", out_choices},      {"usage", UsageJson(usage)}};
}

json ChatChunkJson(const ResponseMeta& meta, int index, json delta, json logprobs,
                   const std::optional<std::string>& finish_reason, bool include_usage) {
  json choice = {{"index", index},
                 {"delta", std::move(delta)},
                 {"logprobs", std::move(logprobs)},
                 {"finish_reason", finish_reason ? json(*finish_reason) : json(nullptr)}};
  json chunk = {{"id", meta.id},
                {"object", "chat.completion.chunk"},
                {"created", meta.created},
                {"model", meta.model},
                {"choices", json::array({std::move(choice)})}};
  if (include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json CompletionChunkJson(const ResponseMeta& meta, int index, const std::string& text,
                         json logprobs, const std::optional<std::string>& finish_reason,
                         bool include_usage) {
  json choice = {{"index", index},
                 {"text", text},
                 {"logprobs", std::move(logprobs)},
                 {"finish_reason", finish_reason ? json(*finish_reason) : json(nullptr)}};
  json chunk = {{"id", meta.id},
                {"object", "text_completion"},
                {"created", meta.created},
                {"model", meta.model},
                {"choices", json::array({std::move(choice)})}};
  if (include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json UsageChunkJson(const ResponseMeta& meta, std::string_view object, const Usage& usage) {
  return {{"id", meta.id},       {"object", std::string(object)}, {"created", meta.created},
          {"model", meta.model}, {"choices", json::array()},      {"usage", UsageJson(usage)}};
}

std::string SseData(const json& value) {
  std::string out = "data: ";
  out += DumpJson(value);
  out += "\n\n";
  return out;
}

json ModelJson(const std::string& name, int64_t created, int64_t max_model_len) {
  return {{"id", name},
          {"object", "model"},
          {"created", created},
          {"owned_by", "strata"},
          {"root", name},
          {"parent", nullptr},
          {"max_model_len", max_model_len}};
}

json ModelListJson(const std::string& name, int64_t created, int64_t max_model_len) {
  return {{"object", "list"}, {"data", json::array({ModelJson(name, created, max_model_len)})}};
}

}  // namespace strata::server::openai
