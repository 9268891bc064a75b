// Byte-level BPE tokenizer loaded from a Hugging Face model directory (tokenizer.json and
// tokenizer_config.json), matching the Rust `tokenizers` library for the Llama-3 and
// Qwen2/Qwen3 families: added/special tokens, NFC normalizer, Split pre-tokenizer, byte-level
// BPE with ignore_merges, byte-level decoder. Immutable after Load(); every method is const
// and safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/tokenizer/added_tokens.h"
#include "server/tokenizer/bpe_model.h"
#include "server/tokenizer/pre_tokenizer.h"
#include "server/tokenizer/string_map.h"

namespace strata::server {

class Tokenizer {
 public:
  // Reads `dir`/tokenizer.json and `dir`/tokenizer_config.json (both required). The chat
  // template comes from tokenizer_config.json's "chat_template" (a string, or a list of
  // {name, template} from which "default" is taken), else from `dir`/chat_template.jinja.
  // Unsupported normalizers, pre-tokenizers, models, decoders or post-processors are
  // InvalidArgument errors naming the offending part; missing files are NotFound.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& dir);
  // The same from in-memory JSON texts; `dir_for_messages` only labels errors.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view tokenizer_json,
                                                             std::string_view config_json,
                                                             std::string_view dir_for_messages);
  ~Tokenizer();

  // Token ids of `text`, without BOS/EOS or any template tokens. Added-token text inside
  // `text` (e.g. "<|im_start|>") becomes that token, as in Hugging Face's encode(text,
  // add_special_tokens=False). Invalid UTF-8 is not an error: stray bytes are encoded as
  // byte tokens.
  std::vector<int32_t> Encode(std::string_view text) const;
  // Encode() plus the tokens the model expects around a single sequence: those of a
  // TemplateProcessing post-processor if tokenizer.json has one, else BOS/EOS as
  // tokenizer_config.json's add_bos_token / add_eos_token say (both default to false).
  std::vector<int32_t> EncodeWithSpecial(std::string_view text) const;

  // Text of `ids`: byte-level decoded, invalid UTF-8 replaced by U+FFFD per maximal
  // ill-formed subsequence. Unknown ids are skipped; special tokens too when asked.
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token's spelling (byte-level for model tokens); empty for an unknown id.
  std::string_view IdToToken(int32_t id) const;
  // The raw bytes a token decodes to (possibly not valid UTF-8 on its own); empty for an
  // unknown id.
  std::string_view TokenBytes(int32_t id) const;
  // One past the largest id of the model vocabulary and the added tokens.
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }
  // Whether `id` is an added token marked "special" (skipped by skip_special_tokens).
  bool IsSpecial(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_tokens_; }

  // From tokenizer_config.json ("bos_token" etc. as strings or {"content": ...} objects).
  std::optional<std::string> bos_token() const { return bos_token_; }
  std::optional<std::string> eos_token() const { return eos_token_; }
  std::optional<std::string> pad_token() const { return pad_token_; }
  std::optional<std::string> unk_token() const { return unk_token_; }
  std::optional<int32_t> bos_token_id() const;
  std::optional<int32_t> eos_token_id() const;
  bool add_bos_token() const { return add_bos_token_; }
  bool add_eos_token() const { return add_eos_token_; }
  const std::string& chat_template() const { return chat_template_; }
  // Whether the normalizer is NFC (Qwen) or absent (Llama-3).
  bool normalizes_nfc() const { return nfc_; }

 private:
  Tokenizer() = default;
  absl::Status ParseTokenizerJson(std::string_view text);
  absl::Status ParseConfigJson(std::string_view text);
  void EncodePlain(std::string_view text, std::vector<int32_t>* ids) const;
  void EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const;
  std::optional<int32_t> OptionalTokenId(const std::optional<std::string>& token) const;

  std::unique_ptr<BpeModel> model_;
  std::optional<PreTokenizer> pre_tokenizer_;
  bool nfc_ = false;
  std::vector<AddedToken> added_tokens_;
  AddedTokenMatcher raw_matcher_;         // added tokens with normalized=false
  AddedTokenMatcher normalized_matcher_;  // added tokens with normalized=true
  StringMap<int32_t> added_by_content_;

  std::vector<std::string> id_to_token_;  // empty string for unused ids
  std::vector<std::string> id_to_bytes_;
  std::vector<bool> is_special_;

  std::vector<int32_t> template_prefix_;
  std::vector<int32_t> template_suffix_;
  bool has_template_ = false;

  std::optional<std::string> bos_token_, eos_token_, pad_token_, unk_token_;
  bool add_bos_token_ = false;
  bool add_eos_token_ = false;
  std::string chat_template_;
};

// Streaming detokenization: Push() returns the text that the ids so far add, holding back
// the bytes of a character split across tokens until it completes. Every returned chunk is
// valid UTF-8, and the concatenation of all chunks (Finish() included) equals
// Tokenizer::Decode() of all pushed ids. One per stream; not thread-safe; the tokenizer must
// outlive it.
class IncrementalDecoder {
 public:
  IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);
  std::string Push(int32_t id);
  // Flushes held-back bytes; an incomplete character becomes U+FFFD. The decoder may be
  // reused for a new stream afterwards.
  std::string Finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // bytes of an incomplete UTF-8 sequence (at most 3)
};

}  // namespace strata::server
