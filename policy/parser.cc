#include "policy/parser.h"

#include <utility>

#include "policy/lexer.h"

namespace custos::policy {
namespace {

using ast::Decl;
using ast::Expr;
using ast::Value;

struct SyntaxError {};  // unwinds one declaration; the diagnostic is already recorded

const std::vector<std::string> kDeclKeywords = {"regions", "classification", "dataset", "principal",
                                                "group", "grant", "residency", "rule", "test"};

class Parser {
 public:
  Parser(std::vector<Token> tokens, uint32_t file, Diagnostics& diags)
      : t_(std::move(tokens)), file_(file), diags_(diags) {}

  ast::File Run() {
    ast::File out;
    out.index = file_;
    while (true) {
      SkipNewlines();
      if (Peek().kind == Tok::kEnd) break;
      size_t start = i_;
      try {
        out.decls.push_back(ParseDecl());
      } catch (const SyntaxError&) {
        Synchronize(start);
      }
    }
    return out;
  }

 private:
  // --- tokens ---------------------------------------------------------------
  const Token& Peek() {
    if (skip_newlines_ > 0) {
      while (t_[i_].kind == Tok::kNewline) ++i_;
    }
    return t_[i_];
  }
  const Token& Next() {
    const Token& t = Peek();
    if (t.kind != Tok::kEnd) ++i_;
    return t;
  }
  bool PeekIdent(std::string_view word) { return Peek().kind == Tok::kIdent && Peek().text == word; }
  void SkipNewlines() {
    while (t_[i_].kind == Tok::kNewline) ++i_;
  }

  [[noreturn]] void Fail(const Token& at, std::string message, std::string hint = {}) {
    diags_.Error(at.pos, std::move(message), std::move(hint));
    throw SyntaxError{};
  }
  std::string Describe(const Token& t) {
    if (t.kind == Tok::kIdent) return "'" + t.text + "'";
    if (t.kind == Tok::kString) return "\"" + t.text + "\"";
    if (t.kind == Tok::kNumber || t.kind == Tok::kDate || t.kind == Tok::kTime || t.kind == Tok::kDuration) {
      return "'" + t.text + "'";
    }
    return std::string(TokName(t.kind));
  }
  const Token& Expect(Tok kind, std::string_view what) {
    const Token& t = Peek();
    if (t.kind != kind) Fail(t, "expected " + std::string(what) + ", found " + Describe(t));
    return Next();
  }

  // Skips to the start of the next declaration: a line that begins with a
  // declaration keyword outside any braces.
  void Synchronize(size_t start) {
    skip_newlines_ = 0;
    depth_ = 0;
    int depth = 0;
    i_ = start;
    if (t_[i_].kind != Tok::kEnd) ++i_;
    bool line_start = false;
    while (t_[i_].kind != Tok::kEnd) {
      const Token& t = t_[i_];
      if (t.kind == Tok::kLBrace) ++depth;
      if (t.kind == Tok::kRBrace && depth > 0 && --depth == 0) {
        ++i_;
        return;
      }
      if (line_start && depth == 0 && t.kind == Tok::kIdent) {
        for (const auto& k : kDeclKeywords) {
          if (t.text == k) return;
        }
      }
      line_start = t.kind == Tok::kNewline;
      ++i_;
    }
  }

  // --- declarations -------------------------------------------------------------
  Decl ParseDecl() {
    const Token& kw = Peek();
    if (kw.kind != Tok::kIdent) Fail(kw, "expected a declaration, found " + Describe(kw));
    static const std::pair<const char*, Decl::Kind> kKinds[] = {
        {"regions", Decl::Kind::kRegions},     {"classification", Decl::Kind::kClassification},
        {"dataset", Decl::Kind::kDataset},     {"principal", Decl::Kind::kPrincipal},
        {"group", Decl::Kind::kGroup},         {"grant", Decl::Kind::kGrant},
        {"residency", Decl::Kind::kResidency}, {"rule", Decl::Kind::kRule},
        {"test", Decl::Kind::kTest}};
    Decl d;
    bool known = false;
    for (const auto& [word, kind] : kKinds) {
      if (kw.text == word) {
        d.kind = kind;
        known = true;
      }
    }
    if (!known) {
      Fail(kw, "unknown declaration '" + kw.text + "'",
           DidYouMeanOr("", kw.text, kDeclKeywords,
                        "a policy file declares regions, classification, dataset, principal, group, grant, residency, "
                        "rule and test"));
    }
    d.pos = Next().pos;
    const Token& name = Peek();
    if (name.kind != Tok::kIdent && name.kind != Tok::kString) {
      Fail(name, "expected the " + kw.text + "'s name, found " + Describe(name));
    }
    d.name = name.text;
    d.name_pos = name.pos;
    Next();
    switch (d.kind) {
      case Decl::Kind::kRegions:
      case Decl::Kind::kGroup:
        Expect(Tok::kAssign, "'='");
        d.list = ParseValue();
        if (d.list.kind != Value::Kind::kList) Fail(t_[i_ - 1], "expected a list in brackets, e.g. [a, b]");
        break;
      case Decl::Kind::kClassification:
        break;
      default:
        ParseBlock(d);
    }
    const Token& end = Peek();
    if (end.kind != Tok::kNewline && end.kind != Tok::kEnd) {
      Fail(end, "expected the end of the line after the " + kw.text + ", found " + Describe(end));
    }
    return d;
  }

  void ParseBlock(Decl& d) {
    Expect(Tok::kLBrace, "'{'");
    while (true) {
      SkipNewlines();
      const Token& t = Peek();
      if (t.kind == Tok::kRBrace) {
        Next();
        return;
      }
      if (t.kind != Tok::kIdent) Fail(t, "expected an attribute name or '}', found " + Describe(t));
      if (d.kind == Decl::Kind::kResidency && t.text == "transfer") {
        d.transfers.push_back(ParseTransfer());
      } else {
        ast::Attribute a;
        a.key = t.text;
        a.pos = t.pos;
        Next();
        Expect(Tok::kAssign, "'=' after '" + a.key + "'");
        if (a.key == "when") {
          a.expr = ParseOr();
        } else {
          a.value = ParseValue();
        }
        d.attributes.push_back(std::move(a));
      }
      const Token& end = Peek();
      if (end.kind == Tok::kRBrace) continue;
      if (end.kind != Tok::kNewline) {
        Fail(end, "expected the end of the line, found " + Describe(end),
             "write one attribute per line");
      }
    }
  }

  ast::Transfer ParseTransfer() {
    ast::Transfer tr;
    tr.pos = Next().pos;  // 'transfer'
    const Token& region = Peek();
    if (region.kind != Tok::kIdent) Fail(region, "expected a region after 'transfer', found " + Describe(region));
    tr.region = ParseValue();
    if (!PeekIdent("basis")) {
      Fail(Peek(), "expected 'basis' after the transfer's region",
           "e.g. transfer us-east-1 basis scc \"SCC 2021/914, vendor contract 17\"");
    }
    Next();
    const Token& basis = Peek();
    if (basis.kind != Tok::kIdent) Fail(basis, "expected a transfer basis, found " + Describe(basis));
    tr.basis = basis.text;
    tr.basis_pos = basis.pos;
    Next();
    if (Peek().kind == Tok::kString) tr.note = Next().text;
    return tr;
  }

  // --- values -------------------------------------------------------------------
  Value ParseValue() {
    const Token& t = Peek();
    Value v;
    v.pos = t.pos;
    v.text = t.text;
    switch (t.kind) {
      case Tok::kIdent: v.kind = Value::Kind::kIdent; break;
      case Tok::kString: v.kind = Value::Kind::kString; break;
      case Tok::kNumber: v.kind = Value::Kind::kNumber; v.number = t.number; break;
      case Tok::kDate: v.kind = Value::Kind::kDate; v.seconds = t.value; break;
      case Tok::kTime: v.kind = Value::Kind::kTime; v.seconds = t.value; break;
      case Tok::kDuration: v.kind = Value::Kind::kDuration; v.seconds = t.value; break;
      case Tok::kLBracket: return ParseList();
      case Tok::kLBrace: return ParseMap();
      default: Fail(t, "expected a value, found " + Describe(t));
    }
    Next();
    return v;
  }

  Value ParseList() {
    Value v;
    v.kind = Value::Kind::kList;
    v.pos = Next().pos;  // '['
    ++skip_newlines_;
    while (Peek().kind != Tok::kRBracket) {
      Value item = ParseValue();
      if (item.kind == Value::Kind::kList || item.kind == Value::Kind::kMap) {
        Fail(t_[i_ - 1], "lists hold names, strings, numbers and dates, not lists or maps");
      }
      v.items.push_back(std::move(item));
      if (Peek().kind == Tok::kComma) {
        Next();
        continue;
      }
      if (Peek().kind != Tok::kRBracket) Fail(Peek(), "expected ',' or ']' in the list, found " + Describe(Peek()));
    }
    --skip_newlines_;
    Next();  // ']'
    return v;
  }

  Value ParseMap() {
    Value v;
    v.kind = Value::Kind::kMap;
    v.pos = Next().pos;  // '{'
    ++skip_newlines_;
    while (Peek().kind != Tok::kRBrace) {
      const Token& key = Peek();
      if (key.kind != Tok::kIdent && key.kind != Tok::kString) Fail(key, "expected a key, found " + Describe(key));
      Value k;
      k.kind = Value::Kind::kString;
      k.pos = key.pos;
      k.text = key.text;
      Next();
      Expect(Tok::kAssign, "'=' after the key");
      Value val = ParseValue();
      if (val.kind == Value::Kind::kList || val.kind == Value::Kind::kMap) {
        Fail(t_[i_ - 1], "map values are names, strings or numbers");
      }
      v.items.push_back(std::move(k));
      v.items.push_back(std::move(val));
      if (Peek().kind == Tok::kComma) Next();
    }
    --skip_newlines_;
    Next();  // '}'
    return v;
  }

  // --- conditions -----------------------------------------------------------------
  // Binary operators may end a line: the condition goes on on the next one.
  std::unique_ptr<Expr> ParseOr() {
    auto left = ParseAnd();
    while (PeekIdent("or")) {
      auto node = std::make_unique<Expr>();
      node->kind = Expr::Kind::kOr;
      node->pos = Next().pos;
      SkipNewlines();
      node->children.push_back(std::move(left));
      node->children.push_back(ParseAnd());
      left = std::move(node);
    }
    return left;
  }

  std::unique_ptr<Expr> ParseAnd() {
    auto left = ParseUnary();
    while (PeekIdent("and")) {
      auto node = std::make_unique<Expr>();
      node->kind = Expr::Kind::kAnd;
      node->pos = Next().pos;
      SkipNewlines();
      node->children.push_back(std::move(left));
      node->children.push_back(ParseUnary());
      left = std::move(node);
    }
    return left;
  }

  std::unique_ptr<Expr> ParseUnary() {
    if (++depth_ > 64) Fail(Peek(), "condition nested too deeply (more than 64 levels)");
    std::unique_ptr<Expr> out;
    if (PeekIdent("not")) {
      out = std::make_unique<Expr>();
      out->kind = Expr::Kind::kNot;
      out->pos = Next().pos;
      out->children.push_back(ParseUnary());
    } else {
      out = ParsePrimary();
    }
    --depth_;
    return out;
  }

  std::unique_ptr<Expr> ParsePrimary() {
    const Token& t = Peek();
    auto e = std::make_unique<Expr>();
    e->pos = t.pos;
    if (t.kind == Tok::kLParen) {
      Next();
      ++skip_newlines_;
      e = ParseOr();
      Expect(Tok::kRParen, "')'");
      --skip_newlines_;
      return e;
    }
    if (t.kind != Tok::kIdent) Fail(t, "expected a field name or '(', found " + Describe(t));
    if (t.text == "true" || t.text == "false") {
      e->kind = Expr::Kind::kBool;
      e->bool_value = t.text == "true";
      Next();
      return e;
    }
    e->field.push_back(Next().text);
    while (Peek().kind == Tok::kDot) {
      Next();
      e->field.push_back(Expect(Tok::kIdent, "a field name after '.'").text);
    }
    if (Peek().kind == Tok::kLBracket) {
      Next();
      const Token& key = Expect(Tok::kString, "a quoted key, e.g. attributes[\"http.route\"]");
      e->map_key = key.text;
      e->map_key_pos = key.pos;
      Expect(Tok::kRBracket, "']'");
    }
    const Token& op = Peek();
    switch (op.kind) {
      case Tok::kEq: case Tok::kNe: case Tok::kLt: case Tok::kLe: case Tok::kGt: case Tok::kGe:
        e->kind = Expr::Kind::kCompare;
        e->op = std::string(TokName(op.kind)).substr(1, op.kind == Tok::kLt || op.kind == Tok::kGt ? 1 : 2);
        Next();
        SkipNewlines();
        e->value = ParseScalar();
        return e;
      case Tok::kAssign:
        Fail(op, "'=' assigns; compare with '=='");
      default:
        break;
    }
    if (PeekIdent("matches")) {
      Next();
      e->kind = Expr::Kind::kMatches;
      e->value = ParseScalar();
      if (e->value.kind != Value::Kind::kString) Fail(t_[i_ - 1], "'matches' takes a quoted glob pattern, e.g. \"/data/*/raw/**\"");
      return e;
    }
    bool negated = false;
    if (PeekIdent("not")) {
      Next();
      negated = true;
      if (!PeekIdent("in")) Fail(Peek(), "expected 'in' after 'not'");
    }
    if (PeekIdent("in")) {
      Next();
      if (Peek().kind == Tok::kIdent && !negated && e->field.size() == 1 && e->field[0] == "principal") {
        e->kind = Expr::Kind::kMember;
        e->value = ParseScalar();
        return e;
      }
      if (Peek().kind != Tok::kLBracket) Fail(Peek(), "expected a list after 'in', e.g. [48, 79]");
      e->kind = Expr::Kind::kIn;
      e->negated = negated;
      e->value = ParseList();
      return e;
    }
    e->kind = Expr::Kind::kField;  // a boolean field on its own
    return e;
  }

  Value ParseScalar() {
    Value v = ParseValue();
    if (v.kind == Value::Kind::kList || v.kind == Value::Kind::kMap) {
      Fail(t_[i_ - 1], "expected one value here; use 'in [...]' for a list");
    }
    return v;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  uint32_t file_;
  Diagnostics& diags_;
  int skip_newlines_ = 0;
  int depth_ = 0;
};

}  // namespace

ast::File Parse(std::string_view text, uint32_t file_index, Diagnostics& diags) {
  return Parser(Lex(text, file_index, diags), file_index, diags).Run();
}

}  // namespace custos::policy
