// Parses one policy file into its syntax tree (policy/ast.h). Syntax errors
// go to `diags` with their position; the parser then skips to the next
// declaration, so one run reports every broken declaration of a file.
#pragma once

#include <string_view>

#include "policy/ast.h"
#include "policy/diagnostics.h"

namespace custos::policy {

ast::File Parse(std::string_view text, uint32_t file_index, Diagnostics& diags);

}  // namespace custos::policy
