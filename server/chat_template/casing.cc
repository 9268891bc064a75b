// Python's Unicode case mappings over the generated tables of case_table.cc.
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/chat_template/case_table.h"
#include "server/chat_template/text.h"

namespace strata::server::jinja {
namespace {

using case_table::CaseRun;
using case_table::CaseSpecial;

struct Tables {
  absl::flat_hash_map<char32_t, char32_t> lower, upper;
  absl::flat_hash_map<char32_t, const char*> lower_special, upper_special, title_special;
  absl::flat_hash_set<char32_t> lowercase, uppercase, titlecase;
};

void AddRuns(const CaseRun* runs, size_t n, absl::flat_hash_map<char32_t, char32_t>* map,
             absl::flat_hash_set<char32_t>* set) {
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t k = 0; k < runs[i].count; ++k) {
      const char32_t c = runs[i].first + k * runs[i].stride;
      if (map != nullptr)
        (*map)[c] = static_cast<char32_t>(static_cast<int64_t>(c) + runs[i].delta);
      if (set != nullptr) set->insert(c);
    }
  }
}

void AddSpecial(const CaseSpecial* specials, size_t n,
                absl::flat_hash_map<char32_t, const char*>* map) {
  for (size_t i = 0; i < n; ++i) (*map)[specials[i].code_point] = specials[i].utf8;
}

const Tables& T() {
  static const Tables* tables = [] {
    auto* t = new Tables;
    using namespace case_table;
    AddRuns(kLowerRuns, kLowerRunsSize, &t->lower, nullptr);
    AddRuns(kUpperRuns, kUpperRunsSize, &t->upper, nullptr);
    AddSpecial(kLowerSpecial, kLowerSpecialSize, &t->lower_special);
    AddSpecial(kUpperSpecial, kUpperSpecialSize, &t->upper_special);
    AddSpecial(kTitleSpecial, kTitleSpecialSize, &t->title_special);
    AddRuns(kLowercase, kLowercaseSize, nullptr, &t->lowercase);
    AddRuns(kUppercase, kUppercaseSize, nullptr, &t->uppercase);
    AddRuns(kTitlecase, kTitlecaseSize, nullptr, &t->titlecase);
    return t;
  }();
  return *tables;
}

bool IsCased(char32_t c) {
  const Tables& t = T();
  return t.lowercase.contains(c) || t.uppercase.contains(c) || t.titlecase.contains(c);
}

// Combining marks and the usual apostrophes count as case-ignorable for the sigma rule.
bool IsCaseIgnorable(char32_t c) {
  return (c >= 0x300 && c <= 0x36F) || c == '\'' || c == 0x2019 || c == '.' || c == ':' ||
         c == 0xB7;
}

void AppendLower(const std::u32string& cs, size_t i, std::string* out) {
  const char32_t c = cs[i];
  const Tables& t = T();
  if (c == 0x3A3) {  // Σ: final form when it ends a word.
    size_t p = i;
    while (p > 0 && IsCaseIgnorable(cs[p - 1])) --p;
    size_t n = i + 1;
    while (n < cs.size() && IsCaseIgnorable(cs[n])) ++n;
    const bool final_sigma = p > 0 && IsCased(cs[p - 1]) && !(n < cs.size() && IsCased(cs[n]));
    AppendUtf8(final_sigma ? 0x3C2 : 0x3C3, out);
    return;
  }
  if (auto it = t.lower_special.find(c); it != t.lower_special.end()) {
    out->append(it->second);
  } else if (auto m = t.lower.find(c); m != t.lower.end()) {
    AppendUtf8(m->second, out);
  } else {
    AppendUtf8(c, out);
  }
}

void AppendUpper(char32_t c, std::string* out) {
  const Tables& t = T();
  if (auto it = t.upper_special.find(c); it != t.upper_special.end()) {
    out->append(it->second);
  } else if (auto m = t.upper.find(c); m != t.upper.end()) {
    AppendUtf8(m->second, out);
  } else {
    AppendUtf8(c, out);
  }
}

void AppendTitle(char32_t c, std::string* out) {
  const Tables& t = T();
  if (auto it = t.title_special.find(c); it != t.title_special.end()) {
    out->append(it->second);
  } else {
    AppendUpper(c, out);
  }
}

}  // namespace

std::string PyLower(std::string_view s) {
  if (IsAscii(s)) return AsciiLower(s);
  const std::u32string cs = DecodeUtf8(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < cs.size(); ++i) AppendLower(cs, i, &out);
  return out;
}

std::string PyUpper(std::string_view s) {
  if (IsAscii(s)) return AsciiUpper(s);
  std::string out;
  out.reserve(s.size());
  for (char32_t c : DecodeUtf8(s)) AppendUpper(c, &out);
  return out;
}

std::string PyTitle(std::string_view s) {
  const std::u32string cs = DecodeUtf8(s);
  std::string out;
  bool previous_cased = false;
  for (size_t i = 0; i < cs.size(); ++i) {
    if (previous_cased) {
      AppendLower(cs, i, &out);
    } else {
      AppendTitle(cs[i], &out);
    }
    previous_cased = IsCased(cs[i]);
  }
  return out;
}

std::string PyCapitalize(std::string_view s) {
  const std::u32string cs = DecodeUtf8(s);
  std::string out;
  for (size_t i = 0; i < cs.size(); ++i) {
    if (i == 0) {
      AppendTitle(cs[0], &out);
    } else {
      AppendLower(cs, i, &out);
    }
  }
  return out;
}

std::string PySwapcase(std::string_view s) {
  const Tables& t = T();
  const std::u32string cs = DecodeUtf8(s);
  std::string out;
  for (size_t i = 0; i < cs.size(); ++i) {
    if (t.uppercase.contains(cs[i])) {
      AppendLower(cs, i, &out);
    } else if (t.lowercase.contains(cs[i])) {
      AppendUpper(cs[i], &out);
    } else {
      AppendUtf8(cs[i], &out);
    }
  }
  return out;
}

bool PyIsLower(std::string_view s) {
  const Tables& t = T();
  bool cased = false;
  for (char32_t c : DecodeUtf8(s)) {
    if (t.uppercase.contains(c) || t.titlecase.contains(c)) return false;
    if (t.lowercase.contains(c)) cased = true;
  }
  return cased;
}

bool PyIsUpper(std::string_view s) {
  const Tables& t = T();
  bool cased = false;
  for (char32_t c : DecodeUtf8(s)) {
    if (t.lowercase.contains(c) || t.titlecase.contains(c)) return false;
    if (t.uppercase.contains(c)) cased = true;
  }
  return cased;
}

std::string JinjaTitle(std::string_view s) {
  // re.split(r"([-\s({\[<]+)", s): words start after a run of separators.
  const std::u32string cs = DecodeUtf8(s);
  std::string out;
  bool word_start = true;
  for (size_t i = 0; i < cs.size(); ++i) {
    const char32_t c = cs[i];
    const bool sep = IsPySpace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      if (!word_start) word_start = true;
      AppendUpper(c, &out);
      continue;
    }
    if (word_start) {
      AppendUpper(c, &out);
    } else {
      AppendLower(cs, i, &out);
    }
    word_start = false;
  }
  return out;
}

}  // namespace strata::server::jinja
