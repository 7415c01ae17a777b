// journald: reads the systemd journal through sd-journal and hands each entry
// to the batcher as a custos::v1::LogRecord (field mapping: entry_mapper.h).
//
//   [sources.journald]
//   enabled = true
//   units = ["nginx.service"]   # default: every unit
//   priority = "info"           # most verbose priority kept; default "debug" (all)
//   directory = "/path"         # default: the local system journal
//   start_at = "end"            # or "beginning"; only when no position is saved
//   fields = ["_EXE"]           # extra journal fields copied into fields
//   (all keys, defaults and meanings: README.md in this folder)
//
// Position: the journal cursor of the last entry of each chunk handed to
// Batcher::Add(), so it becomes durable in the same spool entry as the
// records. Start(cursor) seeks to it and skips the entry itself. A cursor that
// cannot be parsed resets to start_at; a well-formed one whose entry is gone
// (vacuumed) resumes at the first entry after it. Both are logged and counted
// in custos_agent_journald_cursor_resets_total{reason}.
//
// Backpressure: when Add() answers RESOURCE_EXHAUSTED the same chunk is
// retried every 100 ms; the journal keeps the entries, nothing is dropped.
//
// A journal that cannot be opened (missing directory, no journald) is logged
// once and retried every retry_interval; Start() never fails for it. Without
// a saved cursor, start_at = "end" means the end of the journal at the first
// open that succeeds; only when an earlier attempt found no journal at all
// (directory missing, no journal files) is it read from its beginning, since
// all of it is new. A
// journal file that sd-journal cannot read is skipped by sd-journal itself;
// the source checks each new file and logs and counts the unreadable ones
// (custos_agent_journald_bad_files_total).
//
// Thread-safety: Start() and Stop() from one controlling thread; the source
// reads on its own thread, which alone touches the sd_journal handle.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/source.h"
#include "agent/sources/journald/entry_mapper.h"
#include "common/status.h"

struct sd_journal;  // <systemd/sd-journal.h>

namespace custos::agent::journald {

inline constexpr char kSourceName[] = "journald";

struct JournaldOptions {
  std::string directory;            // "": the local system journal (SD_JOURNAL_LOCAL_ONLY)
  std::vector<std::string> units;   // _SYSTEMD_UNIT values kept; empty: all
  int max_priority = 7;             // keep PRIORITY 0..max_priority; 7: no filter
  bool start_at_end = true;         // without a saved cursor: only entries written from now on
  size_t chunk_entries = 1000;      // entries per Batcher::Add()
  int64_t retry_interval_nanos = 10'000'000'000;     // reopening a journal that failed
  int64_t backpressure_retry_nanos = 100'000'000;    // retrying a refused chunk
  // After a change notification, wait this long before reading, so that a
  // writer's burst is read once: the kernel merges repeated inotify events
  // that are not yet read, and libsystemd re-opens a file for each event it
  // processes (60 open/fstat/close a second here with no wait).
  int64_t settle_nanos = 100'000'000;
  size_t max_unit_resources = 256;  // distinct units given their own Resource
  MapperOptions mapper;
};

// Reads a [sources.journald] section; bad values are reported by Finish() or
// returned here (unknown priority, start_at or field name).
Result<std::unique_ptr<Source>> CreateJournaldSource(ConfigSection& config, SourceContext& context);

// "err"/"3" → 3 ... (journalctl's names, plus "error", "warn", "critical",
// "emergency"); INVALID_ARGUMENT otherwise.
Result<int> ParsePriority(const std::string& text);

class JournaldSource final : public Source {
 public:
  JournaldSource(JournaldOptions options, SourceContext& context);
  ~JournaldSource() override;
  JournaldSource(const JournaldSource&) = delete;
  JournaldSource& operator=(const JournaldSource&) = delete;

  // Source
  const std::string& name() const override { return name_; }
  // `position` is a journal cursor or empty. Fails only when called twice or
  // when the stop eventfd cannot be made.
  Status Start(const std::string& position) override;
  void Stop() override;

 private:
  struct JournalCloser {
    void operator()(sd_journal* j) const;
  };
  struct FileState {
    int64_t size = -1;
    int64_t mtime_nanos = -1;
    bool readable = true;
  };

  void Run();
  // Opens the journal and installs the filters; logs the first failure only.
  // NOT_FOUND when there is no journal (directory missing, or no journal
  // files for the local journal); UNAVAILABLE for other failures.
  Status Open();
  // Seeks to the saved cursor; without one applies start_at when
  // `apply_start_at`, else reads from the beginning.
  void Seek(bool apply_start_at);
  // Reads and hands over every entry available now, in chunks.
  Status ReadAvailable();
  v1::Record ReadEntry(uint64_t* bytes);
  // Adds with backpressure; false when stopped first or the chunk was lost
  // inside the batcher (the caller then re-reads from the last cursor).
  bool AddChunk(std::vector<v1::Record>&& records, const std::string& cursor, bool* reread);
  // Polls the journal's fd (and the stop eventfd), then sd_journal_process().
  void WaitForEntries();
  // Checks new or changed files of the directory; logs and counts unreadable ones.
  void CheckFiles();
  std::optional<uint32_t> UnitRef(const std::string& unit);
  // Sleeps up to `nanos`; true when Stop() was called.
  bool WaitForStop(int64_t nanos);
  bool stopping() const { return stop_.load(std::memory_order_acquire); }
  Counter& Errors(const std::string& op);
  std::string Where() const;

  // Constant after construction.
  const std::string name_ = kSourceName;
  const JournaldOptions options_;
  SourceContext& context_;
  Counter& entries_read_;
  Counter& bytes_read_;
  Counter& bad_files_;
  Counter& cursor_unparseable_;
  Counter& cursor_not_found_;
  Counter& truncated_;
  Counter& invalid_utf8_;
  Counter& malformed_;
  Counter& backpressure_waits_;
  Counter& unit_overflow_;

  // Set by Start() before the thread exists; the eventfd is written by Stop().
  int stop_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  // Touched only by the reading thread (and by Start() before it exists).
  std::unique_ptr<sd_journal, JournalCloser> journal_;
  int journal_fd_ = -1;              // sd_journal_get_fd(); -1: poll on a timeout
  std::string cursor_;               // last position handed to Add(), or Start()'s
  bool check_saved_cursor_ = false;  // the next entry read may be the saved one
  bool open_failure_logged_ = false;
  uint64_t backpressure_waits_since_log_ = 0;
  std::chrono::steady_clock::time_point backpressure_logged_at_;
  bool unit_overflow_logged_ = false;
  EntryMapper mapper_;
  std::map<std::string, uint32_t> unit_refs_;
  std::map<std::string, FileState> files_;  // by file name, directory form only
};

}  // namespace custos::agent::journald
