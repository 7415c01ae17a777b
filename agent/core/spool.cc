#include "agent/core/spool.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <charconv>
#include <cstring>
#include <ctime>

#include "common/files.h"
#include "common/log.h"

namespace custos::agent {
namespace {

constexpr char kSegmentMagic[8] = {'C', 'U', 'S', 'T', 'O', 'S', 'S', 'P'};
constexpr uint32_t kSegmentVersion = 1;
constexpr uint64_t kSegmentHeaderBytes = 24;  // magic(8) version(4) reserved(4) epoch(8)
constexpr uint32_t kEntryMagic = 0x31505343;  // "CSP1"
constexpr uint64_t kEntryHeaderBytes = 28;    // magic type pad[3] seq pos_len batch_len crc
constexpr uint8_t kTypeBatch = 1;
constexpr uint8_t kTypeCheckpoint = 2;

struct EntryHeader {
  uint32_t magic;
  uint8_t type;
  uint8_t pad[3];
  uint64_t seq;
  uint32_t pos_len;
  uint32_t batch_len;
  uint32_t crc;
} __attribute__((packed));
static_assert(sizeof(EntryHeader) == kEntryHeaderBytes);

uint32_t EntryCrc(const EntryHeader& h, const char* body, size_t body_len) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(&h.type), 1);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(&h.seq), 8 + 4 + 4);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(body), static_cast<uInt>(body_len));
  return static_cast<uint32_t>(crc);
}

std::string EncodePositions(const Positions& positions) {
  std::string out;
  for (const auto& [k, v] : positions) {
    uint32_t kl = static_cast<uint32_t>(k.size()), vl = static_cast<uint32_t>(v.size());
    out.append(reinterpret_cast<const char*>(&kl), 4).append(k);
    out.append(reinterpret_cast<const char*>(&vl), 4).append(v);
  }
  return out;
}

bool DecodePositions(const char* p, size_t n, Positions* out) {
  size_t off = 0;
  auto take = [&](std::string* s) {
    uint32_t len;
    if (n - off < 4) return false;
    std::memcpy(&len, p + off, 4);
    off += 4;
    if (n - off < len) return false;
    s->assign(p + off, len);
    off += len;
    return true;
  };
  while (off < n) {
    std::string k, v;
    if (!take(&k) || !take(&v)) return false;
    (*out)[k] = std::move(v);
  }
  return true;
}

std::string SegmentName(uint64_t first_seq) {
  char name[48];
  std::snprintf(name, sizeof name, "seg-%020" PRIu64 ".spool", first_seq);
  return name;
}

bool ParseSegmentName(const std::string& name, uint64_t* first_seq) {
  if (name.size() != 30 || name.rfind("seg-", 0) != 0 || name.substr(24) != ".spool") return false;
  for (size_t i = 4; i < 24; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  *first_seq = std::stoull(name.substr(4, 20));
  return true;
}

Status PWriteAll(int fd, const std::string& data, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write " + path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

bool PReadAll(int fd, char* buf, size_t len, uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

struct Spool::Segment {
  std::string path;
  uint64_t first_seq = 0;
  int fd = -1;
  uint64_t size = 0;
  uint64_t unacked = 0;
  ~Segment() {
    if (fd >= 0) ::close(fd);
  }
};

Spool::Spool(const SpoolOptions& options, MetricsRegistry& metrics)
    : options_(options),
      corrupt_entries_(metrics.GetCounter("custos_agent_spool_corrupt_entries_total",
                                          "Damaged spool entries skipped at start-up (reported as gaps)")),
      torn_tails_(metrics.GetCounter("custos_agent_spool_torn_tails_total",
                                     "Unsynced partial writes truncated at start-up")),
      quota_refusals_(metrics.GetCounter("custos_agent_spool_quota_refusals_total",
                                         "Appends refused because the spool quota was reached")),
      bytes_gauge_(metrics.GetGauge("custos_agent_spool_bytes", "Bytes in the spool")),
      pending_gauge_(metrics.GetGauge("custos_agent_spool_batches", "Unacknowledged batches in the spool")) {}

Spool::~Spool() = default;

Result<std::unique_ptr<Spool>> Spool::Open(const SpoolOptions& options, MetricsRegistry& metrics) {
  if (options.dir.empty()) return InvalidArgument("spool directory is not set");
  if (options.segment_bytes < 4096) return InvalidArgument("spool segment size must be at least 4KiB");
  CUSTOS_RETURN_IF_ERROR(MakeDirs(options.dir, 0700).WithContext("spool"));
  std::unique_ptr<Spool> spool(new Spool(options, metrics));
  CUSTOS_RETURN_IF_ERROR(spool->Recover().WithContext("recovering spool " + options.dir));
  return spool;
}

Status Spool::Recover() {
  std::lock_guard<std::mutex> lock(mu_);
  CUSTOS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(options_.dir));
  for (const std::string& name : names) {
    uint64_t first = 0;
    if (!ParseSegmentName(name, &first)) {
      if (name == "acked" || (name.size() > 4 && name.substr(name.size() - 4) == ".tmp")) continue;
      log::Warn("spool", "ignoring unexpected file in spool directory", {{"file", options_.dir + "/" + name}});
      continue;
    }
    auto seg = std::make_unique<Segment>();
    seg->path = options_.dir + "/" + name;
    seg->first_seq = first;
    seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CLOEXEC);
    if (seg->fd < 0) return ErrnoStatus("open " + seg->path, errno);
    struct stat st{};
    if (::fstat(seg->fd, &st) != 0) return ErrnoStatus("stat " + seg->path, errno);
    seg->size = static_cast<uint64_t>(st.st_size);
    segments_.push_back(std::move(seg));
  }

  // The epoch comes from the first readable segment header.
  bool have_epoch = false;
  for (auto& seg : segments_) {
    char hdr[kSegmentHeaderBytes];
    if (seg->size >= kSegmentHeaderBytes && PReadAll(seg->fd, hdr, sizeof hdr, 0) &&
        std::memcmp(hdr, kSegmentMagic, 8) == 0) {
      std::memcpy(&epoch_, hdr + 16, 8);
      have_epoch = epoch_ != 0;
      if (have_epoch) break;
    }
  }
  if (!have_epoch) {
    if (getrandom(&epoch_, sizeof epoch_, 0) != sizeof epoch_ || epoch_ == 0) {
      return Internal("getrandom failed while creating the spool epoch");
    }
    if (!segments_.empty()) {
      gaps_.push_back({0, 0, 0, "no readable spool segment header; spool restarted with a new epoch"});
    }
  }

  uint64_t last_seq = 0;
  for (size_t i = 0; i < segments_.size(); ++i) {
    // A segment holds the seqs from its name up to the next segment's name.
    uint64_t end_seq = i + 1 < segments_.size() ? segments_[i + 1]->first_seq : 0;
    CUSTOS_RETURN_IF_ERROR(RecoverSegment(*segments_[i], end_seq, &last_seq));
  }
  next_seq_ = std::max(next_seq_, last_seq + 1);
  recovered_positions_ = positions_;
  // Drop what the collector had already acked before the restart.
  if (auto acked = ReadFile(options_.dir + "/acked"); acked.ok()) {
    uint64_t through = 0;
    auto [p, ec] = std::from_chars(acked->data(), acked->data() + acked->size(), through);
    if (ec == std::errc() && through < next_seq_) {
      acked_through_ = through;
      for (auto it = durable_.begin(); it != durable_.end() && it->first <= through;) {
        it->second.segment->unacked--;
        it = durable_.erase(it);
      }
    } else {
      log::Warn("spool", "ignoring an unreadable acked file (batches may be resent)", {{"dir", options_.dir}});
    }
  }
  for (auto& seg : segments_) total_bytes_ += seg->size;
  if (segments_.empty()) {
    CUSTOS_RETURN_IF_ERROR(StartSegment(next_seq_));
  }
  DeleteAckedSegmentsLocked();
  bytes_gauge_.Set(static_cast<int64_t>(total_bytes_));
  pending_gauge_.Set(static_cast<int64_t>(durable_.size()));
  log::Info("spool", "opened", {{"dir", options_.dir}, {"segments", std::to_string(segments_.size())},
                                {"pending_batches", std::to_string(durable_.size())},
                                {"next_seq", std::to_string(next_seq_)}});
  return Status::Ok();
}

Status Spool::RecoverSegment(Segment& seg, uint64_t end_seq, uint64_t* last_seq) {
  const bool newest = end_seq == 0;
  char shdr[kSegmentHeaderBytes];
  uint64_t seg_epoch = 0;
  if (seg.size >= kSegmentHeaderBytes && PReadAll(seg.fd, shdr, sizeof shdr, 0) &&
      std::memcmp(shdr, kSegmentMagic, 8) == 0) {
    std::memcpy(&seg_epoch, shdr + 16, 8);
  }
  if (seg_epoch == 0) {
    // Entries carry their own CRC (and each batch its epoch), so the body is
    // still scanned; the newest segment gets a fresh header to append after.
    corrupt_entries_.Increment();
    log::Error("spool", "spool segment header damaged; scanning its entries anyway", {{"path", seg.path}});
    if (newest) {
      std::string hdr(kSegmentHeaderBytes, '\0');
      std::memcpy(hdr.data(), kSegmentMagic, 8);
      std::memcpy(hdr.data() + 8, &kSegmentVersion, 4);
      std::memcpy(hdr.data() + 16, &epoch_, 8);
      CUSTOS_RETURN_IF_ERROR(PWriteAll(seg.fd, hdr, 0, seg.path));
      seg.size = std::max(seg.size, kSegmentHeaderBytes);
    }
  }

  // Reads the segment fully: segments are bounded by segment_bytes (plus one entry).
  std::string data(seg.size, '\0');
  if (!PReadAll(seg.fd, data.data(), data.size(), 0)) return DataLoss("cannot read " + seg.path);

  auto valid_at = [&](uint64_t off, EntryHeader* h) {
    if (seg.size - off < kEntryHeaderBytes) return false;
    std::memcpy(h, data.data() + off, kEntryHeaderBytes);
    if (h->magic != kEntryMagic || (h->type != kTypeBatch && h->type != kTypeCheckpoint)) return false;
    uint64_t body = uint64_t{h->pos_len} + h->batch_len;
    if (body > options_.max_entry_bytes || off + kEntryHeaderBytes + body > seg.size) return false;
    return EntryCrc(*h, data.data() + off + kEntryHeaderBytes, body) == h->crc;
  };

  uint64_t off = kSegmentHeaderBytes;
  uint64_t last_valid_seq = seg.first_seq - 1;
  auto report_gap = [&](uint64_t first, uint64_t last, std::string detail) {
    SpoolGap gap;
    if (first >= 1 && last >= first) {
      gap.first_seq = first;
      gap.last_seq = last;
      gap.batches = last - first + 1;
    }
    gap.detail = std::move(detail);
    log::Error("spool", "damaged spool entries skipped; the batches are lost and reported to the collector",
               {{"detail", gap.detail}, {"first_lost_seq", std::to_string(gap.first_seq)},
                {"last_lost_seq", std::to_string(gap.last_seq)}});
    gaps_.push_back(std::move(gap));
  };
  while (off < seg.size) {
    EntryHeader h{};
    if (valid_at(off, &h)) {
      const char* body = data.data() + off + kEntryHeaderBytes;
      Positions changed;
      if (!DecodePositions(body, h.pos_len, &changed)) {
        return DataLoss("positions undecodable despite a valid CRC in " + seg.path);
      }
      for (auto& [k, v] : changed) positions_[k] = v;
      if (h.type == kTypeBatch) {
        durable_[h.seq] = Location{&seg, off + kEntryHeaderBytes + h.pos_len, h.batch_len};
        seg.unacked++;
        last_valid_seq = h.seq;
      } else {
        next_seq_ = std::max(next_seq_, h.seq);
      }
      off += kEntryHeaderBytes + h.pos_len + h.batch_len;
      continue;
    }
    // Damage at `off`: look for the next intact entry.
    uint64_t next = off + 1;
    EntryHeader nh{};
    while (next < seg.size && !valid_at(next, &nh)) ++next;
    if (next >= seg.size) {
      if (newest) {
        torn_tails_.Increment();
        log::Warn("spool", "truncating a partial write at the end of the spool",
                  {{"path", seg.path}, {"offset", std::to_string(off)},
                   {"bytes", std::to_string(seg.size - off)}});
        if (::ftruncate(seg.fd, static_cast<off_t>(off)) != 0) return ErrnoStatus("truncate " + seg.path, errno);
        seg.size = off;
      } else {
        corrupt_entries_.Increment();
        report_gap(last_valid_seq + 1, end_seq - 1,
                   "damaged entries at the end of " + seg.path + " from offset " + std::to_string(off));
      }
      break;
    }
    corrupt_entries_.Increment();
    uint64_t next_seq = nh.type == kTypeBatch ? nh.seq : last_valid_seq + 1;
    report_gap(last_valid_seq + 1, next_seq - 1,
               "damaged entries in " + seg.path + " at offset " + std::to_string(off) + " (" +
                   std::to_string(next - off) + " bytes)");
    off = next;
  }
  *last_seq = std::max(*last_seq, last_valid_seq);
  return Status::Ok();
}

Status Spool::StartSegment(uint64_t first_seq) {
  auto seg = std::make_unique<Segment>();
  seg->first_seq = first_seq;
  seg->path = options_.dir + "/" + SegmentName(first_seq);
  seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (seg->fd < 0) return ErrnoStatus("create " + seg->path, errno);
  std::string hdr(kSegmentHeaderBytes, '\0');
  std::memcpy(hdr.data(), kSegmentMagic, 8);
  std::memcpy(hdr.data() + 8, &kSegmentVersion, 4);
  std::memcpy(hdr.data() + 16, &epoch_, 8);
  CUSTOS_RETURN_IF_ERROR(PWriteAll(seg->fd, hdr, 0, seg->path));
  seg->size = kSegmentHeaderBytes;
  total_bytes_ += kSegmentHeaderBytes;
  segments_.push_back(std::move(seg));
  // The newest segment always opens with every source's position, so that
  // deleting older segments never loses a position.
  CUSTOS_RETURN_IF_ERROR(AppendEntryLocked(kTypeCheckpoint, next_seq_, "", positions_));
  if (options_.fsync) {
    if (::fdatasync(segments_.back()->fd) != 0) return ErrnoStatus("fsync " + segments_.back()->path, errno);
    CUSTOS_RETURN_IF_ERROR(FsyncDir(options_.dir));
  }
  return Status::Ok();
}

Status Spool::AppendEntryLocked(uint8_t type, uint64_t seq, const std::string& batch, const Positions& positions) {
  Segment& seg = *segments_.back();
  std::string pos = EncodePositions(positions);
  EntryHeader h{};
  h.magic = kEntryMagic;
  h.type = type;
  h.seq = seq;
  h.pos_len = static_cast<uint32_t>(pos.size());
  h.batch_len = static_cast<uint32_t>(batch.size());
  std::string entry;
  entry.reserve(kEntryHeaderBytes + pos.size() + batch.size());
  entry.append(kEntryHeaderBytes, '\0');
  entry.append(pos).append(batch);
  h.crc = EntryCrc(h, entry.data() + kEntryHeaderBytes, pos.size() + batch.size());
  std::memcpy(entry.data(), &h, kEntryHeaderBytes);
  Status s = PWriteAll(seg.fd, entry, seg.size, seg.path);
  if (!s.ok()) {
    // Cut off whatever part was written so the file stays a sequence of whole entries.
    (void)::ftruncate(seg.fd, static_cast<off_t>(seg.size));
    return s;
  }
  if (type == kTypeBatch) {
    unsynced_[seq] = Location{&seg, seg.size + kEntryHeaderBytes + pos.size(), h.batch_len};
    seg.unacked++;
  }
  seg.size += entry.size();
  total_bytes_ += entry.size();
  return Status::Ok();
}

uint64_t Spool::next_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_;
}

std::vector<SpoolGap> Spool::TakeGaps() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(gaps_);
}

Status Spool::Append(uint64_t seq, const std::string& batch, const Positions& positions) {
  std::lock_guard<std::mutex> lock(mu_);
  if (seq != next_seq_) {
    return FailedPrecondition("spool append out of order: got seq " + std::to_string(seq) + ", expected " +
                              std::to_string(next_seq_));
  }
  // Only positions that changed since the last entry are written.
  Positions changed;
  for (const auto& [k, v] : positions) {
    auto it = positions_.find(k);
    if (it == positions_.end() || it->second != v) changed[k] = v;
  }
  uint64_t entry_bytes = kEntryHeaderBytes + EncodePositions(changed).size() + batch.size();
  if (entry_bytes > options_.max_entry_bytes) {
    return InvalidArgument("batch of " + std::to_string(batch.size()) + " bytes exceeds the spool entry limit");
  }
  bool rotate = segments_.back()->size + entry_bytes > options_.segment_bytes &&
                segments_.back()->size > kSegmentHeaderBytes + kEntryHeaderBytes + 64;
  // A rotation also writes the new segment's header and its checkpoint entry.
  uint64_t needed =
      entry_bytes + (rotate ? kSegmentHeaderBytes + kEntryHeaderBytes + EncodePositions(positions_).size() : 0);
  if (total_bytes_ + needed > options_.quota_bytes) {
    quota_refusals_.Increment();
    return ResourceExhausted("spool quota of " + std::to_string(options_.quota_bytes) + " bytes reached (" +
                             std::to_string(total_bytes_) + " used)");
  }
  if (rotate) {
    if (options_.fsync && ::fdatasync(segments_.back()->fd) != 0) {
      return ErrnoStatus("fsync " + segments_.back()->path, errno);
    }
    durable_.merge(unsynced_);
    CUSTOS_RETURN_IF_ERROR(StartSegment(seq));
    DeleteAckedSegmentsLocked();
  }
  CUSTOS_RETURN_IF_ERROR(AppendEntryLocked(kTypeBatch, seq, batch, changed));
  for (auto& [k, v] : changed) positions_[k] = std::move(v);
  next_seq_ = seq + 1;
  bytes_gauge_.Set(static_cast<int64_t>(total_bytes_));
  return Status::Ok();
}

Status Spool::Sync() {
  std::lock_guard<std::mutex> lock(mu_);
  if (unsynced_.empty()) return Status::Ok();
  if (options_.fsync && ::fdatasync(segments_.back()->fd) != 0) {
    return ErrnoStatus("fsync " + segments_.back()->path, errno);
  }
  durable_.merge(unsynced_);
  pending_gauge_.Set(static_cast<int64_t>(durable_.size()));
  return Status::Ok();
}

std::vector<uint64_t> Spool::Pending(uint64_t from, size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  for (auto it = durable_.lower_bound(from); it != durable_.end() && out.size() < limit; ++it) {
    out.push_back(it->first);
  }
  return out;
}

Result<SpoolEntry> Spool::Read(uint64_t seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = durable_.find(seq);
  if (it == durable_.end()) return NotFound("seq " + std::to_string(seq) + " is not pending in the spool");
  SpoolEntry e;
  e.seq = seq;
  e.batch.resize(it->second.length);
  if (!PReadAll(it->second.segment->fd, e.batch.data(), e.batch.size(), it->second.offset)) {
    return DataLoss("cannot read seq " + std::to_string(seq) + " from " + it->second.segment->path);
  }
  return e;
}

Status Spool::Ack(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = durable_.find(seq);
  if (it == durable_.end()) return Status::Ok();
  it->second.segment->unacked--;
  durable_.erase(it);
  DeleteAckedSegmentsLocked();
  // The acked prefix: everything below the oldest pending (or unsynced) entry.
  uint64_t oldest = next_seq_;
  if (!durable_.empty()) oldest = std::min(oldest, durable_.begin()->first);
  if (!unsynced_.empty()) oldest = std::min(oldest, unsynced_.begin()->first);
  acked_through_ = std::max(acked_through_, oldest - 1);
  PersistAckedLocked(false);
  pending_gauge_.Set(static_cast<int64_t>(durable_.size()));
  bytes_gauge_.Set(static_cast<int64_t>(total_bytes_));
  return Status::Ok();
}

void Spool::FlushAcks() {
  std::lock_guard<std::mutex> lock(mu_);
  PersistAckedLocked(true);
}

void Spool::PersistAckedLocked(bool force) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  if (!force && now - acked_written_nanos_ < 1'000'000'000) return;
  acked_written_nanos_ = now;
  std::string path = options_.dir + "/acked", tmp = path + ".tmp";
  std::string text = std::to_string(acked_through_);
  // Not fsynced on purpose (see spool.h): a lost update only means resends.
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return;
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (ok) std::rename(tmp.c_str(), path.c_str());
}

void Spool::DeleteAckedSegmentsLocked() {
  for (size_t i = 0; i + 1 < segments_.size();) {
    Segment& seg = *segments_[i];
    if (seg.unacked != 0) {
      ++i;
      continue;
    }
    if (::unlink(seg.path.c_str()) != 0) {
      log::Error("spool", "cannot delete acknowledged segment", {{"path", seg.path}, {"error", std::strerror(errno)}});
      ++i;
      continue;
    }
    total_bytes_ -= seg.size;
    segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

uint64_t Spool::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_bytes_;
}

uint64_t Spool::pending_batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_.size() + unsynced_.size();
}

}  // namespace custos::agent
