#include "server/tokenizer/unicode.h"

#include <algorithm>
#include <vector>

namespace strata::server::unicode {
namespace {

namespace ut = unicode_tables;

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

bool IsHangulSyllable(uint32_t cp) { return cp >= kSBase && cp < kSBase + kSCount; }

// Appends the full canonical decomposition of cp to out.
void Decompose(uint32_t cp, std::vector<uint32_t>* out) {
  if (IsHangulSyllable(cp)) {
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xC0 && cp < 0x110000) {
    const ut::Decomposition* begin = ut::kDecompositions;
    const ut::Decomposition* end = begin + ut::kDecompositionCount;
    const ut::Decomposition* it = std::lower_bound(
        begin, end, cp, [](const ut::Decomposition& d, uint32_t c) { return d.code_point < c; });
    if (it != end && it->code_point == cp) {
      out->insert(out->end(), ut::kDecompositionPool + it->offset,
                  ut::kDecompositionPool + it->offset + it->length);
      return;
    }
  }
  out->push_back(cp);
}

// The primary composite of (first, second), or 0 when there is none.
uint32_t Compose(uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase &&
      second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (IsHangulSyllable(first) && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const ut::Composition* begin = ut::kCompositions;
  const ut::Composition* end = begin + ut::kCompositionCount;
  const ut::Composition* it =
      std::lower_bound(begin, end, std::make_pair(first, second),
                       [](const ut::Composition& c, const std::pair<uint32_t, uint32_t>& key) {
                         return c.first != key.first ? c.first < key.first : c.second < key.second;
                       });
  if (it != end && it->first == first && it->second == second) return it->composite;
  return 0;
}

}  // namespace

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x110000) {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(cp - kInvalidByteBase));
  }
}

int CombiningClass(uint32_t cp) {
  if (cp < 0x300 || cp >= 0x110000) return 0;
  const ut::CombiningClass* begin = ut::kCombiningClasses;
  const ut::CombiningClass* end = begin + ut::kCombiningClassCount;
  const ut::CombiningClass* it = std::lower_bound(
      begin, end, cp, [](const ut::CombiningClass& c, uint32_t x) { return c.code_point < x; });
  return it != end && it->code_point == cp ? it->ccc : 0;
}

bool IsNfcQuickYes(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const DecodedChar c = DecodeUtf8(text, pos);
    if (Properties(c.code_point) & ut::kNfcMaybeNo) return false;
    pos += c.length;
  }
  return true;
}

namespace {

// Whether NFC can change nothing across a boundary just before this character: it has
// NFC_Quick_Check=Yes and combining class 0 (so it never combines with what precedes it).
bool IsCompositionBoundary(uint32_t cp) { return (Properties(cp) & ut::kNfcMaybeNo) == 0; }

// Stable sort of n non-starters by combining class: insertion sort for the usual short runs,
// a merge sort for long ones (which only adversarial input has) to stay O(n log n).
void SortRun(uint32_t* cps, int* ccc, size_t n) {
  if (n <= 32) {
    for (size_t i = 1; i < n; ++i) {
      for (size_t j = i; j > 0 && ccc[j - 1] > ccc[j]; --j) {
        std::swap(ccc[j - 1], ccc[j]);
        std::swap(cps[j - 1], cps[j]);
      }
    }
    return;
  }
  std::vector<std::pair<int, uint32_t>> run(n);
  for (size_t i = 0; i < n; ++i) run[i] = {ccc[i], cps[i]};
  std::stable_sort(run.begin(), run.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < n; ++i) {
    ccc[i] = run[i].first;
    cps[i] = run[i].second;
  }
}

// Appends NFC(segment) to out; `cps` and `ccc` are scratch space.
void NormalizeSegment(std::string_view segment, std::vector<uint32_t>& cps, std::vector<int>& ccc,
                      std::string* out) {
  // 1. Full canonical decomposition.
  cps.clear();
  for (size_t pos = 0; pos < segment.size();) {
    const DecodedChar c = DecodeUtf8(segment, pos);
    Decompose(c.code_point, &cps);
    pos += c.length;
  }
  // 2. Canonical ordering: stable sort of each run of non-starters by combining class.
  ccc.resize(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) ccc[i] = CombiningClass(cps[i]);
  for (size_t begin = 0; begin < cps.size();) {
    if (ccc[begin] == 0) {
      ++begin;
      continue;
    }
    size_t end = begin + 1;
    while (end < cps.size() && ccc[end] != 0) ++end;
    if (end - begin > 1) SortRun(cps.data() + begin, ccc.data() + begin, end - begin);
    begin = end;
  }
  if (cps.empty()) return;
  // 3. Canonical composition (the algorithm of UAX #15's sample code), in place: cps[0, n)
  // holds the output so far.
  size_t n = 1;
  size_t starter_pos = 0;
  // A leading non-starter can never be the first half of a composition.
  int last_class = ccc[0] == 0 ? 0 : 256;
  for (size_t i = 1; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    const int cc = ccc[i];
    // cp is not blocked from the starter when everything between them has a lower, non-zero
    // class (last_class < cc), or when nothing is between them (last_class == 0).
    if (last_class < cc || last_class == 0) {
      if (const uint32_t composite = Compose(cps[starter_pos], cp); composite != 0) {
        cps[starter_pos] = composite;
        continue;
      }
    }
    if (cc == 0) starter_pos = n;
    last_class = cc;
    cps[n++] = cp;
  }
  for (size_t i = 0; i < n; ++i) AppendUtf8(cps[i], out);
}

}  // namespace

std::string NfcNormalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::vector<uint32_t> cps;
  std::vector<int> ccc;
  size_t copied = 0;    // text[0, copied) is in `out`
  size_t boundary = 0;  // start of the last composition boundary character seen
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      boundary = pos++;
      continue;
    }
    const DecodedChar c = DecodeUtf8(text, pos);
    if (IsCompositionBoundary(c.code_point)) {
      boundary = pos;
      pos += c.length;
      continue;
    }
    // Normalize from the last boundary up to the next one; everything outside is unchanged.
    size_t end = pos + c.length;
    while (end < text.size()) {
      const DecodedChar next = DecodeUtf8(text, end);
      if (IsCompositionBoundary(next.code_point)) break;
      end += next.length;
    }
    out.append(text.substr(copied, boundary - copied));
    NormalizeSegment(text.substr(boundary, end - boundary), cps, ccc, &out);
    copied = end;
    boundary = end;
    pos = end;
  }
  out.append(text.substr(copied));
  return out;
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<uint8_t>(bytes[pos]) < 0x80) {
      out.push_back(bytes[pos++]);
      continue;
    }
    bool complete;
    const int n = Utf8ValidPrefix(bytes, pos, &complete);
    if (complete) {
      out.append(bytes.substr(pos, n));
    } else {
      AppendUtf8(kReplacementCharacter, &out);
    }
    pos += n;
  }
  return out;
}

size_t IncompleteUtf8Suffix(std::string_view bytes) {
  const size_t max_k = std::min<size_t>(3, bytes.size());
  for (size_t k = 1; k <= max_k; ++k) {
    const size_t pos = bytes.size() - k;
    const uint8_t b = static_cast<uint8_t>(bytes[pos]);
    if (b >= 0x80 && b < 0xC0) continue;  // a continuation byte: look further left
    if (Utf8TrailCount(b) <= 0) return 0;
    bool complete;
    const int n = Utf8ValidPrefix(bytes, pos, &complete);
    return !complete && static_cast<size_t>(n) == k ? k : 0;
  }
  return 0;
}

}  // namespace strata::server::unicode
