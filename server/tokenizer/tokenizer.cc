// Encoding, decoding and lookups; loading lives in tokenizer_load.cc.
#include "server/tokenizer/tokenizer.h"

#include "server/tokenizer/unicode.h"

namespace strata::server {

Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (raw_matcher_.empty()) {
    EncodeNormalized(text, &ids);
    return ids;
  }
  std::vector<TextSegment> segments;
  raw_matcher_.Split(text, &segments);
  for (const TextSegment& segment : segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
    } else {
      EncodeNormalized(segment.text, &ids);
    }
  }
  return ids;
}

std::vector<int32_t> Tokenizer::EncodeWithSpecial(std::string_view text) const {
  std::vector<int32_t> body = Encode(text);
  std::vector<int32_t> ids;
  ids.reserve(body.size() + 2);
  if (has_template_) {
    ids.insert(ids.end(), template_prefix_.begin(), template_prefix_.end());
    ids.insert(ids.end(), body.begin(), body.end());
    ids.insert(ids.end(), template_suffix_.begin(), template_suffix_.end());
    return ids;
  }
  if (add_bos_token_) {
    if (std::optional<int32_t> bos = bos_token_id()) ids.push_back(*bos);
  }
  ids.insert(ids.end(), body.begin(), body.end());
  if (add_eos_token_) {
    if (std::optional<int32_t> eos = eos_token_id()) ids.push_back(*eos);
  }
  return ids;
}

// Runs the normalizer over a piece between raw-matched added tokens, then matches the
// normalized added tokens, then pre-tokenizes and runs BPE.
void Tokenizer::EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const {
  if (text.empty()) return;
  std::string normalized;
  if (nfc_ && !unicode::IsNfcQuickYes(text)) {
    normalized = unicode::NfcNormalize(text);
    text = normalized;
  }
  if (normalized_matcher_.empty()) {
    EncodePlain(text, ids);
    return;
  }
  std::vector<TextSegment> segments;
  normalized_matcher_.Split(text, &segments);
  for (const TextSegment& segment : segments) {
    if (segment.id >= 0) {
      ids->push_back(segment.id);
    } else {
      EncodePlain(segment.text, ids);
    }
  }
}

void Tokenizer::EncodePlain(std::string_view text, std::vector<int32_t>* ids) const {
  if (text.empty()) return;
  if (!pre_tokenizer_.has_value()) {
    model_->EncodeWord(text, ids);
    return;
  }
  std::vector<std::string_view> pieces;
  pieces.reserve(text.size() / 4 + 1);
  pre_tokenizer_->Split(text, &pieces);
  for (std::string_view piece : pieces) model_->EncodeWord(piece, ids);
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  bytes.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    if (skip_special_tokens && is_special_[id]) continue;
    bytes += id_to_bytes_[id];
  }
  return unicode::Utf8Lossy(bytes);
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (const auto it = added_by_content_.find(token); it != added_by_content_.end()) {
    return it->second;
  }
  if (const auto it = model_->vocab().find(token); it != model_->vocab().end()) {
    return it->second;
  }
  return std::nullopt;
}

std::string_view Tokenizer::IdToToken(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return id_to_token_[id];
}

std::string_view Tokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return id_to_bytes_[id];
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && is_special_[id];
}

std::optional<int32_t> Tokenizer::OptionalTokenId(const std::optional<std::string>& token) const {
  if (!token.has_value()) return std::nullopt;
  return TokenToId(*token);
}

std::optional<int32_t> Tokenizer::bos_token_id() const { return OptionalTokenId(bos_token_); }
std::optional<int32_t> Tokenizer::eos_token_id() const { return OptionalTokenId(eos_token_); }

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDecoder::Push(int32_t id) {
  if (skip_special_tokens_ && tokenizer_.IsSpecial(id)) return {};
  const std::string_view bytes = tokenizer_.TokenBytes(id);
  if (bytes.empty()) return {};
  pending_.append(bytes);
  // Everything before a trailing, still-completable partial character decodes the same now
  // as it will in the full text: no character or ill-formed subsequence spans that point.
  const size_t hold = unicode::IncompleteUtf8Suffix(pending_);
  std::string out =
      unicode::Utf8Lossy(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string IncrementalDecoder::Finish() {
  std::string out = unicode::Utf8Lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace strata::server
