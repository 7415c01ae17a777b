// Checks and compiles policy files into a Policy (policy.h).
//
//   CUSTOS_ASSIGN_OR_RETURN(auto files, policy::ReadPolicyFiles({"/etc/custos/policy.d"}));
//   policy::CompileResult r = policy::Compile(std::move(files));
//   std::cerr << r.diagnostics.Format(r.files);
//   if (!r.policy) ... refused: the errors say where and why ...
//
// The checker resolves every name (regions, classifications, datasets,
// principals, groups, record fields and enum values), so a policy that
// compiles cannot fail on a typo at run time. Errors refuse the whole set;
// warnings (a grant shadowed by an earlier one, a rule that can never match,
// a grant naming an unknown dataset, ...) do not.
//
// Thread-safety: Compile() is a pure function of its inputs.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "policy/diagnostics.h"
#include "policy/policy.h"

namespace custos::policy {

struct CompileOptions {
  int64_t now_unix = static_cast<int64_t>(std::time(nullptr));  // for "grant already expired" warnings
};

struct CompileResult {
  std::shared_ptr<const Policy> policy;  // null when there are errors
  Diagnostics diagnostics;
  std::vector<SourceFile> files;
};

CompileResult Compile(std::vector<SourceFile> files, const CompileOptions& options = {});

// Reads policy files: each path is a file, or a directory whose *.policy
// files are read in name order (not recursively).
Result<std::vector<SourceFile>> ReadPolicyFiles(const std::vector<std::string>& paths);
// The files ReadPolicyFiles() reads, in that order, without reading them.
std::vector<std::string> PolicyFilePaths(const std::vector<std::string>& paths);

// The built-in classifications; a policy may declare more.
const std::vector<std::string>& BuiltinClassifications();

}  // namespace custos::policy
