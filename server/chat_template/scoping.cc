#include "server/chat_template/scoping.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace strata::server::jinja {
namespace {

// How a frame variable is initialised on frame entry (jinja2.idtracking VAR_LOAD_*).
enum class Load { kParameter, kResolve, kAlias, kUndefined };

class Symbols {
 public:
  explicit Symbols(const Symbols* parent) : parent_(parent) {}

  bool FindRef(const std::string& name) const {
    for (const Symbols* s = this; s != nullptr; s = s->parent_) {
      if (s->refs_.count(name) != 0) return true;
    }
    return false;
  }
  void Store(const std::string& name) {
    stores_.insert(name);
    if (refs_.count(name) != 0) return;
    refs_[name] = parent_ != nullptr && parent_->FindRef(name) ? Load::kAlias : Load::kUndefined;
  }
  void LoadName(const std::string& name) {
    if (!FindRef(name)) refs_[name] = Load::kResolve;
  }
  void Parameter(const std::string& name) {
    stores_.insert(name);
    refs_[name] = Load::kParameter;
  }
  // After the branches of an if: a name assigned in only some branches falls back to the
  // enclosing frame or the context.
  void BranchUpdate(const std::vector<Symbols>& branches) {
    std::map<std::string, size_t> counts;
    for (const Symbols& b : branches) {
      for (const std::string& t : b.stores_) {
        if (stores_.count(t) == 0) ++counts[t];
      }
    }
    for (const Symbols& b : branches) {
      for (const auto& [name, load] : b.refs_) refs_[name] = load;
      stores_.insert(b.stores_.begin(), b.stores_.end());
    }
    for (const auto& [name, count] : counts) {
      if (count == branches.size()) continue;
      refs_[name] = parent_ != nullptr && parent_->FindRef(name) ? Load::kAlias : Load::kResolve;
    }
  }
  std::vector<std::string> UndefinedNames() const {
    std::vector<std::string> out;
    for (const auto& [name, load] : refs_) {
      if (load == Load::kUndefined) out.push_back(name);
    }
    return out;
  }

 private:
  const Symbols* parent_;
  std::map<std::string, Load> refs_;
  std::set<std::string> stores_;
};

// A frame to analyse once its parent frame is complete (as Jinja does at code generation).
struct PendingFrame {
  const std::vector<StmtPtr>* body;
  std::vector<std::string> parameters;
  std::vector<std::string>* result;
};

class FrameVisitor {
 public:
  explicit FrameVisitor(Symbols* symbols) : symbols_(symbols) {}

  void VisitBody(const std::vector<StmtPtr>& body) {
    for (const StmtPtr& s : body) Visit(*s);
  }
  std::vector<PendingFrame>& children() { return children_; }

 private:
  void Visit(Stmt& s) {
    switch (s.kind) {
      case StmtKind::kText:
      case StmtKind::kBreak:
      case StmtKind::kContinue:
        return;
      case StmtKind::kOutput:
        VisitExpr(s.expr.get());
        return;
      case StmtKind::kIf: {
        // Jinja's If has three branches: the body, all elifs together, the else.
        VisitExpr(s.expr.get());
        std::vector<const Stmt*> elifs;
        const Stmt* last = &s;
        while (last->else_body.size() == 1 && last->else_body[0]->is_elif) {
          last = last->else_body[0].get();
          elifs.push_back(last);
        }
        std::vector<Symbols> branches(3, *symbols_);
        Symbols* saved = symbols_;
        symbols_ = &branches[0];
        VisitBody(s.body);
        symbols_ = &branches[1];
        for (const Stmt* e : elifs) {  // each elif is an If with empty elif and else branches
          VisitExpr(e->expr.get());
          std::vector<Symbols> inner(3, *symbols_);
          Symbols* outer = symbols_;
          symbols_ = &inner[0];
          VisitBody(e->body);
          symbols_ = outer;
          symbols_->BranchUpdate(inner);
        }
        symbols_ = &branches[2];
        VisitBody(last->else_body);
        symbols_ = saved;
        symbols_->BranchUpdate(branches);
        return;
      }
      case StmtKind::kFor: {
        VisitExpr(s.expr.get());
        std::vector<std::string> targets;
        TargetNames(s.target, &targets);
        targets.push_back("loop");
        children_.push_back({&s.body, targets, &s.frame_undefined});
        children_.push_back({&s.else_body, {}, &s.else_frame_undefined});
        return;
      }
      case StmtKind::kSet:
        VisitExpr(s.expr.get());
        StoreTarget(s.target);
        return;
      case StmtKind::kSetBlock:
        StoreTarget(s.target);
        for (const ExprPtr& f : s.filters) VisitExpr(f.get());
        children_.push_back({&s.body, {}, &s.frame_undefined});
        return;
      case StmtKind::kMacro: {
        symbols_->Store(s.text);
        std::vector<std::string> params;
        for (const MacroParam& p : s.params) {
          params.push_back(p.name);
          VisitExpr(p.default_value.get());
        }
        children_.push_back({&s.body, params, &s.frame_undefined});
        return;
      }
      case StmtKind::kFilterBlock:
        for (const ExprPtr& f : s.filters) VisitExpr(f.get());
        children_.push_back({&s.body, {}, &s.frame_undefined});
        return;
      case StmtKind::kScope:
        children_.push_back({&s.body, {}, &s.frame_undefined});
        return;
    }
  }

  static void TargetNames(const Target& t, std::vector<std::string>* out) {
    if (t.kind == Target::Kind::kName) out->push_back(t.name);
    for (const Target& e : t.elements) TargetNames(e, out);
  }

  void StoreTarget(const Target& t) {
    switch (t.kind) {
      case Target::Kind::kName:
        symbols_->Store(t.name);
        return;
      case Target::Kind::kNamespaceAttr:
        symbols_->LoadName(t.name);
        return;
      case Target::Kind::kTuple:
        for (const Target& e : t.elements) StoreTarget(e);
        return;
    }
  }

  void VisitExpr(const Expr* e) {
    if (e == nullptr) return;
    if (e->kind == ExprKind::kName) symbols_->LoadName(e->name);
    VisitExpr(e->object.get());
    VisitExpr(e->index.get());
    VisitExpr(e->otherwise.get());
    for (const ExprPtr& p : e->slice) VisitExpr(p.get());
    for (const ExprPtr& item : e->items) VisitExpr(item.get());
    for (const Arg& a : e->args) VisitExpr(a.value.get());
  }

  Symbols* symbols_;
  std::vector<PendingFrame> children_;
};

void AnalyzeFrame(const std::vector<StmtPtr>& body, const std::vector<std::string>& parameters,
                  const Symbols* parent, std::vector<std::string>* result) {
  Symbols symbols(parent);
  for (const std::string& p : parameters) symbols.Parameter(p);
  FrameVisitor visitor(&symbols);
  visitor.VisitBody(body);
  *result = symbols.UndefinedNames();
  for (const PendingFrame& child : visitor.children()) {
    AnalyzeFrame(*child.body, child.parameters, &symbols, child.result);
  }
}

}  // namespace

void AnalyzeScopes(Program* program) {
  AnalyzeFrame(program->body, {}, nullptr, &program->frame_undefined);
}

}  // namespace strata::server::jinja
