#include "agent/sources/files/tailed_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/log.h"
#include "common/utf8.h"

namespace custos::agent::files {
namespace {

std::string Utf8Label(std::string s) {
  SanitizeUtf8(&s);
  return s;
}

}  // namespace

TailedFile::TailedFile(int fd, FileIdentity id, std::string path, uint64_t offset, bool mid_line,
                       const TailOptions& options, int64_t now)
    : fd_(fd),
      path_(std::move(path)),
      source_label_(Utf8Label("file:" + path_)),
      path_label_(Utf8Label(path_)),
      id_(id),
      splitter_(options.max_line_bytes),
      joiner_(options.multiline_start, options.multiline),
      committed_(offset),
      committed_mid_line_(mid_line),
      last_size_(offset),
      current_path_(path_),
      last_growth_nanos_(now) {
  splitter_.Reset(offset, mid_line);
}

TailedFile::~TailedFile() { close(fd_); }

void TailedFile::NoteHandedOut(const std::vector<Line>& out, size_t before) {
  if (out.size() > before) {
    committed_ = out.back().end;
    committed_mid_line_ = out.back().cut;
  }
}

void TailedFile::Truncated(const struct stat& st, std::vector<Line>* out, TailCounters& counters, const char* why) {
  counters.truncations.Increment();
  log::Info("files", "file truncated; reading it again from the start",
            {{"path", path_}, {"why", why}, {"read_offset", std::to_string(splitter_.next_offset())},
             {"size", std::to_string(st.st_size)}, {"dropped_partial_bytes", std::to_string(splitter_.partial_bytes())}});
  size_t before = out->size();
  joiner_.Flush(out);  // complete lines read before the truncation
  NoteHandedOut(*out, before);
  splitter_.Reset(0);
  committed_ = 0;
  committed_mid_line_ = false;
  Result<FileIdentity> id = IdentifyFile(fd_, st);
  if (id.ok()) id_ = *id;
}

bool TailedFile::Read(size_t budget, int64_t now, std::string& buffer, std::vector<Line>* out,
                      TailCounters& counters, int* error) {
  *error = 0;
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    counters.read_errors.Increment();
    *error = errno;
    return true;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < splitter_.next_offset()) {
    Truncated(st, out, counters, "size below the read offset");
  } else if (size != last_size_ && id_.fp_len > 0 && !SameFile(id_, fd_, st)) {
    // Truncated and written again past our offset before we looked.
    Truncated(st, out, counters, "first bytes changed");
  }
  if (id_.fp_len < kFingerprintBytes && size > id_.fp_len) {
    Result<FileIdentity> id = IdentifyFile(fd_, st);  // a longer fingerprint as the file grows
    if (id.ok()) id_ = *id;
  }
  last_size_ = size;
  if (buffer.empty()) buffer.resize(64 * 1024);
  size_t chunk = buffer.size();
  size_t done = 0;
  at_eof_ = false;
  size_t before = out->size();
  while (done < budget) {
    ssize_t n = pread(fd_, buffer.data(), chunk, static_cast<off_t>(splitter_.next_offset()));
    if (n < 0) {
      if (errno == EINTR) continue;
      counters.read_errors.Increment();
      *error = errno;
      break;
    }
    if (n == 0) {
      at_eof_ = true;
      break;
    }
    counters.bytes_read.Increment(static_cast<uint64_t>(n));
    done += static_cast<size_t>(n);
    last_growth_nanos_ = now;
    lines_.clear();
    splitter_.Feed(std::string_view(buffer.data(), static_cast<size_t>(n)), &lines_);
    for (Line& line : lines_) {
      if (line.cut) counters.lines_cut.Increment();
      joiner_.Add(std::move(line), now, out);
    }
    if (splitter_.next_offset() >= size) {  // what fstat saw is read; new bytes wait for the next pass
      at_eof_ = true;
      break;
    }
  }
  NoteHandedOut(*out, before);
  return at_eof_;
}

void TailedFile::FlushIfDue(int64_t now, std::vector<Line>* out) {
  size_t before = out->size();
  joiner_.FlushIfDue(now, out);
  NoteHandedOut(*out, before);
}

void TailedFile::FlushAll(std::vector<Line>* out) {
  size_t before = out->size();
  if (std::optional<Line> partial = splitter_.TakePartial()) joiner_.Add(std::move(*partial), last_growth_nanos_, out);
  joiner_.Flush(out);
  NoteHandedOut(*out, before);
}

}  // namespace custos::agent::files
