#include "agent/sources/journald/journald_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>

#include "common/files.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace custos::agent::journald {
namespace {

constexpr char kComponent[] = "journald";

// "ENOENT (No such file or directory)" for a negative sd-journal return value.
std::string ErrnoName(int r) {
  int e = r < 0 ? -r : r;
  const char* name = strerrorname_np(e);
  return std::string(name != nullptr ? name : "errno " + std::to_string(e)) + " (" + std::strerror(e) + ")";
}

std::string Seconds(int64_t nanos) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gs", static_cast<double>(nanos) / 1e9);
  return buf;
}

bool IsJournalFileName(const std::string& name) {
  return name.ends_with(".journal") || name.ends_with(".journal~");
}

// Field names as journald accepts them: A-Z, 0-9, '_', not starting with a digit.
bool IsFieldName(const std::string& name) {
  if (name.empty() || name.size() > 64 || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

}  // namespace

Result<int> ParsePriority(const std::string& text) {
  static const std::map<std::string, int> kNames = {
      {"emerg", 0},   {"emergency", 0}, {"alert", 1}, {"crit", 2},   {"critical", 2}, {"err", 3},
      {"error", 3},   {"warning", 4},   {"warn", 4},  {"notice", 5}, {"info", 6},     {"debug", 7},
  };
  if (text.size() == 1 && text[0] >= '0' && text[0] <= '7') return text[0] - '0';
  auto it = kNames.find(text);
  if (it == kNames.end()) {
    return InvalidArgument("priority '" + text + "' is not one of emerg, alert, crit, err, warning, notice, "
                           "info, debug or 0..7");
  }
  return it->second;
}

void JournaldSource::JournalCloser::operator()(sd_journal* j) const { sd_journal_close(j); }

JournaldSource::JournaldSource(JournaldOptions options, SourceContext& context)
    : options_(std::move(options)),
      context_(context),
      entries_read_(context.metrics.GetCounter("custos_agent_journald_entries_read_total",
                                               "Journal entries read and handed to the batcher")),
      bytes_read_(context.metrics.GetCounter("custos_agent_journald_bytes_read_total",
                                             "Bytes of journal entry data read")),
      bad_files_(context.metrics.GetCounter("custos_agent_journald_bad_files_total",
                                            "Journal files found unreadable (skipped)")),
      cursor_unparseable_(context.metrics.GetCounter("custos_agent_journald_cursor_resets_total",
                                                     "Saved cursors that could not be used",
                                                     {{"reason", "unparseable"}})),
      cursor_not_found_(context.metrics.GetCounter("custos_agent_journald_cursor_resets_total",
                                                   "Saved cursors that could not be used",
                                                   {{"reason", "not_found"}})),
      truncated_(context.metrics.GetCounter("custos_agent_journald_field_issues_total",
                                            "Entry fields truncated, repaired or malformed",
                                            {{"kind", "truncated"}})),
      invalid_utf8_(context.metrics.GetCounter("custos_agent_journald_field_issues_total",
                                               "Entry fields truncated, repaired or malformed",
                                               {{"kind", "invalid_utf8"}})),
      malformed_(context.metrics.GetCounter("custos_agent_journald_field_issues_total",
                                            "Entry fields truncated, repaired or malformed",
                                            {{"kind", "malformed"}})),
      backpressure_waits_(context.metrics.GetCounter("custos_agent_journald_backpressure_waits_total",
                                                     "Chunks refused by a full agent buffer and retried")),
      unit_overflow_(context.metrics.GetCounter(
          "custos_agent_journald_unit_resource_overflow_total",
          "Entries whose unit went to fields[systemd_unit] because max_unit_resources was reached")),
      mapper_(options_.mapper) {}

JournaldSource::~JournaldSource() {
  Stop();
  if (stop_fd_ >= 0) close(stop_fd_);
}

Counter& JournaldSource::Errors(const std::string& op) {
  return context_.metrics.GetCounter("custos_agent_journald_errors_total", "sd-journal calls that failed",
                                     {{"op", op}});
}

std::string JournaldSource::Where() const {
  return options_.directory.empty() ? std::string("the local system journal") : options_.directory;
}

Status JournaldSource::Start(const std::string& position) {
  if (thread_.joinable() || stop_fd_ >= 0) return FailedPrecondition("journald: Start() called twice");
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return ErrnoStatus("journald: eventfd", errno);
  cursor_ = position;
  log::Info(kComponent, "starting",
            {{"journal", Where()},
             {"resume_after", position.empty() ? std::string(options_.start_at_end ? "(end)" : "(beginning)")
                                               : position}});
  thread_ = std::thread([this] {
    SetThreadName("journald");
    Run();
  });
  return Status::Ok();
}

void JournaldSource::Stop() {
  stop_.store(true, std::memory_order_release);
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t n = write(stop_fd_, &one, sizeof one);
    (void)n;  // a full eventfd counter is already a wake-up
  }
  if (thread_.joinable()) thread_.join();
}

bool JournaldSource::WaitForStop(int64_t nanos) {
  if (stopping()) return true;
  pollfd p{stop_fd_, POLLIN, 0};
  int ms = static_cast<int>(std::clamp<int64_t>(nanos / 1'000'000, 1, INT32_MAX));
  poll(&p, 1, ms);
  return stopping();
}

void JournaldSource::Run() {
  // start_at (without a saved cursor) applies to the first open that
  // succeeds, unless an attempt before it found no journal at all (NOT_FOUND:
  // the directory did not exist, or no journal files): all of a journal that
  // appears later is new, so it is read from its beginning. Any other failure
  // (the journal is there but could not be opened) leaves start_at in force.
  bool opened = false;
  bool was_absent = false;
  while (!stopping()) {
    if (!journal_) {
      Status s = Open();
      if (!s.ok()) {
        if (!opened && s.code() == StatusCode::kNotFound) was_absent = true;
        WaitForStop(options_.retry_interval_nanos);
        continue;
      }
      Seek(/*apply_start_at=*/!opened && !was_absent);
      opened = true;
    }
    Status s = ReadAvailable();
    if (!s.ok()) {
      // Logged and counted where it happened; reopen at the last handed cursor.
      journal_.reset();
      journal_fd_ = -1;
      WaitForStop(options_.retry_interval_nanos);
      continue;
    }
    WaitForEntries();
  }
  journal_.reset();
}

Status JournaldSource::Open() {
  auto fail = [this](const std::string& problem, StatusCode code = StatusCode::kUnavailable) {
    Errors("open").Increment();
    if (!open_failure_logged_) {
      log::Warn(kComponent, "cannot open the journal; retrying quietly",
                {{"journal", Where()}, {"error", problem}, {"retry_every", Seconds(options_.retry_interval_nanos)}});
      open_failure_logged_ = true;
    }
    journal_.reset();
    journal_fd_ = -1;
    return Status(code, "journald: " + problem);
  };
  sd_journal* j = nullptr;
  int r = options_.directory.empty() ? sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY)
                                     : sd_journal_open_directory(&j, options_.directory.c_str(), 0);
  // ENOENT: the directory (or a directory above it) does not exist.
  if (r < 0) return fail(ErrnoName(r), r == -ENOENT ? StatusCode::kNotFound : StatusCode::kUnavailable);
  journal_.reset(j);
  if (options_.directory.empty() && sd_journal_has_runtime_files(j) <= 0 && sd_journal_has_persistent_files(j) <= 0) {
    // Nothing to follow, and sd-journal would not notice journald starting later.
    return fail("no journal files (is systemd-journald running?)", StatusCode::kNotFound);
  }

  // Bound what decompression of one field may allocate.
  size_t threshold = std::max(options_.mapper.max_message_bytes, options_.mapper.max_field_bytes) + 64;
  r = sd_journal_set_data_threshold(j, threshold);
  if (r < 0) return fail("sd_journal_set_data_threshold: " + ErrnoName(r));

  // Matches on one field are OR'd, different fields AND'ed:
  // (_SYSTEMD_UNIT=a OR _SYSTEMD_UNIT=b) AND (PRIORITY=0 OR ... OR PRIORITY=max).
  // A match that cannot be added fails the open: reading unfiltered would
  // send what the configuration excludes.
  std::vector<std::string> matches;
  for (const std::string& unit : options_.units) matches.push_back("_SYSTEMD_UNIT=" + unit);
  if (options_.max_priority < 7) {
    for (int p = 0; p <= options_.max_priority; ++p) matches.push_back("PRIORITY=" + std::to_string(p));
  }
  for (const std::string& m : matches) {
    r = sd_journal_add_match(j, m.data(), m.size());
    if (r < 0) return fail("sd_journal_add_match " + m + ": " + ErrnoName(r));
  }
  // Early, so that no change between now and the first wait goes unnoticed.
  journal_fd_ = sd_journal_get_fd(j);
  if (journal_fd_ < 0) {
    Errors("fd").Increment();
    log::Warn(kComponent, "no journal change notification; polling every second instead",
              {{"journal", Where()}, {"error", ErrnoName(journal_fd_)}});
  }
  if (!options_.directory.empty()) CheckFiles();
  log::Info(kComponent, open_failure_logged_ ? "journal opened after earlier failures" : "journal opened",
            {{"journal", Where()}});
  open_failure_logged_ = false;
  return Status::Ok();
}

void JournaldSource::Seek(bool apply_start_at) {
  sd_journal* j = journal_.get();
  check_saved_cursor_ = false;
  if (!cursor_.empty()) {
    int r = sd_journal_seek_cursor(j, cursor_.c_str());
    if (r >= 0) {
      check_saved_cursor_ = true;
      return;
    }
    cursor_unparseable_.Increment();
    log::Warn(kComponent, "saved journal cursor is unusable; starting from start_at",
              {{"cursor", cursor_}, {"error", ErrnoName(r)},
               {"start_at", options_.start_at_end && apply_start_at ? "end" : "beginning"}});
    cursor_.clear();
  }
  // "end": the journal's end when it is first opened (see Run() for a journal
  // that did not exist then: it is read whole, all of it being new).
  if (options_.start_at_end && apply_start_at) {
    int r = sd_journal_seek_tail(j);
    // After seek_tail, previous() lands ON the last entry (next() would return
    // it again); it counts as already seen.
    if (r >= 0) r = sd_journal_previous(j);
    if (r > 0) {
      char* c = nullptr;
      if (sd_journal_get_cursor(j, &c) >= 0) {
        // Save the starting point, so that a restart before the first new
        // entry does not skip what was written while the agent was down.
        bool reread = false;
        AddChunk({}, c, &reread);
        free(c);
      }
      return;
    }
    if (r < 0) {
      Errors("seek").Increment();
      log::Warn(kComponent, "cannot seek to the end of the journal; reading from the beginning",
                {{"error", ErrnoName(r)}});
    }
    // An empty journal: everything that appears is new.
  }
  sd_journal_seek_head(j);
}

Status JournaldSource::ReadAvailable() {
  sd_journal* j = journal_.get();
  std::vector<v1::Record> records;
  while (!stopping()) {
    records.clear();
    records.reserve(std::min<size_t>(options_.chunk_entries, 1024));
    uint64_t bytes = 0;
    bool at_end = false;
    Status status;
    while (records.size() < options_.chunk_entries) {
      int r = sd_journal_next(j);
      if (r < 0) {
        Errors("next").Increment();
        log::Error(kComponent, "cannot read the next journal entry; reopening",
                   {{"journal", Where()}, {"error", ErrnoName(r)}});
        status = Unavailable("journald: sd_journal_next: " + ErrnoName(r));
        break;
      }
      if (r == 0) {
        at_end = true;
        break;
      }
      if (check_saved_cursor_) {
        check_saved_cursor_ = false;
        int t = sd_journal_test_cursor(j, cursor_.c_str());
        if (t > 0) continue;  // the saved entry itself: already delivered
        cursor_not_found_.Increment();
        log::Warn(kComponent, "saved entry is no longer in the journal (vacuumed?); resuming at the next entry after it",
                  {{"cursor", cursor_}, {"test_cursor", t < 0 ? ErrnoName(t) : "no match"}});
      }
      records.push_back(ReadEntry(&bytes));
    }
    if (!records.empty()) {
      size_t n = records.size();
      char* c = nullptr;
      int r = sd_journal_get_cursor(j, &c);
      if (r < 0) {
        // Without a cursor these records cannot be resumed after; re-read them.
        Errors("cursor").Increment();
        log::Error(kComponent, "cannot get the journal cursor; reopening",
                   {{"journal", Where()}, {"error", ErrnoName(r)}});
        return Unavailable("journald: sd_journal_get_cursor: " + ErrnoName(r));
      }
      std::string cursor(c);
      free(c);
      bool reread = false;
      if (!AddChunk(std::move(records), cursor, &reread)) {
        if (reread) return Unavailable("journald: chunk lost inside the batcher");
        return Status::Ok();  // stopping
      }
      entries_read_.Increment(n);
      bytes_read_.Increment(bytes);
    }
    if (!status.ok()) return status;
    if (at_end) return Status::Ok();
  }
  return Status::Ok();
}

v1::Record JournaldSource::ReadEntry(uint64_t* bytes) {
  sd_journal* j = journal_.get();
  uint64_t usec = 0;
  int r = sd_journal_get_realtime_usec(j, &usec);
  if (r < 0) {
    Errors("entry").Increment();
    usec = static_cast<uint64_t>(context_.clock.NowUnixNanos() / 1000);
  }
  mapper_.Begin(usec);
  const void* data = nullptr;
  size_t length = 0;
  sd_journal_restart_data(j);
  // "available": fields that cannot be read (corrupt, unknown compression) are skipped.
  while ((r = sd_journal_enumerate_available_data(j, &data, &length)) > 0) {
    mapper_.Consume(std::string_view(static_cast<const char*>(data), length));
    *bytes += length;
  }
  if (r < 0) Errors("data").Increment();
  MappedEntry e = mapper_.Finish();
  truncated_.Increment(static_cast<uint64_t>(e.issues.truncated));
  invalid_utf8_.Increment(static_cast<uint64_t>(e.issues.invalid_utf8));
  malformed_.Increment(static_cast<uint64_t>(e.issues.malformed));
  if (!e.unit.empty()) {
    std::optional<uint32_t> ref = UnitRef(e.unit);
    if (ref) {
      e.record.mutable_log()->set_resource_ref(*ref);
    } else {
      (*e.record.mutable_log()->mutable_fields())["systemd_unit"] = e.unit;
    }
  }
  return std::move(e.record);
}

std::optional<uint32_t> JournaldSource::UnitRef(const std::string& unit) {
  auto it = unit_refs_.find(unit);
  if (it != unit_refs_.end()) return it->second;
  if (unit_refs_.size() >= options_.max_unit_resources) {
    unit_overflow_.Increment();
    if (!unit_overflow_logged_) {
      log::Warn(kComponent, "too many distinct units for their own resource; further units go to fields",
                {{"max_unit_resources", std::to_string(options_.max_unit_resources)}, {"unit", unit}});
      unit_overflow_logged_ = true;
    }
    return std::nullopt;
  }
  v1::Resource r = context_.node;
  r.set_systemd_unit(unit);
  uint32_t ref = context_.batcher.InternResource(r);
  unit_refs_.emplace(unit, ref);
  return ref;
}

bool JournaldSource::AddChunk(std::vector<v1::Record>&& records, const std::string& cursor, bool* reread) {
  const size_t n = records.size();
  while (true) {
    Status s = context_.batcher.Add(name_, std::move(records), cursor);
    if (s.ok()) {
      cursor_ = cursor;
      return true;
    }
    if (records.size() != n) {
      // The batcher kept (or dropped) the records: read them again.
      Errors("add").Increment();
      log::Error(kComponent, "batcher refused a chunk without giving it back; re-reading from the last cursor",
                 {{"error", s.ToString()}});
      *reread = true;
      return false;
    }
    if (s.code() == StatusCode::kResourceExhausted) {
      backpressure_waits_.Increment();
      // At most one line a minute (real time), however long the buffer stays full.
      auto now = std::chrono::steady_clock::now();
      if (backpressure_waits_since_log_ == 0 || now - backpressure_logged_at_ >= std::chrono::minutes(1)) {
        log::Warn(kComponent, "agent buffer full; holding the journal position and retrying",
                  {{"error", s.ToString()}, {"waits_since_last_line", std::to_string(backpressure_waits_since_log_)}});
        backpressure_logged_at_ = now;
        backpressure_waits_since_log_ = 0;
      }
      ++backpressure_waits_since_log_;
      if (WaitForStop(options_.backpressure_retry_nanos)) return false;
    } else {
      Errors("add").Increment();
      log::Error(kComponent, "batcher refused a chunk; retrying", {{"error", s.ToString()}});
      if (WaitForStop(options_.retry_interval_nanos)) return false;
    }
  }
}

void JournaldSource::WaitForEntries() {
  sd_journal* j = journal_.get();
  int64_t timeout_ms = 1000;  // also the fallback when change notification is unreliable
  uint64_t deadline_usec = 0;
  if (sd_journal_get_timeout(j, &deadline_usec) >= 0 && deadline_usec != UINT64_MAX) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now_usec = static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
    timeout_ms = deadline_usec > now_usec ? std::min<int64_t>(timeout_ms, (deadline_usec - now_usec + 999) / 1000) : 0;
  }
  pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {journal_fd_, 0, 0}};
  nfds_t n = 1;
  if (journal_fd_ >= 0) {
    int events = sd_journal_get_events(j);
    fds[1].events = static_cast<short>(events > 0 ? events : POLLIN);
    n = 2;
  }
  if (poll(fds, n, static_cast<int>(timeout_ms)) < 0 && errno != EINTR) {
    Errors("wait").Increment();
    log::Error(kComponent, "poll failed", {{"error", ErrnoName(-errno)}});
    WaitForStop(options_.backpressure_retry_nanos);  // do not spin
  } else if (n == 2 && fds[1].revents != 0 && options_.settle_nanos > 0) {
    WaitForStop(options_.settle_nanos);
  }
  if (stopping()) return;
  int r = sd_journal_process(j);
  if (r < 0) {
    Errors("process").Increment();
    log::Error(kComponent, "sd_journal_process failed", {{"journal", Where()}, {"error", ErrnoName(r)}});
  } else if (r == SD_JOURNAL_INVALIDATE && !options_.directory.empty()) {
    CheckFiles();  // files were added or removed
  }
}

void JournaldSource::CheckFiles() {
  auto names = ListDir(options_.directory);
  if (!names.ok()) return;  // sd-journal reports a vanished directory itself
  std::map<std::string, FileState> seen;
  for (const std::string& name : *names) {
    if (!IsJournalFileName(name)) continue;
    std::string path = options_.directory + "/" + name;
    struct stat st{};
    if (stat(path.c_str(), &st) != 0) continue;
    FileState now;
    now.size = st.st_size;
    now.mtime_nanos = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    auto it = files_.find(name);
    if (it != files_.end() && it->second.size == now.size && it->second.mtime_nanos == now.mtime_nanos) {
      seen.emplace(name, it->second);
      continue;
    }
    // New or changed: can sd-journal read it on its own?
    sd_journal* probe = nullptr;
    const char* paths[] = {path.c_str(), nullptr};
    int r = sd_journal_open_files(&probe, paths, 0);
    if (r >= 0) sd_journal_close(probe);
    now.readable = r >= 0;
    bool was_bad = it != files_.end() && !it->second.readable;
    if (!now.readable && !was_bad) {
      bad_files_.Increment();
      log::Warn(kComponent, "unreadable journal file skipped", {{"path", path}, {"error", ErrnoName(r)}});
    } else if (now.readable && was_bad) {
      log::Info(kComponent, "journal file readable again", {{"path", path}});
    }
    seen.emplace(name, now);
  }
  files_ = std::move(seen);  // forget removed files: the map stays as big as the directory
}

Result<std::unique_ptr<Source>> CreateJournaldSource(ConfigSection& config, SourceContext& context) {
  JournaldOptions o;
  o.directory = config.String("directory", "");
  o.units = config.StringList("units");
  std::string priority = config.String("priority", "debug");
  std::string start_at = config.String("start_at", "end");
  o.chunk_entries = static_cast<size_t>(config.Int("chunk_entries", 1000, 1, 100'000));
  o.retry_interval_nanos = config.Duration("retry_interval", o.retry_interval_nanos);
  o.max_unit_resources = static_cast<size_t>(config.Int("max_unit_resources", 256, 0, 100'000));
  o.mapper.max_message_bytes = config.Bytes("max_message_bytes", o.mapper.max_message_bytes);
  o.mapper.max_field_bytes = config.Bytes("max_field_bytes", o.mapper.max_field_bytes);
  std::vector<std::string> fields = config.StringList("fields");

  CUSTOS_ASSIGN_OR_RETURN(o.max_priority, ParsePriority(priority));
  if (start_at != "end" && start_at != "beginning") {
    return InvalidArgument("sources.journald.start_at: '" + start_at + "' is not \"end\" or \"beginning\"");
  }
  o.start_at_end = start_at == "end";
  for (const std::string& f : fields) {
    if (!IsFieldName(f)) {
      return InvalidArgument("sources.journald.fields: '" + f +
                             "' is not a journal field name (A-Z, 0-9 and _, not starting with a digit)");
    }
    o.mapper.extra_fields.insert(f);
  }
  for (const std::string& u : o.units) {
    if (u.empty()) return InvalidArgument("sources.journald.units: empty unit name");
  }
  constexpr uint64_t kMaxValueBytes = 16ULL << 20;
  if (o.mapper.max_message_bytes < 16 || o.mapper.max_message_bytes > kMaxValueBytes ||
      o.mapper.max_field_bytes < 16 || o.mapper.max_field_bytes > kMaxValueBytes) {
    return InvalidArgument("sources.journald: max_message_bytes and max_field_bytes must be 16 B..16 MiB");
  }
  if (o.retry_interval_nanos <= 0) return InvalidArgument("sources.journald.retry_interval must be positive");
  return std::unique_ptr<Source>(new JournaldSource(std::move(o), context));
}

}  // namespace custos::agent::journald
