// Log lines → level and template, online and without training.
//
// The template of a line is what stays the same across the lines one log
// statement writes:
//   - a line naming its source location in one of its first three tokens
//     (logback's "%logger{..}#%line", e.g. "c.s.ContactsServiceImpl#37") is
//     keyed by level + location: that is the statement itself;
//   - otherwise level + its first ten tokens, each token holding a digit
//     masked as <*> (numbers, ids, hex, UUIDs, durations).
// Trace/span id decorations ("TraceID: … SpanID: …") and a leading clock
// time are removed first. The level comes from the record's severity when
// it has one, else from a JSON "severity"/"level" member or the first
// INFO/WARN/ERROR/… word of the line.
#pragma once

#include <string>
#include <string_view>

namespace custos::rca {

struct ParsedLog {
  std::string level;    // DEBUG, INFO, WARN, ERROR, FATAL
  std::string message;  // the text the template is taken from
};

// `severity` is custos.v1.Severity as a number (0 = unknown: read the text).
ParsedLog ParseLogLine(std::string_view line, int severity);

std::string LogTemplate(const ParsedLog& log);

// The template when the line names its source location ("ERROR
// c.s.ContactsServiceImpl#37"), else "" (the statement is then known only by
// its words).
std::string LocationTemplate(const ParsedLog& log);

}  // namespace custos::rca
