// Test and benchmark helper: writes REAL journal files by piping the journal
// export format (https://systemd.io/JOURNAL_EXPORT_FORMATS/) into
// systemd-journal-remote (Debian package systemd-journal-remote).
//
//   std::string bin = FindJournalRemote();           // "" when not installed
//   JournalRemoteWriter w(bin, dir + "/a.journal");  // appends when the file exists
//   w.Add(ExportEntry{.realtime_usec = t, .monotonic_usec = m, .fields = {{"MESSAGE", "hi"}}});
//   Status s = w.Close();                            // waits for journal-remote
//
// Not thread-safe; not linked into the agent.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace custos::agent::journald {

inline constexpr char kTestBootId[] = "0123456789abcdef0123456789abcdef";

struct ExportEntry {
  uint64_t realtime_usec = 0;
  uint64_t monotonic_usec = 0;
  std::string boot_id = kTestBootId;
  std::vector<std::pair<std::string, std::string>> fields;  // in order; values may be binary
};

// The systemd-journal-remote binary: $CUSTOS_JOURNAL_REMOTE, else the Debian
// and usr-merged locations; "" when none is executable.
inline std::string FindJournalRemote() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("CUSTOS_JOURNAL_REMOTE")) candidates.emplace_back(env);
  candidates.emplace_back("/lib/systemd/systemd-journal-remote");
  candidates.emplace_back("/usr/lib/systemd/systemd-journal-remote");
  for (const std::string& c : candidates) {
    if (!c.empty() && access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

// Appends `e` in the export format: "KEY=value\n", or for values holding a
// newline or non-printable bytes "KEY\n" <le64 length> value "\n"; then a blank line.
inline void AppendExport(const ExportEntry& e, std::string* out) {
  *out += "__REALTIME_TIMESTAMP=" + std::to_string(e.realtime_usec) + "\n";
  *out += "__MONOTONIC_TIMESTAMP=" + std::to_string(e.monotonic_usec) + "\n";
  *out += "_BOOT_ID=" + e.boot_id + "\n";
  for (const auto& [key, value] : e.fields) {
    bool binary = false;
    for (char ch : value) binary |= static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f;
    if (!binary) {
      *out += key + "=" + value + "\n";
      continue;
    }
    *out += key + "\n";
    uint64_t n = value.size();
    for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    *out += value + "\n";
  }
  *out += "\n";
}

class JournalRemoteWriter {
 public:
  // Starts `journal_remote --output=<output_file> -`; its stderr goes to
  // <output_file>.stderr.
  JournalRemoteWriter(const std::string& journal_remote, const std::string& output_file) {
    std::signal(SIGPIPE, SIG_IGN);  // a dead journal-remote shows as a failed write, not a killed test
    std::string cmd = "'" + journal_remote + "' --output='" + output_file + "' - 2>>'" + output_file + ".stderr'";
    pipe_ = popen(cmd.c_str(), "w");
  }
  ~JournalRemoteWriter() { (void)Close(); }
  JournalRemoteWriter(const JournalRemoteWriter&) = delete;
  JournalRemoteWriter& operator=(const JournalRemoteWriter&) = delete;

  void Add(const ExportEntry& e) {
    buffer_.clear();
    AppendExport(e, &buffer_);
    if (pipe_ != nullptr && std::fwrite(buffer_.data(), 1, buffer_.size(), pipe_) != buffer_.size()) failed_ = true;
  }

  // Pushes what Add() buffered to journal-remote (for live writers).
  void Flush() {
    if (pipe_ != nullptr && std::fflush(pipe_) != 0) failed_ = true;
  }

  // Ends the input and waits; an error when journal-remote could not be run or failed.
  Status Close() {
    if (pipe_ == nullptr) return closed_ ? Status::Ok() : Internal("could not start systemd-journal-remote");
    int rc = pclose(pipe_);
    pipe_ = nullptr;
    closed_ = true;
    if (failed_) return Internal("writing to systemd-journal-remote failed");
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
      return Internal("systemd-journal-remote failed (wait status " + std::to_string(rc) + ")");
    }
    return Status::Ok();
  }

 private:
  FILE* pipe_ = nullptr;
  bool failed_ = false;
  bool closed_ = false;
  std::string buffer_;
};

// Writes `entries` to `output_file` (a new file, or appended to an existing one).
inline Status WriteJournal(const std::string& journal_remote, const std::string& output_file,
                           const std::vector<ExportEntry>& entries) {
  JournalRemoteWriter w(journal_remote, output_file);
  for (const ExportEntry& e : entries) w.Add(e);
  return w.Close();
}

}  // namespace custos::agent::journald
