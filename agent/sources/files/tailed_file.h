// TailedFile: one open file being read by the files source: its descriptor,
// identity, read offset, held partial line and multi-line record, and the
// offset its position names (the end of the last record handed out).
//
//   TailedFile f(fd, id, "/var/log/app/x.log", /*offset=*/0, /*mid_line=*/false, options, now);
//   std::vector<Line> records;
//   int error = 0;
//   bool eof = f.Read(256 * 1024, now, buffer, &records, counters, &error);
//   ... hand `records` to the batcher together with f.position() ...
//
// Read() notices truncation first (size below the read offset, or the
// fingerprinted first bytes changed: copytruncate) and restarts at offset 0.
// Every record appended to `out` moves position() past it: the caller must
// hand out every record it gets, in order.
//
// Not thread-safe: owned by the source thread. Holds a descriptor: not copyable.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/sources/files/file_identity.h"
#include "agent/sources/files/line_splitter.h"
#include "agent/sources/files/multiline_joiner.h"
#include "common/metrics.h"

namespace custos::agent::files {

struct TailOptions {
  size_t read_chunk_bytes = 64 * 1024;
  size_t max_line_bytes = 64 * 1024;
  std::shared_ptr<const StartPattern> multiline_start;  // never null; empty = no joining
  JoinerOptions multiline;
};

struct TailCounters {
  Counter& bytes_read;
  Counter& truncations;
  Counter& lines_cut;
  Counter& read_errors;
};

class TailedFile {
 public:
  // Takes `fd` (open on the file `id` describes); reading starts at `offset`.
  // `path` labels the records (the path the file was first seen at).
  TailedFile(int fd, FileIdentity id, std::string path, uint64_t offset, bool mid_line, const TailOptions& options,
             int64_t now);
  ~TailedFile();
  TailedFile(const TailedFile&) = delete;
  TailedFile& operator=(const TailedFile&) = delete;

  // Reads at most `budget` bytes past the last read (in read_chunk_bytes
  // pieces through `buffer`) and appends the finished records to `out`.
  // Returns true when the end of the file was reached. *error gets the errno
  // of a failed fstat or read (counted), else 0.
  bool Read(size_t budget, int64_t now, std::string& buffer, std::vector<Line>* out, TailCounters& counters,
            int* error);
  // Hands out a multi-line record whose flush timeout has passed.
  void FlushIfDue(int64_t now, std::vector<Line>* out);
  // For a file that will not grow any more: hands out the held partial line
  // (marked unterminated) and the held record.
  void FlushAll(std::vector<Line>* out);

  FilePosition position() const { return {id_, path_, committed_, committed_mid_line_}; }
  const FileIdentity& id() const { return id_; }
  const std::string& path() const { return path_; }
  // "file:<path>" and the path, as valid UTF-8 for the records.
  const std::string& source_label() const { return source_label_; }
  const std::string& path_label() const { return path_label_; }

  // Whether the file is still found at a path matching the globs, and which.
  bool at_path() const { return at_path_; }
  const std::string& current_path() const { return current_path_; }
  void SetAtPath(const std::string& current_path) {
    at_path_ = true;
    current_path_ = current_path;
  }
  // The file left its path (renamed or deleted): rotate_wait counts from now.
  void LeftPath(int64_t now) {
    at_path_ = false;
    last_growth_nanos_ = std::max(last_growth_nanos_, now);
  }
  bool at_eof() const { return at_eof_; }
  int64_t last_growth_nanos() const { return last_growth_nanos_; }
  uint64_t read_offset() const { return splitter_.next_offset(); }

 private:
  // Restarts at offset 0 after a truncation (records already complete are handed out first).
  void Truncated(const struct stat& st, std::vector<Line>* out, TailCounters& counters, const char* why);
  void NoteHandedOut(const std::vector<Line>& out, size_t before);

  // Constant after construction.
  const int fd_;
  const std::string path_;
  const std::string source_label_;
  const std::string path_label_;

  FileIdentity id_;
  LineSplitter splitter_;
  MultilineJoiner joiner_;
  std::vector<Line> lines_;  // scratch
  uint64_t committed_;
  bool committed_mid_line_;
  uint64_t last_size_ = 0;
  bool at_path_ = false;
  std::string current_path_;
  bool at_eof_ = false;
  int64_t last_growth_nanos_;
};

}  // namespace custos::agent::files
