// Which file is which, across renames, truncation and inode reuse.
//
// A file is known by its device and inode plus a fingerprint: a hash of its
// first fp_len bytes (up to kFingerprintBytes; fewer while the file is
// shorter). Device + inode follow a file through renames; the fingerprint
// tells a new file that got a recycled inode (or a file rewritten in place)
// from the one we read.
//
//   struct stat st;  fstat(fd, &st);
//   Result<FileIdentity> id = IdentifyFile(fd, st);
//   ...
//   if (!SameFile(*id, other_fd, other_st)) { /* not the file we read */ }
//
// Positions (the string kept in the spool) list every tracked file with its
// identity, path and the offset where its next record starts:
//
//   custos-files 1
//   <dev> <ino> <fp_len> <fp_hash hex> <offset> <mid_line 0|1> <path, %-escaped>
//
// Pure functions on file descriptors; thread-compatible.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace custos::agent::files {

inline constexpr uint32_t kFingerprintBytes = 1024;

struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint32_t fp_len = 0;   // bytes hashed (<= kFingerprintBytes)
  uint64_t fp_hash = 0;  // FNV-1a 64 of those bytes

  bool SameInode(const struct stat& st) const {
    return dev == static_cast<uint64_t>(st.st_dev) && ino == static_cast<uint64_t>(st.st_ino);
  }
  bool operator==(const FileIdentity&) const = default;
};

uint64_t Fnv1a64(std::string_view data);

// Identity of the open file `fd` (`st` is its fstat): hashes its first
// min(size, kFingerprintBytes) bytes.
Result<FileIdentity> IdentifyFile(int fd, const struct stat& st);

// True when `fd` is the file `known` describes: same device and inode, and
// its first known.fp_len bytes hash to known.fp_hash.
bool SameFile(const FileIdentity& known, int fd, const struct stat& st);

// Where a tracked file stands, as saved in the spool.
struct FilePosition {
  FileIdentity id;
  std::string path;       // the path its records are labelled with
  uint64_t offset = 0;    // start of the next record to hand out
  bool mid_line = false;  // offset lies inside a cut over-long line

  bool operator==(const FilePosition&) const = default;
};

std::string EncodePositions(const std::vector<FilePosition>& files);
// DATA_LOSS naming what is wrong when `text` is not what EncodePositions writes.
Result<std::vector<FilePosition>> DecodePositions(std::string_view text);

}  // namespace custos::agent::files
