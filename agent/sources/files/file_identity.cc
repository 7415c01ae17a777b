#include "agent/sources/files/file_identity.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

namespace custos::agent::files {
namespace {

constexpr std::string_view kHeader = "custos-files 1";

// Reads up to `len` bytes at offset 0; fewer only at end of file.
Result<std::string> ReadPrefix(int fd, size_t len) {
  std::string buf(len, '\0');
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, buf.data() + got, len - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("reading the first bytes", errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  return buf;
}

std::string EscapePath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '%' || c == '\n' || c == '\r') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out.append(buf);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool UnescapePath(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= in.size()) return false;
    auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
    if (ec != std::errc() || p != in.data() + i + 3) return false;
    out->push_back(static_cast<char>(v));
    i += 2;
  }
  return true;
}

template <typename T>
bool ParseNumber(std::string_view* rest, T* out, int base = 10) {
  size_t sp = rest->find(' ');
  if (sp == std::string_view::npos || sp == 0) return false;
  auto [p, ec] = std::from_chars(rest->data(), rest->data() + sp, *out, base);
  if (ec != std::errc() || p != rest->data() + sp) return false;
  rest->remove_prefix(sp + 1);
  return true;
}

}  // namespace

uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

Result<FileIdentity> IdentifyFile(int fd, const struct stat& st) {
  FileIdentity id;
  id.dev = static_cast<uint64_t>(st.st_dev);
  id.ino = static_cast<uint64_t>(st.st_ino);
  size_t want = st.st_size < static_cast<off_t>(kFingerprintBytes) ? static_cast<size_t>(st.st_size)
                                                                     : kFingerprintBytes;
  CUSTOS_ASSIGN_OR_RETURN(std::string prefix, ReadPrefix(fd, want));
  id.fp_len = static_cast<uint32_t>(prefix.size());
  id.fp_hash = Fnv1a64(prefix);
  return id;
}

bool SameFile(const FileIdentity& known, int fd, const struct stat& st) {
  if (!known.SameInode(st)) return false;
  if (st.st_size < static_cast<off_t>(known.fp_len)) return false;
  Result<std::string> prefix = ReadPrefix(fd, known.fp_len);
  return prefix.ok() && prefix->size() == known.fp_len && Fnv1a64(*prefix) == known.fp_hash;
}

std::string EncodePositions(const std::vector<FilePosition>& files) {
  std::string out(kHeader);
  out.push_back('\n');
  char buf[160];
  for (const FilePosition& f : files) {
    std::snprintf(buf, sizeof buf, "%llu %llu %u %016llx %llu %d ", static_cast<unsigned long long>(f.id.dev),
                  static_cast<unsigned long long>(f.id.ino), f.id.fp_len,
                  static_cast<unsigned long long>(f.id.fp_hash), static_cast<unsigned long long>(f.offset),
                  f.mid_line ? 1 : 0);
    out.append(buf);
    out.append(EscapePath(f.path));
    out.push_back('\n');
  }
  return out;
}

Result<std::vector<FilePosition>> DecodePositions(std::string_view text) {
  size_t nl = text.find('\n');
  if (nl == std::string_view::npos || text.substr(0, nl) != kHeader) {
    return DataLoss("files position does not start with '" + std::string(kHeader) + "'");
  }
  std::vector<FilePosition> out;
  size_t line_no = 1;
  for (size_t pos = nl + 1; pos < text.size();) {
    ++line_no;
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      return DataLoss("files position line " + std::to_string(line_no) + " is not terminated");
    }
    std::string_view rest = text.substr(pos, end - pos);
    pos = end + 1;
    FilePosition f;
    int mid = 0;
    bool ok = ParseNumber(&rest, &f.id.dev) && ParseNumber(&rest, &f.id.ino) && ParseNumber(&rest, &f.id.fp_len) &&
              ParseNumber(&rest, &f.id.fp_hash, 16) && ParseNumber(&rest, &f.offset) && ParseNumber(&rest, &mid) &&
              (mid == 0 || mid == 1) && f.id.fp_len <= kFingerprintBytes && UnescapePath(rest, &f.path) &&
              !f.path.empty() && f.path[0] == '/';
    if (!ok) return DataLoss("files position line " + std::to_string(line_no) + " is malformed");
    f.mid_line = mid == 1;
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace custos::agent::files
