// The agent's durable spool: an append-only log of encoded batches on disk.
//
// A batch is "accepted" once Sync() has returned after its Append(): from then
// on it survives kill -9 and power loss, and only the collector's ack removes
// it. Each entry also records the source positions (journald cursor, file
// offset, ...) that its records reach, so positions and records become durable
// in the same fsync: a restart resumes every source exactly after the last
// spooled record (RecoveredPositions()).
//
// On disk: DIR/seg-<first seq>.spool files, each a 24-byte header (magic,
// epoch) then entries of [header | positions | batch] with a CRC-32 over all
// but the magic. Opening scans every segment:
//   - a torn or damaged tail of the newest segment is truncated (it was never
//     synced, so nothing relied on it) and counted;
//   - a damaged entry elsewhere is skipped, counted, and the lost sequence
//     numbers are reported by TakeGaps() so the collector hears of them.
//
// The total size is bounded by a quota; an Append that would pass it fails with
// RESOURCE_EXHAUSTED and leaves the spool unchanged.
//
// Acks are remembered in DIR/acked (the highest seq below which everything is
// acked), written at most once a second and not fsynced: it only saves
// resending batches the collector already has (it would drop them as
// duplicates), so a stale file costs traffic, never data.
//
// Thread-safe: one thread appends and syncs, another reads and acks.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"

namespace custos::agent {

// Source name -> opaque position string.
using Positions = std::map<std::string, std::string>;

struct SpoolOptions {
  std::string dir;
  uint64_t quota_bytes = 1ULL << 30;
  uint64_t segment_bytes = 8ULL << 20;
  uint64_t max_entry_bytes = 16ULL << 20;
  bool fsync = true;  // false only for benchmarks of the rest of the path
};

// A loss discovered while opening the spool.
struct SpoolGap {
  uint64_t first_seq = 0;  // 0 when the range is unknown
  uint64_t last_seq = 0;
  uint64_t batches = 0;
  std::string detail;
};

struct SpoolEntry {
  uint64_t seq = 0;
  std::string batch;
};

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> Open(const SpoolOptions& options, MetricsRegistry& metrics);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Random, fixed for the life of this spool directory; part of the dedup key.
  uint64_t epoch() const { return epoch_; }
  // The sequence number the next Append must use.
  uint64_t next_seq() const;
  // Positions recovered from disk at Open (the newest value of each source).
  const Positions& RecoveredPositions() const { return recovered_positions_; }
  // Losses found at Open; returned once.
  std::vector<SpoolGap> TakeGaps();

  // Appends batch `seq` (must equal next_seq()) with the positions it reaches.
  // Not durable, nor visible to readers, until Sync().
  Status Append(uint64_t seq, const std::string& batch, const Positions& positions);
  // Makes every appended entry durable and readable.
  Status Sync();

  // Durable, unacknowledged sequence numbers >= from, ascending, at most `limit`.
  std::vector<uint64_t> Pending(uint64_t from, size_t limit) const;
  // Reads a durable entry; NOT_FOUND when acked or never written.
  Result<SpoolEntry> Read(uint64_t seq) const;
  // Drops `seq` (after the collector committed it); deletes segments that
  // hold nothing unacknowledged any more. Unknown seqs are ignored.
  Status Ack(uint64_t seq);
  // Writes DIR/acked now (at shutdown).
  void FlushAcks();

  uint64_t bytes() const;
  uint64_t pending_batches() const;
  uint64_t quota_bytes() const { return options_.quota_bytes; }

 private:
  struct Segment;
  struct Location {
    Segment* segment;
    uint64_t offset;  // of the batch bytes
    uint32_t length;
  };

  Spool(const SpoolOptions& options, MetricsRegistry& metrics);
  Status Recover();
  // end_seq: the first seq of the next segment, 0 for the newest segment.
  Status RecoverSegment(Segment& seg, uint64_t end_seq, uint64_t* last_seq);
  Status StartSegment(uint64_t first_seq);  // requires mu_
  Status AppendEntryLocked(uint8_t type, uint64_t seq, const std::string& batch, const Positions& positions);
  void DeleteAckedSegmentsLocked();
  void PersistAckedLocked(bool force);

  const SpoolOptions options_;
  Counter& corrupt_entries_;
  Counter& torn_tails_;
  Counter& quota_refusals_;
  Gauge& bytes_gauge_;
  Gauge& pending_gauge_;
  uint64_t epoch_ = 0;
  Positions recovered_positions_;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Segment>> segments_;  // oldest first; back() is active
  std::map<uint64_t, Location> durable_;            // unacked and synced
  std::map<uint64_t, Location> unsynced_;           // appended, not yet synced
  Positions positions_;                             // latest appended positions
  uint64_t next_seq_ = 1;
  uint64_t acked_through_ = 0;          // every seq <= this is acked
  int64_t acked_written_nanos_ = 0;     // monotonic time of the last DIR/acked write
  uint64_t total_bytes_ = 0;
  std::vector<SpoolGap> gaps_;
};

}  // namespace custos::agent
