// MultilineJoiner groups lines into records: a line that matches the start
// pattern begins a record; any other line is appended (joined with '\n') to
// the record before it. For stack traces and other multi-line messages:
//
//   auto pattern = StartPattern::Compile("^[0-9]{4}-[0-9]{2}-[0-9]{2} ");
//   MultilineJoiner joiner(*pattern, {.max_lines = 500, .max_bytes = 1 << 20,
//                                     .flush_timeout_nanos = kNanosPerSecond});
//   joiner.Add(std::move(line), clock.MonotonicNanos(), &records);
//   joiner.FlushIfDue(clock.MonotonicNanos(), &records);   // on every poll
//
// A record is finished by the next start line, by FlushIfDue() once its last
// line is flush_timeout old (so the last record of a burst is not held for
// ever), or by Flush(). Bounds: a record that would pass max_lines or
// max_bytes is handed out as it is (multiline_split set) and the line starts
// the next record, so memory stays bounded.
//
// Without a pattern (StartPattern that is empty) every line is a record and
// nothing is held. Pieces of a cut over-long line (Line::continued) never
// start a record.
//
// Not thread-safe: one owner. StartPattern is immutable once compiled and may
// be shared by joiners on one thread (regexec is thread-safe anyway).
#pragma once

#include <regex.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/sources/files/line_splitter.h"
#include "common/status.h"

namespace custos::agent::files {

// A POSIX extended regular expression (regcomp REG_EXTENDED | REG_NOSUB).
class StartPattern {
 public:
  // An empty `regex` gives the pattern that turns joining off.
  static Result<std::shared_ptr<const StartPattern>> Compile(const std::string& regex);
  ~StartPattern();
  StartPattern(const StartPattern&) = delete;
  StartPattern& operator=(const StartPattern&) = delete;

  bool empty() const { return !compiled_; }
  bool Matches(const std::string& text) const;

 private:
  StartPattern() = default;
  regex_t regex_{};
  bool compiled_ = false;
};

struct JoinerOptions {
  size_t max_lines = 500;
  size_t max_bytes = 1 << 20;
  int64_t flush_timeout_nanos = 1'000'000'000;
};

class MultilineJoiner {
 public:
  MultilineJoiner(std::shared_ptr<const StartPattern> pattern, JoinerOptions options)
      : pattern_(std::move(pattern)), options_(options) {}

  // Adds a line read at monotonic time `now`; appends finished records to `out`.
  void Add(Line&& line, int64_t now, std::vector<Line>* out);
  // Hands out the held record when its last line is flush_timeout old.
  void FlushIfDue(int64_t now, std::vector<Line>* out);
  // Hands out the held record, if any.
  void Flush(std::vector<Line>* out);
  // Drops the held record (its lines will be read again).
  void Clear() { held_.reset(); }

  bool holding() const { return held_.has_value(); }
  // Offset of the first byte of the held record (valid while holding()).
  uint64_t held_start() const { return held_->start; }

 private:
  const std::shared_ptr<const StartPattern> pattern_;
  const JoinerOptions options_;
  std::optional<Line> held_;
  int64_t last_add_nanos_ = 0;
};

}  // namespace custos::agent::files
