// The syntax tree of a policy file, as the parser reads it and before names
// are resolved (policy/compiler.h checks and compiles it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "policy/diagnostics.h"

namespace custos::policy::ast {

// A value on the right of 'key = ...'.
struct Value {
  enum class Kind { kIdent, kString, kNumber, kDate, kTime, kDuration, kList, kMap };
  Kind kind = Kind::kIdent;
  Pos pos;
  std::string text;    // kIdent, kString (contents), others: the lexeme
  double number = 0;   // kNumber
  int64_t seconds = 0; // kDate, kTime, kDuration
  std::vector<Value> items;          // kList; kMap: alternating key (kIdent/kString), value
};

// A condition of a rule ('when = ...').
struct Expr {
  enum class Kind {
    kOr, kAnd, kNot,
    kCompare,   // field op value
    kIn,        // field in [values]   (negated: not_in)
    kMatches,   // field matches "glob"
    kMember,    // principal in GROUP
    kField,     // a boolean field on its own
    kBool,      // true / false
  };
  Kind kind = Kind::kBool;
  Pos pos;
  std::vector<std::unique_ptr<Expr>> children;  // kOr, kAnd, kNot
  std::vector<std::string> field;               // dotted path: {"principal", "user"}
  std::string map_key;                          // field["key"]
  Pos map_key_pos;
  std::string op;                               // kCompare: == != < <= > >=
  bool negated = false;                         // kIn: 'not in'
  Value value;                                  // kCompare, kMatches; kIn: a kList
  bool bool_value = false;                      // kBool
};

struct Attribute {
  std::string key;
  Pos pos;
  Value value;                  // every attribute but 'when'
  std::unique_ptr<Expr> expr;   // 'when'
};

// residency ... { transfer REGION basis BASIS "note" }
struct Transfer {
  Pos pos;
  Value region;  // a region or region set name
  std::string basis;
  Pos basis_pos;
  std::string note;
};

struct Decl {
  enum class Kind { kRegions, kClassification, kDataset, kPrincipal, kGroup, kGrant, kResidency, kRule, kTest };
  Kind kind = Kind::kDataset;
  Pos pos;       // the keyword
  std::string name;
  Pos name_pos;
  std::vector<Attribute> attributes;  // block declarations
  Value list;                         // 'regions NAME = [...]', 'group NAME = [...]'
  std::vector<Transfer> transfers;    // residency
};

struct File {
  uint32_t index = 0;
  std::vector<Decl> decls;
};

}  // namespace custos::policy::ast
