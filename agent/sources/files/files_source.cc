#include "agent/sources/files/files_source.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agent/sources/files/file_identity.h"
#include "agent/sources/files/tailed_file.h"
#include "common/files.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "common/utf8.h"

namespace custos::agent::files {
namespace {

constexpr std::string_view kComponent = "files";
constexpr size_t kReadBudgetBytes = 256 * 1024;  // per file per pass, so one busy file cannot starve the others
constexpr size_t kRecordsPerAdd = 2000;
constexpr size_t kBytesPerAdd = 4 << 20;
constexpr int64_t kLogEveryNanos = 10 * kNanosPerSecond;
constexpr int64_t kBlockedRetryNanos = 5 * kNanosPerMilli;

struct Options {
  std::vector<std::string> paths;
  std::vector<std::string> exclude;
  bool start_at_end = true;  // for files found at the very first start
  int64_t poll_interval_nanos = 250 * kNanosPerMilli;
  int64_t rescan_interval_nanos = 10 * kNanosPerSecond;
  int64_t rotate_wait_nanos = 5 * kNanosPerSecond;
  size_t max_open_files = 1024;
  TailOptions tail;
};

// Offset just after the last '\n' in the last 64 KiB of the file: where
// start_at = "end" begins, so that an unfinished last line is read whole.
uint64_t EndOfLastLine(int fd, uint64_t size) {
  constexpr uint64_t kLook = 64 * 1024;
  uint64_t from = size > kLook ? size - kLook : 0;
  std::string buf(size - from, '\0');
  ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(from));
  if (n <= 0) return size;
  size_t nl = std::string_view(buf.data(), static_cast<size_t>(n)).rfind('\n');
  if (nl == std::string_view::npos) return from == 0 ? 0 : size;
  return from + nl + 1;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

class FilesSource final : public Source {
 public:
  FilesSource(SourceContext& context, Options options)
      : context_(context),
        options_(std::move(options)),
        lines_read_(Metric("custos_agent_files_lines_read_total", "Lines read from tailed files")),
        records_(Metric("custos_agent_files_records_total", "Records handed to the batcher by the files source")),
        bytes_read_(Metric("custos_agent_files_bytes_read_total", "Bytes read from tailed files")),
        rotations_(Metric("custos_agent_files_rotations_total",
                          "Tailed files that left their path (renamed or deleted: rotation)")),
        truncations_(Metric("custos_agent_files_truncations_total",
                            "Tailed files found truncated (copytruncate) and read again from the start")),
        opened_(Metric("custos_agent_files_opened_total", "Files opened for tailing")),
        closed_(Metric("custos_agent_files_closed_total", "Rotated or deleted files read to their end and closed")),
        lines_cut_(Metric("custos_agent_files_lines_truncated_total",
                          "Pieces of lines longer than max_line_bytes handed out cut (field truncated=true)")),
        multiline_split_(Metric("custos_agent_files_multiline_split_total",
                                "Multi-line records cut at multiline_max_lines / multiline_max_bytes")),
        invalid_utf8_(Metric("custos_agent_files_invalid_utf8_total",
                             "Records whose invalid UTF-8 bytes were replaced by U+FFFD")),
        backpressure_(Metric("custos_agent_files_backpressure_total",
                             "Times the batcher refused a chunk (agent buffer full); reading paused and retried")),
        open_files_(context.metrics.GetGauge("custos_agent_files_open", "Files the files source holds open")),
        counters_{bytes_read_, truncations_, lines_cut_, Error("read")} {
    buffer_.resize(options_.tail.read_chunk_bytes);
  }
  ~FilesSource() override { Stop(); }
  FilesSource(const FilesSource&) = delete;
  FilesSource& operator=(const FilesSource&) = delete;

  // Source
  const std::string& name() const override { return name_; }

  // Once per source: a second call (also after Stop()) is FAILED_PRECONDITION
  // and changes nothing.
  Status Start(const std::string& position) override {
    if (started_) return FailedPrecondition("files: Start() called twice");
    started_ = true;
    int64_t now = context_.clock.MonotonicNanos();
    first_start_ = position.empty();
    if (!first_start_) {
      Result<std::vector<FilePosition>> saved = DecodePositions(position);
      if (!saved.ok()) {
        Error("position_corrupt").Increment();
        log::Error(kComponent, "saved position is corrupt; files start as on a first start (start_at)",
                   {{"error", saved.status().ToString()}, {"start_at", options_.start_at_end ? "end" : "beginning"}});
        first_start_ = true;
      } else {
        for (const FilePosition& p : *saved) Resume(p, now);
      }
    }
    last_position_ = position;
    Rescan(/*initial=*/true, now);
    next_rescan_nanos_ = now + options_.rescan_interval_nanos;
    log::Info(kComponent, "starting",
              {{"files", std::to_string(files_.size())}, {"first_start", first_start_ ? "true" : "false"}});
    thread_ = std::thread([this] {
      SetThreadName("files");
      Run();
    });
    return Status::Ok();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  Counter& Metric(const std::string& name, const std::string& help) { return context_.metrics.GetCounter(name, help); }
  Counter& Error(const std::string& kind) {
    return context_.metrics.GetCounter("custos_agent_files_errors_total", "Errors of the files source, by kind",
                                       {{"kind", kind}});
  }
  // Rate limit for repeated warnings: true at most once per kLogEveryNanos per key.
  bool ShouldLog(const std::string& key) {
    int64_t now = context_.clock.MonotonicNanos();
    auto [it, fresh] = last_logged_.try_emplace(key, now);
    if (fresh) return true;
    if (now - it->second < kLogEveryNanos) return false;
    it->second = now;
    return true;
  }

  bool Stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }
  void WaitPoll() { Wait(options_.poll_interval_nanos); }
  // The batcher drains its buffer within milliseconds: offer a refused chunk
  // again sooner than the next poll.
  void WaitBlocked() { Wait(std::min(options_.poll_interval_nanos, kBlockedRetryNanos)); }
  void Wait(int64_t nanos) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::nanoseconds(nanos), [this] { return stop_; });
  }

  TailedFile* FindByInode(const struct stat& st) {
    for (auto& f : files_) {
      if (f->id().SameInode(st)) return f.get();
    }
    return nullptr;
  }

  // Re-opens a file named in the saved position: at its path, else anywhere
  // in its directory (renamed while the agent was down).
  void Resume(const FilePosition& p, int64_t now) {
    std::vector<std::string> candidates = {p.path};
    Result<std::vector<std::string>> names = ListDir(DirName(p.path));
    if (names.ok()) {
      for (const std::string& n : *names) {
        std::string c = DirName(p.path) == "/" ? "/" + n : DirName(p.path) + "/" + n;
        if (c != p.path) candidates.push_back(std::move(c));
      }
    }
    for (const std::string& c : candidates) {
      struct stat st;
      if (stat(c.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !p.id.SameInode(st)) continue;
      int fd = open(c.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      if (fstat(fd, &st) != 0 || !SameFile(p.id, fd, st) || FindByInode(st) != nullptr) {
        close(fd);  // another file got this inode (or a duplicate entry)
        continue;
      }
      uint64_t offset = p.offset;
      bool mid_line = p.mid_line;
      if (static_cast<uint64_t>(st.st_size) < offset) {
        truncations_.Increment();
        log::Warn(kComponent, "file shrank while the agent was down; reading it again from the start",
                  {{"path", c}, {"saved_offset", std::to_string(offset)}, {"size", std::to_string(st.st_size)}});
        offset = 0;
        mid_line = false;
      }
      Result<FileIdentity> id = IdentifyFile(fd, st);
      auto f = std::make_unique<TailedFile>(fd, id.ok() ? *id : p.id, p.path, offset, mid_line, options_.tail, now);
      // Rescan() marks it at its path again if a glob still matches it;
      // otherwise it is read to its end and closed after rotate_wait.
      f->LeftPath(now);
      if (c != p.path) {
        log::Info(kComponent, "resuming a file that was renamed while the agent was down",
                  {{"path", p.path}, {"now_at", c}, {"offset", std::to_string(offset)}});
      }
      files_.push_back(std::move(f));
      opened_.Increment();
      open_files_.Set(static_cast<int64_t>(files_.size()));
      return;
    }
    Error("resume_lost").Increment();
    log::Warn(kComponent, "cannot find a file named in the saved position (deleted while the agent was down?); "
              "what it held past the saved offset is lost",
              {{"path", p.path}, {"inode", std::to_string(p.id.ino)}, {"offset", std::to_string(p.offset)}});
  }

  std::vector<std::string> Glob() {
    std::set<std::string> out;
    for (const std::string& pattern : options_.paths) {
      glob_t g{};
      int rc = glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
      if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) out.insert(g.gl_pathv[i]);
      } else if (rc != GLOB_NOMATCH) {
        Error("glob").Increment();
        if (ShouldLog("glob:" + pattern)) log::Warn(kComponent, "cannot expand path pattern", {{"pattern", pattern}});
      }
      globfree(&g);
    }
    std::vector<std::string> kept;
    for (const std::string& path : out) {
      bool excluded = std::any_of(options_.exclude.begin(), options_.exclude.end(), [&](const std::string& e) {
        return fnmatch(e.c_str(), path.c_str(), FNM_PATHNAME) == 0;
      });
      if (!excluded) kept.push_back(path);
    }
    return kept;  // sorted: files found together open in a stable order
  }

  // Expands the globs: files already tracked are marked at their path, new
  // ones are opened (up to max_open_files).
  void Rescan(bool initial, int64_t now) {
    for (const std::string& path : Glob()) {
      struct stat st;
      if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (TailedFile* known = FindByInode(st)) {
        if (!known->at_path()) known->SetAtPath(path);
        continue;
      }
      if (files_.size() >= options_.max_open_files) {
        Error("max_open_files").Increment();
        if (ShouldLog("max_open_files")) {
          log::Warn(kComponent, "max_open_files reached; file not tailed until others close",
                    {{"path", path}, {"max_open_files", std::to_string(options_.max_open_files)}});
        }
        continue;
      }
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        Error("open").Increment();
        if (ShouldLog("open:" + path)) log::Warn(kComponent, "cannot open file", {{"path", path}, {"error", strerror(errno)}});
        continue;
      }
      Result<FileIdentity> id = fstat(fd, &st) == 0 ? IdentifyFile(fd, st) : Result<FileIdentity>(Internal("fstat"));
      if (!id.ok() || FindByInode(st) != nullptr) {
        close(fd);
        if (!id.ok()) Error("open").Increment();
        continue;
      }
      // Files present at the very first start follow start_at; any file
      // found later appeared since, and is read from its beginning.
      uint64_t offset = 0;
      if (initial && first_start_ && options_.start_at_end) offset = EndOfLastLine(fd, static_cast<uint64_t>(st.st_size));
      auto f = std::make_unique<TailedFile>(fd, *id, path, offset, false, options_.tail, now);
      f->SetAtPath(path);
      log::Info(kComponent, "tailing file", {{"path", path}, {"offset", std::to_string(offset)}});
      files_.push_back(std::move(f));
      opened_.Increment();
    }
    open_files_.Set(static_cast<int64_t>(files_.size()));
  }

  // stat()s the path of every file still at one; true when one moved away.
  bool CheckPaths(int64_t now) {
    bool moved = false;
    for (auto& f : files_) {
      if (!f->at_path()) continue;
      struct stat st;
      if (stat(f->current_path().c_str(), &st) == 0 && f->id().SameInode(st)) continue;
      f->LeftPath(now);
      rotations_.Increment();
      moved = true;
      log::Info(kComponent, "file left its path (rotated or deleted); reading it to its end",
                {{"path", f->current_path()}, {"read_offset", std::to_string(f->read_offset())}});
    }
    return moved;
  }

  void Emit(const TailedFile& f, Line&& line, int64_t now_unix) {
    v1::Record& r = outgoing_.emplace_back();
    v1::LogRecord* log = r.mutable_log();
    log->set_time_unix_nano(static_cast<uint64_t>(now_unix));
    bool repaired = SanitizeUtf8(&line.text);
    outgoing_bytes_ += line.text.size();
    log->set_message(std::move(line.text));
    log->set_source(f.source_label());
    auto& fields = *log->mutable_fields();
    fields["path"] = f.path_label();
    fields["offset"] = std::to_string(line.start);
    if (line.cut) fields["truncated"] = "true";
    if (line.continued) fields["continued"] = "true";
    if (line.multiline_split) {
      fields["multiline_split"] = "true";
      multiline_split_.Increment();
    }
    if (line.unterminated) fields["unterminated"] = "true";
    if (repaired) {
      fields["invalid_utf8"] = "true";
      invalid_utf8_.Increment();
    }
    lines_read_.Increment(line.lines);
    records_.Increment();
  }

  void EmitAll(const TailedFile& f, std::vector<Line>& lines, int64_t now_unix) {
    for (Line& l : lines) Emit(f, std::move(l), now_unix);
    lines.clear();
  }

  std::string EncodeAll() const {
    std::vector<FilePosition> all;
    all.reserve(files_.size());
    for (const auto& f : files_) all.push_back(f->position());
    return EncodePositions(all);
  }

  // Offers the built records with the position they reach. On a refusal the
  // same records and position are offered again later (blocked_).
  bool Hand() {
    if (!blocked_) {
      pending_position_ = EncodeAll();
      if (outgoing_.empty() && pending_position_ == last_position_) return true;
    }
    size_t n = outgoing_.size();
    Status s = context_.batcher.Add(name_, std::move(outgoing_), pending_position_);
    if (!s.ok()) {  // the batcher gave the records back untouched
      if (!blocked_) backpressure_.Increment();
      blocked_ = true;
      if (ShouldLog("backpressure")) {
        log::Warn(kComponent, "batcher refused records; reading paused until it accepts them",
                  {{"records", std::to_string(n)}, {"error", s.ToString()}});
      }
      return false;
    }
    outgoing_.clear();
    outgoing_bytes_ = 0;
    last_position_ = std::move(pending_position_);
    blocked_ = false;
    return true;
  }

  // One read of every open file; true when some file has more to read now.
  bool ReadPass(int64_t now) {
    bool more = false;
    int64_t now_unix = context_.clock.NowUnixNanos();
    std::set<std::string> undrained;  // label paths whose older (rotated) file is not read to its end
    for (auto& f : files_) {
      if (blocked_) return false;
      if (undrained.count(f->path()) != 0) {
        more = true;
        continue;
      }
      int error = 0;
      bool eof = f->Read(kReadBudgetBytes, now, buffer_, &lines_, counters_, &error);
      if (error != 0 && ShouldLog("read:" + f->path())) {
        log::Warn(kComponent, "cannot read file", {{"path", f->path()}, {"error", strerror(error)}});
      }
      if (!eof) {
        more = true;
        undrained.insert(f->path());
      }
      EmitAll(*f, lines_, now_unix);
      if (outgoing_.size() >= kRecordsPerAdd || outgoing_bytes_ >= kBytesPerAdd) Hand();
    }
    return more;
  }

  // Closes files that left their path, are read to their end and have not
  // grown for rotate_wait. True when one was closed.
  bool CloseDrained(int64_t now) {
    bool closed = false;
    int64_t now_unix = context_.clock.NowUnixNanos();
    for (auto it = files_.begin(); it != files_.end();) {
      TailedFile& f = **it;
      if (f.at_path() || !f.at_eof() || now - f.last_growth_nanos() < options_.rotate_wait_nanos) {
        ++it;
        continue;
      }
      f.FlushAll(&lines_);
      EmitAll(f, lines_, now_unix);
      log::Info(kComponent, "closed a rotated file read to its end",
                {{"path", f.path()}, {"offset", std::to_string(f.read_offset())}});
      it = files_.erase(it);
      closed_.Increment();
      closed = true;
    }
    open_files_.Set(static_cast<int64_t>(files_.size()));
    return closed;
  }

  void Run() {
    Hand();  // saves the starting offsets: a restart never applies start_at twice
    while (!Stopping()) {
      int64_t now = context_.clock.MonotonicNanos();
      if (blocked_ && !Hand()) {
        WaitBlocked();
        continue;
      }
      bool moved = CheckPaths(now);
      // While a rotated file is still open, its successor may appear at any
      // moment: look every poll rather than every rescan_interval.
      bool rotating = std::any_of(files_.begin(), files_.end(), [](const auto& f) { return !f->at_path(); });
      if (moved || rotating || now >= next_rescan_nanos_) {
        Rescan(/*initial=*/false, now);
        next_rescan_nanos_ = now + options_.rescan_interval_nanos;
      }
      bool more = ReadPass(now);
      if (blocked_) continue;
      int64_t now_unix = context_.clock.NowUnixNanos();
      for (auto& f : files_) {
        f->FlushIfDue(now, &lines_);
        EmitAll(*f, lines_, now_unix);
      }
      CloseDrained(now);
      Hand();
      if (!more) WaitPoll();
    }
    if (!outgoing_.empty()) Hand();  // best effort; a refusal loses nothing (the position stays behind)
  }

  const std::string name_ = "files";
  SourceContext& context_;
  const Options options_;
  Counter& lines_read_;
  Counter& records_;
  Counter& bytes_read_;
  Counter& rotations_;
  Counter& truncations_;
  Counter& opened_;
  Counter& closed_;
  Counter& lines_cut_;
  Counter& multiline_split_;
  Counter& invalid_utf8_;
  Counter& backpressure_;
  Gauge& open_files_;
  TailCounters counters_;

  // Touched only by the controlling thread (Start(), Stop()).
  bool started_ = false;

  // Owned by the source thread after Start() (by the caller before).
  bool first_start_ = true;
  std::vector<std::unique_ptr<TailedFile>> files_;  // in the order found: older generations first
  std::string buffer_;
  std::vector<Line> lines_;
  std::vector<v1::Record> outgoing_;
  size_t outgoing_bytes_ = 0;
  bool blocked_ = false;            // the batcher refused outgoing_; offer it again
  std::string pending_position_;    // the position offered with outgoing_
  std::string last_position_;       // the last position the batcher accepted
  int64_t next_rescan_nanos_ = 0;
  std::map<std::string, int64_t> last_logged_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Source>> CreateFilesSource(ConfigSection& config, SourceContext& context) {
  Options o;
  o.paths = config.StringList("paths");
  o.exclude = config.StringList("exclude");
  std::string start_at = config.String("start_at", "end");
  o.poll_interval_nanos = config.Duration("poll_interval", o.poll_interval_nanos);
  o.rescan_interval_nanos = config.Duration("rescan_interval", o.rescan_interval_nanos);
  o.rotate_wait_nanos = config.Duration("rotate_wait", o.rotate_wait_nanos);
  o.max_open_files = static_cast<size_t>(config.Int("max_open_files", 1024, 1, 1 << 20));
  o.tail.max_line_bytes = config.Bytes("max_line_bytes", 64 * 1024);
  o.tail.read_chunk_bytes = config.Bytes("read_buffer", 64 * 1024);
  std::string multiline_start = config.String("multiline_start", "");
  o.tail.multiline.max_lines = static_cast<size_t>(config.Int("multiline_max_lines", 500, 1, 1 << 20));
  o.tail.multiline.max_bytes = config.Bytes("multiline_max_bytes", 1 << 20);
  o.tail.multiline.flush_timeout_nanos = config.Duration("multiline_flush", kNanosPerSecond);

  if (o.paths.empty()) return InvalidArgument("[sources.files] paths: at least one glob pattern is required");
  for (const std::string& p : o.paths) {
    if (p.empty() || p[0] != '/') return InvalidArgument("[sources.files] paths: '" + p + "' is not absolute");
  }
  if (start_at != "end" && start_at != "beginning") {
    return InvalidArgument("[sources.files] start_at: expected \"end\" or \"beginning\", got \"" + start_at + "\"");
  }
  o.start_at_end = start_at == "end";
  if (o.tail.max_line_bytes < 16 || o.tail.max_line_bytes > (64u << 20)) {
    return InvalidArgument("[sources.files] max_line_bytes: expected 16 B .. 64 MiB");
  }
  if (o.tail.read_chunk_bytes < 4096 || o.tail.read_chunk_bytes > (16u << 20)) {
    return InvalidArgument("[sources.files] read_buffer: expected 4 KiB .. 16 MiB");
  }
  if (o.tail.multiline.max_bytes < o.tail.max_line_bytes) {
    return InvalidArgument("[sources.files] multiline_max_bytes must be at least max_line_bytes");
  }
  if (o.poll_interval_nanos <= 0 || o.rescan_interval_nanos <= 0 || o.rotate_wait_nanos < 0 ||
      o.tail.multiline.flush_timeout_nanos <= 0) {
    return InvalidArgument("[sources.files] poll_interval, rescan_interval and multiline_flush must be positive");
  }
  CUSTOS_ASSIGN_OR_RETURN(o.tail.multiline_start, StartPattern::Compile(multiline_start));
  return std::unique_ptr<Source>(new FilesSource(context, std::move(o)));
}

}  // namespace custos::agent::files
