// Small text helpers shared by the /proc and cgroup parsers: splitting into
// lines and whitespace-separated fields, and number parsing that never throws
// (std::from_chars, not std::stoull). Thread-compatible: no shared state.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace custos::agent::host_metrics {

// Fields separated by runs of spaces or tabs; empty fields are not returned.
inline std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// Lines without their '\n'; a final line without '\n' is kept, a trailing
// empty one is not.
inline std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The whole of `s` as a decimal unsigned integer; nullopt otherwise.
inline std::optional<uint64_t> ParseUint(std::string_view s) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

inline std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

inline std::optional<double> ParseDouble(std::string_view s) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "PATH:LINE: what" as INVALID_ARGUMENT; `line` is 1-based, 0 for the whole file.
inline Status ParseError(std::string_view path, size_t line, std::string_view what) {
  std::string m(path);
  if (line > 0) m += ":" + std::to_string(line);
  m += ": ";
  m += what;
  return InvalidArgument(std::move(m));
}

}  // namespace custos::agent::host_metrics
