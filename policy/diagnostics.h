// Diagnostics of the policy language: every error and warning names its file,
// line and column, quotes the offending line with a caret under the column,
// and may carry a hint ("did you mean region 'eu-central-1'?").
//
//   policy/site.policy:12:13: error: unknown region 'eu-centrl-1'
//      12 |   regions = [eu-centrl-1]
//         |              ^
//      hint: did you mean region 'eu-central-1'?
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace custos::policy {

// A policy file's text, kept for quoting lines in diagnostics.
struct SourceFile {
  std::string path;
  std::string text;
};

// A place in a source file; line and column count from 1 (columns in bytes).
struct Pos {
  uint32_t file = 0;  // index into the file list of the compilation
  uint32_t line = 0;
  uint32_t col = 0;
};

enum class Severity { kError, kWarning };

struct Diagnostic {
  Severity severity = Severity::kError;
  Pos pos;
  std::string message;
  std::string hint;  // empty when there is none
};

// Collects diagnostics while a policy set is parsed and checked.
class Diagnostics {
 public:
  void Error(Pos pos, std::string message, std::string hint = {});
  void Warning(Pos pos, std::string message, std::string hint = {});

  bool has_errors() const { return errors_ > 0; }
  size_t error_count() const { return errors_; }
  size_t warning_count() const { return all_.size() - errors_; }
  const std::vector<Diagnostic>& all() const { return all_; }

  // All diagnostics in the format above, sorted by file, line and column.
  std::string Format(const std::vector<SourceFile>& files) const;

 private:
  std::vector<Diagnostic> all_;
  size_t errors_ = 0;
};

// One diagnostic in the format above (no trailing newline).
std::string FormatDiagnostic(const Diagnostic& d, const std::vector<SourceFile>& files);

// The candidate closest to `word` by edit distance, or "" when none is close
// enough to be a plausible typo.
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

// "did you mean KIND 'X'?" for the closest candidate, or "".
std::string DidYouMean(std::string_view kind, std::string_view word,
                       const std::vector<std::string>& candidates);
// DidYouMean(), or `fallback` when no candidate is close.
std::string DidYouMeanOr(std::string_view kind, std::string_view word, const std::vector<std::string>& candidates,
                         std::string fallback);

}  // namespace custos::policy
