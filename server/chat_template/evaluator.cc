#include "server/chat_template/evaluator.h"

#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/chat_template/builtins.h"

namespace strata::server::jinja {
namespace {

constexpr std::string_view kLocatedPayload = "strata.chat_template.located";
// Deepest macro recursion a template may use.
constexpr int kMaxCallDepth = 100;

// Adds "line L, column C" to an error that does not carry a location yet.
absl::Status Locate(const absl::Status& status, SourceLoc loc) {
  if (IsRaisedError(status) || status.GetPayload(Sv(kLocatedPayload)).has_value()) return status;
  absl::Status located(
      status.code(), absl::StrCat("chat template error at line ", loc.line, ", column ", loc.column,
                                  ": ", status.message()));
  located.SetPayload(Sv(kLocatedPayload), absl::Cord("1"));
  return located;
}

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}

  const Value* Find(std::string_view name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent_.get()) {
      auto it = s->vars_.find(Sv(name));
      if (it != s->vars_.end()) return &it->second;
    }
    return nullptr;
  }
  void Set(std::string name, Value v) { vars_[std::move(name)] = std::move(v); }

 private:
  std::shared_ptr<Scope> parent_;
  absl::flat_hash_map<std::string, Value> vars_;
};
using ScopePtr = std::shared_ptr<Scope>;

// A new frame: Jinja's compile-time scoping makes `undefined` names start out undefined here
// instead of resolving to an enclosing frame or the context (see scoping.h).
ScopePtr NewFrame(const ScopePtr& parent, const std::vector<std::string>& undefined) {
  auto frame = std::make_shared<Scope>(parent);
  for (const std::string& name : undefined) {
    frame->Set(name, Value::Undefined(absl::StrCat("'", name, "' is undefined")));
  }
  return frame;
}

enum class Flow { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  absl::StatusOr<Flow> ExecBody(const std::vector<StmtPtr>& body, const ScopePtr& scope,
                                std::string* out) {
    for (const StmtPtr& s : body) {
      absl::StatusOr<Flow> flow = Exec(*s, scope, out);
      if (!flow.ok()) return Locate(flow.status(), s->loc);
      if (*flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Value> Eval(const Expr& e, const ScopePtr& scope) {
    absl::StatusOr<Value> v = EvalImpl(e, scope);
    if (!v.ok()) return Locate(v.status(), e.loc);
    return v;
  }

 private:
  absl::StatusOr<Flow> Exec(const Stmt& s, const ScopePtr& scope, std::string* out) {
    switch (s.kind) {
      case StmtKind::kText:
        out->append(s.text);
        return Flow::kNormal;
      case StmtKind::kOutput: {
        STRATA_ASSIGN_OR_RETURN(Value v, Eval(*s.expr, scope));
        AppendStr(v, out);
        return Flow::kNormal;
      }
      case StmtKind::kIf: {
        STRATA_ASSIGN_OR_RETURN(Value c, Eval(*s.expr, scope));
        return ExecBody(Truthy(c) ? s.body : s.else_body, scope, out);
      }
      case StmtKind::kFor:
        return ExecFor(s, scope, out);
      case StmtKind::kSet: {
        STRATA_ASSIGN_OR_RETURN(Value v, Eval(*s.expr, scope));
        STRATA_RETURN_IF_ERROR(Assign(s.target, std::move(v), scope));
        return Flow::kNormal;
      }
      case StmtKind::kSetBlock: {
        ScopePtr inner = NewFrame(scope, s.frame_undefined);
        std::string text;
        STRATA_ASSIGN_OR_RETURN(Flow flow, ExecBody(s.body, inner, &text));
        Value v = Value::Str(std::move(text));
        for (const ExprPtr& f : s.filters) {
          STRATA_ASSIGN_OR_RETURN(v, ApplyFilter(*f, std::move(v), scope));
        }
        STRATA_RETURN_IF_ERROR(Assign(s.target, std::move(v), scope));
        return flow;
      }
      case StmtKind::kMacro:
        scope->Set(s.text, MakeMacro(s, scope));
        return Flow::kNormal;
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kScope:
        return ExecBody(s.body, NewFrame(scope, s.frame_undefined), out);
      case StmtKind::kFilterBlock: {
        std::string text;
        STRATA_ASSIGN_OR_RETURN(Flow flow,
                                ExecBody(s.body, NewFrame(scope, s.frame_undefined), &text));
        Value v = Value::Str(std::move(text));
        for (const ExprPtr& f : s.filters) {
          STRATA_ASSIGN_OR_RETURN(v, ApplyFilter(*f, std::move(v), scope));
        }
        AppendStr(v, out);
        return flow;
      }
    }
    return Flow::kNormal;
  }

  absl::Status Assign(const Target& t, Value v, const ScopePtr& scope) {
    switch (t.kind) {
      case Target::Kind::kName:
        scope->Set(t.name, std::move(v));
        return absl::OkStatus();
      case Target::Kind::kNamespaceAttr: {
        const Value* ns = scope->Find(t.name);
        if (ns == nullptr || ns->kind() != Value::Kind::kNamespace) {
          return RuntimeError("cannot assign attribute on non-namespace object");
        }
        ns->ns().Set(t.attr, std::move(v));
        return absl::OkStatus();
      }
      case Target::Kind::kTuple: {
        if (v.is_undefined()) return UndefinedError(v);
        STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
        if (items.size() != t.elements.size()) {
          return RuntimeError(
              items.size() > t.elements.size()
                  ? absl::StrCat("too many values to unpack (expected ", t.elements.size(), ")")
                  : absl::StrCat("not enough values to unpack (expected ", t.elements.size(),
                                 ", got ", items.size(), ")"));
        }
        for (size_t i = 0; i < items.size(); ++i) {
          STRATA_RETURN_IF_ERROR(Assign(t.elements[i], std::move(items[i]), scope));
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

  static Value MakeLoop(const std::vector<Value>& items, size_t i,
                        const std::shared_ptr<Value>& last_changed) {
    const auto n = static_cast<int64_t>(items.size());
    const auto idx = static_cast<int64_t>(i);
    auto d = std::make_shared<DictData>();
    d->entries.reserve(13);
    d->Set("index", Value::Int(idx + 1));
    d->Set("index0", Value::Int(idx));
    d->Set("revindex", Value::Int(n - idx));
    d->Set("revindex0", Value::Int(n - idx - 1));
    d->Set("first", Value::Bool(i == 0));
    d->Set("last", Value::Bool(idx == n - 1));
    d->Set("length", Value::Int(n));
    d->Set("depth", Value::Int(1));
    d->Set("depth0", Value::Int(0));
    d->Set("previtem", i > 0 ? items[i - 1] : Value::Undefined("there is no previous item"));
    d->Set("nextitem", idx + 1 < n ? items[i + 1] : Value::Undefined("there is no next item"));
    d->Set("cycle", Value::Function("cycle", [i](CallArgs& args) -> absl::StatusOr<Value> {
             if (args.positional.empty()) return RuntimeError("no items for cycling given");
             return args.positional[i % args.positional.size()];
           }));
    d->Set("changed",
           Value::Function("changed", [last_changed](CallArgs& args) -> absl::StatusOr<Value> {
             Value now = Value::List(args.positional, SeqKind::kTuple);
             const bool changed = last_changed->is_undefined() || !Equals(*last_changed, now);
             *last_changed = std::move(now);
             return Value::Bool(changed);
           }));
    return Value::Dict(std::move(d));
  }

  absl::StatusOr<Flow> ExecFor(const Stmt& s, const ScopePtr& scope, std::string* out) {
    STRATA_ASSIGN_OR_RETURN(Value iterable, Eval(*s.expr, scope));
    STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(iterable));
    if (s.loop_filter) {
      std::vector<Value> kept;
      for (Value& item : items) {
        auto probe = std::make_shared<Scope>(scope);
        STRATA_RETURN_IF_ERROR(Assign(s.target, item, probe));
        STRATA_ASSIGN_OR_RETURN(Value keep, Eval(*s.loop_filter, probe));
        if (Truthy(keep)) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) return ExecBody(s.else_body, NewFrame(scope, s.else_frame_undefined), out);
    auto last_changed = std::make_shared<Value>();
    for (size_t i = 0; i < items.size(); ++i) {
      ScopePtr iteration = NewFrame(scope, s.frame_undefined);
      iteration->Set("loop", MakeLoop(items, i, last_changed));
      STRATA_RETURN_IF_ERROR(Assign(s.target, items[i], iteration));
      STRATA_ASSIGN_OR_RETURN(Flow flow, ExecBody(s.body, iteration, out));
      if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  Value MakeMacro(const Stmt& s, const ScopePtr& defining_scope) {
    const Stmt* macro = &s;
    // A weak reference: the scope holds the macro, so a strong one would be a cycle.
    std::weak_ptr<Scope> weak_scope = defining_scope;
    return Value::Function(
        s.text, [this, macro, weak_scope](CallArgs& args) -> absl::StatusOr<Value> {
          ScopePtr defining_scope = weak_scope.lock();
          if (defining_scope == nullptr) {
            return RuntimeError(
                absl::StrCat("macro '", macro->text, "' called outside the scope that defined it"));
          }
          if (args.positional.size() > macro->params.size()) {
            return RuntimeError(absl::StrCat("macro '", macro->text, "' takes not more than ",
                                             macro->params.size(), " argument(s)"));
          }
          ScopePtr scope = NewFrame(defining_scope, macro->frame_undefined);
          std::vector<bool> given(macro->params.size(), false);
          for (size_t i = 0; i < args.positional.size(); ++i) {
            scope->Set(macro->params[i].name, std::move(args.positional[i]));
            given[i] = true;
          }
          for (auto& [key, value] : args.keyword) {
            size_t i = 0;
            while (i < macro->params.size() && macro->params[i].name != key) ++i;
            if (i == macro->params.size()) {
              return RuntimeError(
                  absl::StrCat("macro '", macro->text, "' has no argument '", key, "'"));
            }
            scope->Set(key, std::move(value));
            given[i] = true;
          }
          for (size_t i = 0; i < macro->params.size(); ++i) {
            if (given[i]) continue;
            const MacroParam& p = macro->params[i];
            if (p.default_value) {
              STRATA_ASSIGN_OR_RETURN(Value d, Eval(*p.default_value, scope));
              scope->Set(p.name, std::move(d));
            } else {
              scope->Set(p.name, Value::Undefined(
                                     absl::StrCat("parameter '", p.name, "' was not provided")));
            }
          }
          if (depth_ >= kMaxCallDepth) return RuntimeError("macro recursion too deep");
          ++depth_;
          std::string text;
          absl::StatusOr<Flow> flow = ExecBody(macro->body, scope, &text);
          --depth_;
          if (!flow.ok()) return flow.status();
          return Value::Str(std::move(text));
        });
  }

  absl::StatusOr<CallArgs> EvalArgs(const std::vector<Arg>& args, const ScopePtr& scope) {
    CallArgs out;
    for (const Arg& a : args) {
      STRATA_ASSIGN_OR_RETURN(Value v, Eval(*a.value, scope));
      if (a.name.empty()) {
        out.positional.push_back(std::move(v));
      } else {
        out.keyword.emplace_back(a.name, std::move(v));
      }
    }
    return out;
  }

  absl::StatusOr<Value> ApplyFilter(const Expr& f, Value input, const ScopePtr& scope) {
    STRATA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(f.args, scope));
    absl::StatusOr<Value> v = f.filter(input, args);
    if (!v.ok()) return Locate(v.status(), f.loc);
    return v;
  }

  absl::StatusOr<bool> CompareStep(CompareOp op, const Value& a, const Value& b) {
    switch (op) {
      case CompareOp::kEq:
        return Equals(a, b);
      case CompareOp::kNe:
        return !Equals(a, b);
      case CompareOp::kIn:
        return Contains(b, a);
      case CompareOp::kNotIn: {
        STRATA_ASSIGN_OR_RETURN(bool in, Contains(b, a));
        return !in;
      }
      default:
        break;
    }
    STRATA_ASSIGN_OR_RETURN(int c, Compare(a, b));
    switch (op) {
      case CompareOp::kLt:
        return c < 0;
      case CompareOp::kLe:
        return c <= 0;
      case CompareOp::kGt:
        return c > 0;
      default:
        return c >= 0;
    }
  }

  absl::StatusOr<Value> EvalImpl(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case ExprKind::kLiteral:
        return e.literal;
      case ExprKind::kName: {
        const Value* v = scope->Find(e.name);
        if (v == nullptr) return Value::Undefined(absl::StrCat("'", e.name, "' is undefined"));
        return *v;
      }
      case ExprKind::kList:
      case ExprKind::kTuple: {
        std::vector<Value> items;
        items.reserve(e.items.size());
        for (const ExprPtr& item : e.items) {
          STRATA_ASSIGN_OR_RETURN(Value v, Eval(*item, scope));
          items.push_back(std::move(v));
        }
        return Value::List(std::move(items),
                           e.kind == ExprKind::kTuple ? SeqKind::kTuple : SeqKind::kList);
      }
      case ExprKind::kDict: {
        auto d = std::make_shared<DictData>();
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          STRATA_ASSIGN_OR_RETURN(Value k, Eval(*e.items[i], scope));
          STRATA_ASSIGN_OR_RETURN(Value v, Eval(*e.items[i + 1], scope));
          if (!k.is_string()) return RuntimeError("dict keys in templates must be strings");
          d->Set(k.str(), std::move(v));
        }
        return Value::Dict(std::move(d));
      }
      case ExprKind::kGetAttr: {
        STRATA_ASSIGN_OR_RETURN(Value obj, Eval(*e.object, scope));
        if (obj.is_undefined()) return UndefinedError(obj);
        return GetAttr(obj, e.name);
      }
      case ExprKind::kGetItem: {
        STRATA_ASSIGN_OR_RETURN(Value obj, Eval(*e.object, scope));
        if (obj.is_undefined()) return UndefinedError(obj);
        if (e.index->kind == ExprKind::kSlice) {
          Value parts[3];
          for (int i = 0; i < 3; ++i) {
            if (e.index->slice[i]) {
              STRATA_ASSIGN_OR_RETURN(parts[i], Eval(*e.index->slice[i], scope));
            }
          }
          return SliceOf(obj, parts[0], parts[1], parts[2]);
        }
        STRATA_ASSIGN_OR_RETURN(Value key, Eval(*e.index, scope));
        return GetItem(obj, key);
      }
      case ExprKind::kSlice:
        return RuntimeError("slice outside of a subscript");
      case ExprKind::kCall: {
        STRATA_ASSIGN_OR_RETURN(Value callee, Eval(*e.object, scope));
        if (callee.is_undefined()) return UndefinedError(callee);
        if (callee.kind() != Value::Kind::kFunction) {
          return RuntimeError(absl::StrCat("'", TypeName(callee), "' object is not callable"));
        }
        STRATA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
        return callee.function().fn(args);
      }
      case ExprKind::kFilter: {
        STRATA_ASSIGN_OR_RETURN(Value input, Eval(*e.object, scope));
        return ApplyFilter(e, std::move(input), scope);
      }
      case ExprKind::kTest: {
        STRATA_ASSIGN_OR_RETURN(Value input, Eval(*e.object, scope));
        STRATA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
        STRATA_ASSIGN_OR_RETURN(bool r, e.test(input, args));
        return Value::Bool(r != e.negated);
      }
      case ExprKind::kNot: {
        STRATA_ASSIGN_OR_RETURN(Value v, Eval(*e.object, scope));
        return Value::Bool(!Truthy(v));
      }
      case ExprKind::kNeg:
      case ExprKind::kPos: {
        STRATA_ASSIGN_OR_RETURN(Value v, Eval(*e.object, scope));
        return ApplyUnary(e.kind == ExprKind::kNeg, v);
      }
      case ExprKind::kBinary: {
        STRATA_ASSIGN_OR_RETURN(Value a, Eval(*e.object, scope));
        STRATA_ASSIGN_OR_RETURN(Value b, Eval(*e.index, scope));
        return ApplyBinary(e.binary_op, a, b);
      }
      case ExprKind::kConcat: {
        std::string out;
        for (const ExprPtr& item : e.items) {
          STRATA_ASSIGN_OR_RETURN(Value v, Eval(*item, scope));
          AppendStr(v, &out);
        }
        return Value::Str(std::move(out));
      }
      case ExprKind::kCompare: {
        STRATA_ASSIGN_OR_RETURN(Value left, Eval(*e.items[0], scope));
        for (size_t i = 0; i < e.compare_ops.size(); ++i) {
          STRATA_ASSIGN_OR_RETURN(Value right, Eval(*e.items[i + 1], scope));
          STRATA_ASSIGN_OR_RETURN(bool ok, CompareStep(e.compare_ops[i], left, right));
          if (!ok) return Value::Bool(false);
          left = std::move(right);
        }
        return Value::Bool(true);
      }
      case ExprKind::kAnd:
      case ExprKind::kOr: {
        STRATA_ASSIGN_OR_RETURN(Value left, Eval(*e.object, scope));
        if (Truthy(left) == (e.kind == ExprKind::kOr)) return left;
        return Eval(*e.index, scope);
      }
      case ExprKind::kCondExpr: {
        STRATA_ASSIGN_OR_RETURN(Value c, Eval(*e.index, scope));
        if (Truthy(c)) return Eval(*e.object, scope);
        if (e.otherwise) return Eval(*e.otherwise, scope);
        return Value::Undefined(
            absl::StrCat("the inline if-expression on line ", e.loc.line,
                         " evaluated to false and no else section was defined."));
      }
    }
    return RuntimeError("unknown expression");
  }

  int depth_ = 0;
};

}  // namespace

absl::StatusOr<std::string> Render(const Program& program,
                                   std::vector<std::pair<std::string, Value>> variables) {
  auto context = std::make_shared<Scope>(nullptr);
  for (auto& [name, value] : MakeGlobals()) context->Set(std::move(name), std::move(value));
  for (auto& [name, value] : variables) context->Set(std::move(name), std::move(value));
  ScopePtr top = NewFrame(context, program.frame_undefined);
  Evaluator evaluator;
  std::string out;
  absl::StatusOr<Flow> flow = evaluator.ExecBody(program.body, top, &out);
  if (!flow.ok()) return flow.status();
  return out;
}

}  // namespace strata::server::jinja
