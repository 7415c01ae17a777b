#include "policy/diagnostics.h"

#include <algorithm>
#include <tuple>

namespace custos::policy {

void Diagnostics::Error(Pos pos, std::string message, std::string hint) {
  all_.push_back({Severity::kError, pos, std::move(message), std::move(hint)});
  ++errors_;
}

void Diagnostics::Warning(Pos pos, std::string message, std::string hint) {
  all_.push_back({Severity::kWarning, pos, std::move(message), std::move(hint)});
}

namespace {

std::string_view LineOf(const std::string& text, uint32_t line) {
  size_t start = 0;
  for (uint32_t l = 1; l < line; ++l) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) return {};
    start = nl + 1;
  }
  size_t end = text.find('\n', start);
  if (end == std::string::npos) end = text.size();
  return std::string_view(text).substr(start, end - start);
}

}  // namespace

std::string FormatDiagnostic(const Diagnostic& d, const std::vector<SourceFile>& files) {
  std::string path = d.pos.file < files.size() ? files[d.pos.file].path : "<policy>";
  std::string out = path + ":" + std::to_string(d.pos.line) + ":" + std::to_string(d.pos.col) +
                    ": " + (d.severity == Severity::kError ? "error" : "warning") + ": " +
                    d.message;
  if (d.pos.file < files.size() && d.pos.line > 0) {
    std::string_view line = LineOf(files[d.pos.file].text, d.pos.line);
    std::string number = std::to_string(d.pos.line);
    std::string gutter(number.size(), ' ');
    out += "\n  " + number + " | " + std::string(line);
    std::string caret;
    // Keep tabs so the caret lines up under the column in a terminal.
    for (size_t i = 0; i + 1 < d.pos.col && i < line.size(); ++i) caret += line[i] == '\t' ? '\t' : ' ';
    out += "\n  " + gutter + " | " + caret + "^";
  }
  if (!d.hint.empty()) out += "\n  hint: " + d.hint;
  return out;
}

std::string Diagnostics::Format(const std::vector<SourceFile>& files) const {
  std::vector<const Diagnostic*> sorted;
  for (const auto& d : all_) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic* a, const Diagnostic* b) {
    return std::tie(a->pos.file, a->pos.line, a->pos.col) < std::tie(b->pos.file, b->pos.line, b->pos.col);
  });
  std::string out;
  for (const Diagnostic* d : sorted) out += FormatDiagnostic(*d, files) + "\n";
  return out;
}

namespace {

// Edit distance counting a swap of two neighbours as one edit ("raed" is one
// edit from "read"): the optimal string alignment distance.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 0;
  for (const auto& c : candidates) {
    size_t d = EditDistance(word, c);
    if (best.empty() || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  // A third of the word (at least one edit, at most three) counts as a typo.
  size_t limit = std::clamp<size_t>(word.size() / 3, 1, 3);
  return !best.empty() && best_distance <= limit ? best : std::string();
}

std::string DidYouMean(std::string_view kind, std::string_view word,
                       const std::vector<std::string>& candidates) {
  std::string best = ClosestMatch(word, candidates);
  if (best.empty()) return {};
  return "did you mean " + std::string(kind) + (kind.empty() ? "" : " ") + "'" + best + "'?";
}

std::string DidYouMeanOr(std::string_view kind, std::string_view word, const std::vector<std::string>& candidates,
                         std::string fallback) {
  std::string hint = DidYouMean(kind, word, candidates);
  return hint.empty() ? fallback : hint;
}

}  // namespace custos::policy
