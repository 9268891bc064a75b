// The str methods visible to templates (Python semantics): startswith, split, strip, ...
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/chat_template/builtins.h"
#include "server/chat_template/text.h"

namespace strata::server::jinja {
namespace {

absl::StatusOr<std::string> StrArg(const std::optional<Value>& v, std::string_view what) {
  if (!v.has_value() || !v->is_string()) {
    return RuntimeError(absl::StrCat(Sv(what), " must be str, not ",
                                     v.has_value() ? TypeName(*v) : std::string("nothing")));
  }
  return v->str();
}

absl::StatusOr<Value> StartsEnds(const Value& self, CallArgs& args, bool ends) {
  std::vector<std::optional<Value>> a;
  absl::Status s =
      BindArgs(ends ? "endswith" : "startswith", args, {"prefix", "start", "end"}, 1, &a);
  if (!s.ok()) return s;
  std::string subject = self.str();
  if (a[1].has_value() || a[2].has_value()) {
    absl::StatusOr<Value> sliced =
        SliceOf(self, a[1].value_or(Value::None()), a[2].value_or(Value::None()), Value::None());
    if (!sliced.ok()) return sliced.status();
    subject = sliced->str();
  }
  std::vector<std::string> candidates;
  if (a[0]->is_string()) {
    candidates.push_back(a[0]->str());
  } else if (a[0]->is_list() && a[0]->seq_kind() == SeqKind::kTuple) {
    for (const Value& v : a[0]->items()) {
      if (!v.is_string())
        return RuntimeError("tuple for startswith/endswith must only contain str");
      candidates.push_back(v.str());
    }
  } else {
    return RuntimeError(absl::StrCat(ends ? "endswith" : "startswith",
                                     " first arg must be str or a tuple of str, not ",
                                     TypeName(*a[0])));
  }
  for (const std::string& c : candidates) {
    if (c.size() > subject.size()) continue;
    if (ends ? subject.compare(subject.size() - c.size(), c.size(), c) == 0
             : subject.compare(0, c.size(), c) == 0) {
      return Value::Bool(true);
    }
  }
  return Value::Bool(false);
}

absl::StatusOr<Value> StrStartswith(const Value& self, CallArgs& args) {
  return StartsEnds(self, args, false);
}
absl::StatusOr<Value> StrEndswith(const Value& self, CallArgs& args) {
  return StartsEnds(self, args, true);
}

absl::StatusOr<Value> StripImpl(const Value& self, CallArgs& args, bool left, bool right) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("strip", args, {"chars"}, 0, &a);
  if (!s.ok()) return s;
  if (a[0].has_value() && !a[0]->is_none()) {
    if (!a[0]->is_string()) return RuntimeError("strip arg must be None or str");
    return Value::Str(PyStrip(self.str(), &a[0]->str(), left, right));
  }
  return Value::Str(PyStrip(self.str(), nullptr, left, right));
}
absl::StatusOr<Value> StrStrip(const Value& self, CallArgs& args) {
  return StripImpl(self, args, true, true);
}
absl::StatusOr<Value> StrLstrip(const Value& self, CallArgs& args) {
  return StripImpl(self, args, true, false);
}
absl::StatusOr<Value> StrRstrip(const Value& self, CallArgs& args) {
  return StripImpl(self, args, false, true);
}

std::vector<Value> SplitWhitespace(const std::string& s, int64_t maxsplit, bool from_right) {
  std::u32string cs = DecodeUtf8(s);
  std::vector<std::u32string> parts;
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < cs.size() && IsPySpace(cs[i])) ++i;
      if (i >= cs.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t end = cs.size();
        while (end > i && IsPySpace(cs[end - 1])) --end;
        parts.push_back(cs.substr(i, end - i));
        break;
      }
      size_t j = i;
      while (j < cs.size() && !IsPySpace(cs[j])) ++j;
      parts.push_back(cs.substr(i, j - i));
      i = j;
    }
  } else {
    size_t i = cs.size();
    while (true) {
      while (i > 0 && IsPySpace(cs[i - 1])) --i;
      if (i == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t b = 0;
        while (b < i && IsPySpace(cs[b])) ++b;
        parts.push_back(cs.substr(b, i - b));
        break;
      }
      size_t j = i;
      while (j > 0 && !IsPySpace(cs[j - 1])) --j;
      parts.push_back(cs.substr(j, i - j));
      i = j;
    }
    std::reverse(parts.begin(), parts.end());
  }
  std::vector<Value> out;
  for (const auto& p : parts) out.push_back(Value::Str(EncodeUtf8(p)));
  return out;
}

absl::StatusOr<Value> SplitImpl(const Value& self, CallArgs& args, bool from_right) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs(from_right ? "rsplit" : "split", args, {"sep", "maxsplit"}, 0, &a);
  if (!s.ok()) return s;
  int64_t maxsplit = -1;
  if (a[1].has_value()) {
    if (!a[1]->is_integral()) return RuntimeError("maxsplit must be an integer");
    maxsplit = a[1]->as_int();
  }
  if (!a[0].has_value() || a[0]->is_none()) {
    return Value::List(SplitWhitespace(self.str(), maxsplit, from_right));
  }
  absl::StatusOr<std::string> sep = StrArg(a[0], "sep");
  if (!sep.ok()) return sep.status();
  if (sep->empty()) return RuntimeError("empty separator");
  const std::string& str = self.str();
  std::vector<Value> out;
  if (!from_right) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t at = str.find(*sep, start);
      if (at == std::string::npos) break;
      out.push_back(Value::Str(str.substr(start, at - start)));
      start = at + sep->size();
    }
    out.push_back(Value::Str(str.substr(start)));
  } else {
    size_t end = str.size();
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t at = str.rfind(*sep, end - sep->size());
      if (at == std::string::npos) break;
      out.push_back(Value::Str(str.substr(at + sep->size(), end - at - sep->size())));
      end = at;
    }
    out.push_back(Value::Str(str.substr(0, end)));
    std::reverse(out.begin(), out.end());
  }
  return Value::List(std::move(out));
}
absl::StatusOr<Value> StrSplit(const Value& self, CallArgs& args) {
  return SplitImpl(self, args, false);
}
absl::StatusOr<Value> StrRsplit(const Value& self, CallArgs& args) {
  return SplitImpl(self, args, true);
}

absl::StatusOr<Value> StrReplace(const Value& self, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("replace", args, {"old", "new", "count"}, 2, &a);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> from = StrArg(a[0], "replace() argument 1");
  if (!from.ok()) return from.status();
  absl::StatusOr<std::string> to = StrArg(a[1], "replace() argument 2");
  if (!to.ok()) return to.status();
  int64_t count = a[2].has_value() && a[2]->is_integral() ? a[2]->as_int() : -1;
  const std::string& str = self.str();
  std::string out;
  if (from->empty()) {
    std::u32string cs = DecodeUtf8(str);
    for (size_t i = 0; i <= cs.size(); ++i) {
      if (count < 0 || static_cast<int64_t>(i) < count) out += *to;
      if (i < cs.size()) AppendUtf8(cs[i], &out);
    }
    return Value::Str(std::move(out));
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = str.find(*from, start);
    if (at == std::string::npos) break;
    out.append(str, start, at - start);
    out += *to;
    start = at + from->size();
    ++done;
  }
  out.append(str, start, std::string::npos);
  return Value::Str(std::move(out));
}

absl::StatusOr<Value> StrLower(const Value& self, CallArgs& args) {
  return Value::Str(PyLower(self.str()));
}
absl::StatusOr<Value> StrUpper(const Value& self, CallArgs& args) {
  return Value::Str(PyUpper(self.str()));
}
absl::StatusOr<Value> StrTitle(const Value& self, CallArgs& args) {
  return Value::Str(PyTitle(self.str()));
}
absl::StatusOr<Value> StrCapitalize(const Value& self, CallArgs& args) {
  return Value::Str(PyCapitalize(self.str()));
}
absl::StatusOr<Value> StrSwapcase(const Value& self, CallArgs& args) {
  return Value::Str(PySwapcase(self.str()));
}

absl::StatusOr<Value> FindImpl(const Value& self, CallArgs& args, bool reverse, bool must) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("find", args, {"sub"}, 1, &a);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> sub = StrArg(a[0], "find() argument");
  if (!sub.ok()) return sub.status();
  const size_t at = reverse ? self.str().rfind(*sub) : self.str().find(*sub);
  if (at == std::string::npos) {
    if (must) return RuntimeError("substring not found");
    return Value::Int(-1);
  }
  return Value::Int(
      static_cast<int64_t>(CodePointCount(std::string_view(self.str()).substr(0, at))));
}
absl::StatusOr<Value> StrFind(const Value& self, CallArgs& args) {
  return FindImpl(self, args, false, false);
}
absl::StatusOr<Value> StrRfind(const Value& self, CallArgs& args) {
  return FindImpl(self, args, true, false);
}
absl::StatusOr<Value> StrIndex(const Value& self, CallArgs& args) {
  return FindImpl(self, args, false, true);
}

absl::StatusOr<Value> StrCount(const Value& self, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("count", args, {"sub"}, 1, &a);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> sub = StrArg(a[0], "count() argument");
  if (!sub.ok()) return sub.status();
  if (sub->empty()) return Value::Int(static_cast<int64_t>(CodePointCount(self.str())) + 1);
  int64_t n = 0;
  for (size_t at = self.str().find(*sub); at != std::string::npos;
       at = self.str().find(*sub, at + sub->size())) {
    ++n;
  }
  return Value::Int(n);
}

absl::StatusOr<Value> StrJoin(const Value& self, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("join", args, {"iterable"}, 1, &a);
  if (!s.ok()) return s;
  absl::StatusOr<std::vector<Value>> items = Iterate(*a[0]);
  if (!items.ok()) return items.status();
  std::string out;
  for (size_t i = 0; i < items->size(); ++i) {
    if (!(*items)[i].is_string()) {
      return RuntimeError(absl::StrCat("sequence item ", i, ": expected str instance, ",
                                       TypeName((*items)[i]), " found"));
    }
    if (i > 0) out += self.str();
    out += (*items)[i].str();
  }
  return Value::Str(std::move(out));
}

absl::StatusOr<Value> StrSplitlines(const Value& self, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs("splitlines", args, {"keepends"}, 0, &a);
  if (!s.ok()) return s;
  const bool keep = a[0].has_value() && Truthy(*a[0]);
  std::u32string cs = DecodeUtf8(self.str());
  std::vector<Value> out;
  size_t start = 0;
  for (size_t i = 0; i < cs.size(); ++i) {
    const char32_t c = cs[i];
    const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
                     c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    size_t end = i + 1;
    if (c == '\r' && i + 1 < cs.size() && cs[i + 1] == '\n') end = i + 2;
    out.push_back(Value::Str(EncodeUtf8(cs.substr(start, (keep ? end : i) - start))));
    start = end;
    i = end - 1;
  }
  if (start < cs.size()) out.push_back(Value::Str(EncodeUtf8(cs.substr(start))));
  return Value::List(std::move(out));
}

template <bool (*Pred)(char32_t)>
absl::StatusOr<Value> StrIs(const Value& self, CallArgs& args) {
  std::u32string cs = DecodeUtf8(self.str());
  if (cs.empty()) return Value::Bool(false);
  for (char32_t c : cs) {
    if (!Pred(c)) return Value::Bool(false);
  }
  return Value::Bool(true);
}
bool PredDigit(char32_t c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool PredAlpha(char32_t c) { return c < 0x80 ? IsAlpha(static_cast<char>(c)) : c >= 0xC0; }
bool PredAlnum(char32_t c) { return PredDigit(c) || PredAlpha(c); }
bool PredSpace(char32_t c) { return IsPySpace(c); }

absl::StatusOr<Value> StrIslower(const Value& self, CallArgs& args) {
  return Value::Bool(PyIsLower(self.str()));
}
absl::StatusOr<Value> StrIsupper(const Value& self, CallArgs& args) {
  return Value::Bool(PyIsUpper(self.str()));
}

absl::StatusOr<Value> StrRemoveAffix(const Value& self, CallArgs& args, bool suffix) {
  std::vector<std::optional<Value>> a;
  absl::Status s = BindArgs(suffix ? "removesuffix" : "removeprefix", args, {"affix"}, 1, &a);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> affix = StrArg(a[0], "argument");
  if (!affix.ok()) return affix.status();
  const std::string& str = self.str();
  if (!affix->empty() && affix->size() <= str.size()) {
    if (!suffix && str.compare(0, affix->size(), *affix) == 0) {
      return Value::Str(str.substr(affix->size()));
    }
    if (suffix && str.compare(str.size() - affix->size(), affix->size(), *affix) == 0) {
      return Value::Str(str.substr(0, str.size() - affix->size()));
    }
  }
  return self;
}
absl::StatusOr<Value> StrRemoveprefix(const Value& self, CallArgs& args) {
  return StrRemoveAffix(self, args, false);
}
absl::StatusOr<Value> StrRemovesuffix(const Value& self, CallArgs& args) {
  return StrRemoveAffix(self, args, true);
}

// str.format with "{}", "{0}" and "{name}" fields (no conversions or format specs).
absl::StatusOr<Value> StrFormat(const Value& self, CallArgs& args) {
  const std::string& f = self.str();
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if (c == '{' && i + 1 < f.size() && f[i + 1] == '{') {
      out.push_back('{');
      ++i;
    } else if (c == '}' && i + 1 < f.size() && f[i + 1] == '}') {
      out.push_back('}');
      ++i;
    } else if (c == '{') {
      const size_t close = f.find('}', i);
      if (close == std::string::npos)
        return RuntimeError("Single '{' encountered in format string");
      const std::string field = f.substr(i + 1, close - i - 1);
      if (field.find_first_of(":!.[") != std::string::npos) {
        return RuntimeError("str.format: format specs and conversions are not supported");
      }
      const Value* v = nullptr;
      if (field.empty() ||
          std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
        const size_t idx = field.empty() ? auto_index++ : std::stoul(field);
        if (idx >= args.positional.size()) return RuntimeError("Replacement index out of range");
        v = &args.positional[idx];
      } else {
        for (const auto& [k, val] : args.keyword) {
          if (k == field) v = &val;
        }
        if (v == nullptr) return RuntimeError(absl::StrCat("KeyError: '", field, "'"));
      }
      AppendStr(*v, &out);
      i = close;
    } else if (c == '}') {
      return RuntimeError("Single '}' encountered in format string");
    } else {
      out.push_back(c);
    }
  }
  return Value::Str(std::move(out));
}

struct MethodEntry {
  std::string_view name;
  Method fn;
};

constexpr MethodEntry kStrMethods[] = {
    {"startswith", StrStartswith},
    {"endswith", StrEndswith},
    {"strip", StrStrip},
    {"lstrip", StrLstrip},
    {"rstrip", StrRstrip},
    {"split", StrSplit},
    {"rsplit", StrRsplit},
    {"replace", StrReplace},
    {"lower", StrLower},
    {"upper", StrUpper},
    {"title", StrTitle},
    {"capitalize", StrCapitalize},
    {"swapcase", StrSwapcase},
    {"find", StrFind},
    {"rfind", StrRfind},
    {"index", StrIndex},
    {"count", StrCount},
    {"join", StrJoin},
    {"splitlines", StrSplitlines},
    {"isdigit", StrIs<PredDigit>},
    {"isdecimal", StrIs<PredDigit>},
    {"isnumeric", StrIs<PredDigit>},
    {"isalpha", StrIs<PredAlpha>},
    {"isalnum", StrIs<PredAlnum>},
    {"isspace", StrIs<PredSpace>},
    {"islower", StrIslower},
    {"isupper", StrIsupper},
    {"removeprefix", StrRemoveprefix},
    {"removesuffix", StrRemovesuffix},
    {"format", StrFormat},
};
}  // namespace

Method FindStrMethod(std::string_view name) {
  for (const MethodEntry& e : kStrMethods) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace strata::server::jinja
