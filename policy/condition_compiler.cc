#include "policy/condition_compiler.h"

#include <algorithm>

namespace custos::policy {
namespace {

using ast::Expr;
using ast::Value;

const std::vector<std::string> kWeekdays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
const std::vector<std::string> kVerdicts = {"allow", "deny", "error"};

int IndexOf(const std::vector<std::string>& list, const std::string& word) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] == word) return static_cast<int>(i);
  }
  return -1;
}

std::string ValueText(const Value& v) {
  return v.kind == Value::Kind::kString ? "\"" + v.text + "\"" : v.text;
}

class ConditionCompiler {
 public:
  ConditionCompiler(const RecordKind& kind, Policy& policy, Diagnostics& diags)
      : kind_(kind), policy_(policy), diags_(diags) {}

  bool Compile(const Expr& e, Condition& out) {
    switch (e.kind) {
      case Expr::Kind::kBool:
        out.op = e.bool_value ? Condition::Op::kTrue : Condition::Op::kFalse;
        return true;
      case Expr::Kind::kOr:
      case Expr::Kind::kAnd:
      case Expr::Kind::kNot: {
        out.op = e.kind == Expr::Kind::kOr ? Condition::Op::kOr
                 : e.kind == Expr::Kind::kAnd ? Condition::Op::kAnd
                                              : Condition::Op::kNot;
        bool ok = true;
        for (const auto& child : e.children) {
          out.children.emplace_back();
          ok &= Compile(*child, out.children.back());
        }
        return ok;
      }
      case Expr::Kind::kMember: return CompileMember(e, out);
      default: break;
    }
    if (!Resolve(e, out.field)) return false;
    const FieldType t = out.field.type;
    switch (e.kind) {
      case Expr::Kind::kField:
        if (t != FieldType::kBool) {
          return Error(e.pos, "'" + out.field.text + "' is a " + std::string(FieldTypeName(t)) +
                                  ", not a condition on its own",
                       "compare it, e.g. " + out.field.text + " == ...");
        }
        out.op = Condition::Op::kField;
        return true;
      case Expr::Kind::kMatches:
        if (!IsText(t)) return Error(e.pos, "'matches' needs a text field; '" + out.field.text + "' is a " + std::string(FieldTypeName(t)));
        out.op = Condition::Op::kMatches;
        out.glob = e.value.text;
        return true;
      case Expr::Kind::kIn: {
        out.op = Condition::Op::kIn;
        out.negated = e.negated;
        bool ok = true;
        for (const auto& item : e.value.items) {
          // A region set name stands for its regions.
          if (t == FieldType::kRegion && item.kind == Value::Kind::kIdent) {
            if (auto it = policy_.region_sets.find(item.text); it != policy_.region_sets.end()) {
              for (int r : it->second) {
                Scalar s;
                s.type = Scalar::Type::kString;
                s.s = policy_.regions[static_cast<size_t>(r)];
                out.set.push_back(std::move(s));
              }
              continue;
            }
          }
          Scalar s;
          ok &= Convert(out.field, item, s);
          out.set.push_back(std::move(s));
        }
        if (e.value.items.empty() && !e.negated) never_ = true;
        return ok;
      }
      case Expr::Kind::kCompare: {
        out.op = Condition::Op::kCompare;
        static const std::pair<const char*, Condition::Cmp> kOps[] = {
            {"==", Condition::Cmp::kEq}, {"!=", Condition::Cmp::kNe}, {"<", Condition::Cmp::kLt},
            {"<=", Condition::Cmp::kLe}, {">", Condition::Cmp::kGt},  {">=", Condition::Cmp::kGe}};
        for (const auto& [text, cmp] : kOps) {
          if (e.op == text) out.cmp = cmp;
        }
        bool ordered = out.cmp != Condition::Cmp::kEq && out.cmp != Condition::Cmp::kNe;
        if (ordered && !(t == FieldType::kInt || t == FieldType::kDouble || t == FieldType::kTimeNanos || t == FieldType::kEnum)) {
          return Error(e.pos, "'" + e.op + "' compares numbers, times and enum values; '" + out.field.text + "' is a " +
                                  std::string(FieldTypeName(t)),
                       "use == or != (or 'in [...]')");
        }
        if (!Convert(out.field, e.value, out.value)) return false;
        if (out.field.derived == DerivedField::kHour && out.value.type == Scalar::Type::kInt &&
            ((out.cmp == Condition::Cmp::kGt && out.value.i >= 23) || (out.cmp == Condition::Cmp::kGe && out.value.i > 23) ||
             (out.cmp == Condition::Cmp::kLt && out.value.i <= 0) || (out.cmp == Condition::Cmp::kEq && (out.value.i < 0 || out.value.i > 23)))) {
          never_ = true;
        }
        return true;
      }
      default: break;
    }
    return Error(e.pos, "unsupported condition");
  }

  bool never() const { return never_; }
  void set_never() { never_ = true; }

 private:
  static bool IsText(FieldType t) {
    return t == FieldType::kString || t == FieldType::kRegion || t == FieldType::kClassification;
  }

  bool Error(Pos pos, std::string message, std::string hint = {}) {
    diags_.Error(pos, std::move(message), std::move(hint));
    return false;
  }

  bool Resolve(const Expr& e, FieldRef& out) {
    std::string error;
    std::vector<std::string> candidates;
    if (Schema::Get().Resolve(kind_, e.field, e.map_key, out, error, candidates)) return true;
    // Point at the unknown name where we can.
    Pos pos = e.pos;
    return Error(pos, error, candidates.empty() ? std::string() : DidYouMean("field", e.field.back(), candidates));
  }

  bool CompileMember(const Expr& e, Condition& out) {
    if (kind_.name != "access") {
      return Error(e.pos, "'principal in ...' applies to access records only");
    }
    out.op = Condition::Op::kMember;
    const std::string& name = e.value.text;
    auto set = std::make_unique<Bitset>(policy_.principals.size());
    if (auto g = policy_.group_index.find(name); g != policy_.group_index.end()) {
      *set = policy_.groups[static_cast<size_t>(g->second)].members;
    } else if (auto p = policy_.principal_index.find(name); p != policy_.principal_index.end()) {
      set->Set(static_cast<size_t>(p->second));
    } else {
      std::vector<std::string> names;
      for (const auto& g2 : policy_.groups) names.push_back(g2.id);
      for (const auto& p2 : policy_.principals) names.push_back(p2.id);
      return Error(e.value.pos, "unknown group or principal '" + name + "'", DidYouMean("", name, names));
    }
    out.group = set.get();
    out.member_of = name;
    policy_.member_sets.push_back(std::move(set));
    return true;
  }

  // Converts a literal to the field's type, checking names against the policy.
  bool Convert(const FieldRef& f, const Value& v, Scalar& out) {
    auto mismatch = [&](std::string want) {
      return Error(v.pos, "'" + f.text + "' is a " + std::string(FieldTypeName(f.type)) + "; " + ValueText(v) +
                              " is not " + want);
    };
    switch (f.type) {
      case FieldType::kString:
      case FieldType::kStringMap:
        if (v.kind != Value::Kind::kString) {
          return Error(v.pos, "quote text values: \"" + v.text + "\"", "bare names are enum values, regions and classifications");
        }
        out.type = Scalar::Type::kString;
        out.s = v.text;
        return true;
      case FieldType::kRegion: {
        if (v.kind != Value::Kind::kIdent && v.kind != Value::Kind::kString) return mismatch("a region");
        out.type = Scalar::Type::kString;
        out.s = v.text;
        if (policy_.FindRegion(v.text) < 0) {
          if (policy_.region_sets.contains(v.text)) {
            return Error(v.pos, "'" + v.text + "' is a set of regions; compare with 'in [" + v.text + "]'");
          }
          return Error(v.pos, "unknown region '" + v.text + "'", DidYouMean("region", v.text, policy_.regions));
        }
        return true;
      }
      case FieldType::kClassification:
        if (v.kind != Value::Kind::kIdent && v.kind != Value::Kind::kString) return mismatch("a classification");
        out.type = Scalar::Type::kString;
        out.s = v.text;
        if (IndexOf(policy_.classifications, v.text) < 0) {
          return Error(v.pos, "unknown classification '" + v.text + "'",
                       DidYouMean("classification", v.text, policy_.classifications));
        }
        return true;
      case FieldType::kInt:
      case FieldType::kDouble:
        if (v.kind != Value::Kind::kNumber) return mismatch("a number");
        if (f.type == FieldType::kInt && v.number == static_cast<double>(static_cast<int64_t>(v.number))) {
          out.type = Scalar::Type::kInt;
          out.i = static_cast<int64_t>(v.number);
        } else {
          out.type = Scalar::Type::kDouble;
          out.d = v.number;
        }
        return true;
      case FieldType::kTimeNanos:
        out.type = Scalar::Type::kInt;
        if (v.kind == Value::Kind::kDate || v.kind == Value::Kind::kTime) {
          out.i = v.seconds * 1'000'000'000;
          return true;
        }
        if (v.kind == Value::Kind::kNumber) {
          out.i = static_cast<int64_t>(v.number);
          return true;
        }
        return mismatch("a date or timestamp");
      case FieldType::kBool:
        if (v.kind != Value::Kind::kIdent || (v.text != "true" && v.text != "false")) return mismatch("true or false");
        out.type = Scalar::Type::kBool;
        out.i = v.text == "true";
        return true;
      case FieldType::kEnum: {
        if (v.kind != Value::Kind::kIdent) {
          return Error(v.pos, "'" + f.text + "' takes one of: " + Join(EnumValueNames(f.enum_type)),
                       v.kind == Value::Kind::kString ? "enum values are written without quotes" : "");
        }
        const auto* ev = FindEnumValue(f.enum_type, v.text);
        if (ev == nullptr) {
          return Error(v.pos, "'" + v.text + "' is not a value of " + f.text + " (" + Join(EnumValueNames(f.enum_type)) + ")",
                       DidYouMean("", v.text, EnumValueNames(f.enum_type)));
        }
        out.type = Scalar::Type::kInt;
        out.i = ev->number();
        return true;
      }
      case FieldType::kWeekday:
      case FieldType::kVerdict: {
        const auto& names = f.type == FieldType::kWeekday ? kWeekdays : kVerdicts;
        int idx = v.kind == Value::Kind::kIdent ? IndexOf(names, v.text) : -1;
        if (idx < 0) {
          return Error(v.pos, "'" + f.text + "' takes one of: " + Join(names), DidYouMean("", v.text, names));
        }
        out.type = Scalar::Type::kInt;
        out.i = idx;
        return true;
      }
    }
    return false;
  }

  static std::string Join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  }

  const RecordKind& kind_;
  Policy& policy_;
  Diagnostics& diags_;
  bool never_ = false;
};

// Two equalities on the same field with different values under one 'and'
// can never both hold.
bool Contradicts(const Condition& c) {
  if (c.op != Condition::Op::kAnd) return false;
  for (size_t a = 0; a < c.children.size(); ++a) {
    for (size_t b = a + 1; b < c.children.size(); ++b) {
      const Condition& x = c.children[a];
      const Condition& y = c.children[b];
      if (x.op == Condition::Op::kCompare && y.op == Condition::Op::kCompare && x.cmp == Condition::Cmp::kEq &&
          y.cmp == Condition::Cmp::kEq && x.field.text == y.field.text &&
          (x.value.s != y.value.s || x.value.i != y.value.i || x.value.d != y.value.d)) {
        return true;
      }
    }
  }
  return false;
}

// Flattens nested 'and' nodes so Contradicts() sees all conjuncts.
void Flatten(Condition& c) {
  for (auto& child : c.children) Flatten(child);
  if (c.op != Condition::Op::kAnd && c.op != Condition::Op::kOr) return;
  std::vector<Condition> flat;
  for (auto& child : c.children) {
    if (child.op == c.op) {
      for (auto& grand : child.children) flat.push_back(std::move(grand));
    } else {
      flat.push_back(std::move(child));
    }
  }
  c.children = std::move(flat);
}

bool Never(const Condition& c) {
  switch (c.op) {
    case Condition::Op::kFalse: return true;
    case Condition::Op::kAnd:
      if (Contradicts(c)) return true;
      for (const auto& child : c.children) {
        if (Never(child)) return true;
      }
      return false;
    case Condition::Op::kOr:
      for (const auto& child : c.children) {
        if (!Never(child)) return false;
      }
      return true;
    default: return false;
  }
}

}  // namespace

bool CompileCondition(const ast::Expr& expr, const RecordKind& kind, Policy& policy, Diagnostics& diags,
                      Condition& out, bool& never) {
  ConditionCompiler c(kind, policy, diags);
  bool ok = c.Compile(expr, out);
  if (ok) Flatten(out);
  never = ok && (c.never() || Never(out));
  return ok;
}

std::string ConditionKey(const Condition& c) {
  auto scalar = [](const Scalar& v) {
    return v.type == Scalar::Type::kString ? "\"" + v.s + "\"" : v.type == Scalar::Type::kDouble ? std::to_string(v.d) : std::to_string(v.i);
  };
  std::string out = "(" + std::to_string(static_cast<int>(c.op));
  switch (c.op) {
    case Condition::Op::kCompare: out += " " + c.field.text + " " + std::to_string(static_cast<int>(c.cmp)) + " " + scalar(c.value); break;
    case Condition::Op::kIn: {
      std::vector<std::string> items;
      for (const auto& v : c.set) items.push_back(scalar(v));
      std::sort(items.begin(), items.end());
      out += " " + c.field.text + (c.negated ? " not in" : " in");
      for (const auto& i : items) out += " " + i;
      break;
    }
    case Condition::Op::kMatches: out += " " + c.field.text + " " + c.glob; break;
    case Condition::Op::kMember: out += " " + c.member_of; break;
    case Condition::Op::kField: out += " " + c.field.text; break;
    default: {
      std::vector<std::string> children;
      for (const auto& child : c.children) children.push_back(ConditionKey(child));
      if (c.op != Condition::Op::kNot) std::sort(children.begin(), children.end());
      for (const auto& child : children) out += " " + child;
    }
  }
  return out + ")";
}

bool ResolveFieldText(const std::string& text, Pos pos, const RecordKind& kind, Diagnostics& diags, FieldRef& out) {
  std::vector<std::string> path;
  std::string map_key;
  std::string rest = text;
  if (size_t bracket = rest.find("[\""); bracket != std::string::npos && rest.ends_with("\"]")) {
    map_key = rest.substr(bracket + 2, rest.size() - bracket - 4);
    rest = rest.substr(0, bracket);
  }
  size_t start = 0;
  while (true) {
    size_t dot = rest.find('.', start);
    path.push_back(rest.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::string error;
  std::vector<std::string> candidates;
  if (path.front().empty() || !Schema::Get().Resolve(kind, path, map_key, out, error, candidates)) {
    if (error.empty()) error = "empty field name";
    diags.Error(pos, error + " (in '" + text + "')", candidates.empty() ? "" : DidYouMean("field", path.back(), candidates));
    return false;
  }
  return true;
}

bool CompileTemplate(const std::string& text, Pos pos, const RecordKind& kind, Diagnostics& diags, Template& out) {
  bool ok = true;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) out.parts.push_back({literal, false, false, {}});
    literal.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      literal += c;
      ++i;
      continue;
    }
    if (c == '}') {
      diags.Error(pos, "unmatched '}' in the message", "write '}}' for a literal brace");
      return false;
    }
    if (c != '{') {
      literal += c;
      continue;
    }
    size_t close = text.find('}', i);
    if (close == std::string::npos) {
      diags.Error(pos, "unclosed '{' in the message", "write '{{' for a literal brace");
      return false;
    }
    flush();
    std::string name = text.substr(i + 1, close - i - 1);
    Template::Part part;
    if (name == "count") {
      part.is_count = true;
    } else {
      part.is_field = true;
      ok &= ResolveFieldText(name, pos, kind, diags, part.field);
    }
    out.parts.push_back(std::move(part));
    i = close;
  }
  flush();
  return ok;
}

}  // namespace custos::policy
