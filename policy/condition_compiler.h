// Compiles rule conditions and message templates against the record schema
// and the policy's names (part of Compile(); see compiler.h).
#pragma once

#include <string>

#include "policy/ast.h"
#include "policy/condition.h"
#include "policy/diagnostics.h"
#include "policy/policy.h"
#include "policy/schema.h"

namespace custos::policy {

// Compiles `expr` for records of `kind`; errors go to `diags`.
// Returns false on errors. Sets `never` when the condition can never hold
// (for a warning).
bool CompileCondition(const ast::Expr& expr, const RecordKind& kind, Policy& policy, Diagnostics& diags,
                      Condition& out, bool& never);

// A canonical text of a compiled condition: equal for conditions that test
// the same thing the same way (used to find duplicated rules).
std::string ConditionKey(const Condition& c);

// Resolves a dotted field path written in a string (templates, 'by').
bool ResolveFieldText(const std::string& text, Pos pos, const RecordKind& kind, Diagnostics& diags, FieldRef& out);

// "{field}" placeholders; "{{" and "}}" are literal braces; {count} is the
// number of records that fired a threshold rule.
bool CompileTemplate(const std::string& text, Pos pos, const RecordKind& kind, Diagnostics& diags, Template& out);

}  // namespace custos::policy
