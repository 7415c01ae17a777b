// Structured logging for both daemons and custosctl.
//
// Under systemd (JOURNAL_STREAM set and matching stderr) each line goes to the
// journal with structured fields (PRIORITY, CUSTOS_COMPONENT, CUSTOS_<KEY>);
// otherwise a single human-readable line goes to stderr:
//   2026-11-26T14:52:34.123Z WARN spool: skipped corrupt entry path=/x offset=42
//
//   log::Warn("spool", "skipped corrupt entry", {{"path", p}, {"offset", "42"}});
//
// Thread-safe: lines from several threads never interleave.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace custos::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

struct Field {
  std::string_view key;
  std::string value;
};

void Write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields = {});

inline void Debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, c, m, f);
}
inline void Info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, c, m, f);
}
inline void Warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarning, c, m, f);
}
inline void Error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, c, m, f);
}

// Lines below this level are dropped (default kInfo; CUSTOS_LOG_LEVEL=debug
// in the environment lowers it).
void SetMinLevel(Level level);
// Parses "debug", "info", "warn", "error"; false when unknown.
bool ParseLevel(std::string_view text, Level* out);

}  // namespace custos::log
