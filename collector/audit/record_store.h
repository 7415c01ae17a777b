// Where the audit log keeps its records and personal payloads in SQLite.
//
// A row per record would cap the durable append rate at SQLite's row rate
// (about 140,000 rows/s here, before the payload row, its index entry and the
// tree nodes). So records are stored in chunks: the records of one append,
// up to 256 of them (or 256 KiB of lines), as one zstd-compressed row of
// newline-terminated lines in table audit_chunks. Payloads of those records go
// into one row of audit_payload_chunks (same `first`), and each subject with
// payloads in a write gets one row in audit_subjects naming the first and
// last of the write's chunks that hold them, so erasure finds its chunks
// without scanning the log. (A row per chunk and subject cost a fifth of the
// append rate when a chunk holds many subjects; older stores have such rows,
// with no `last`, and still work.) The Merkle tree's lowest 8 levels are
// recomputed from the records (sqlite_node_store.h), so a record costs about
// 1/128 of a row.
//
// Nothing here is trusted by a verifier: a chunk's `first` and `count` only
// locate records; each line carries its own index and the chain, tree and
// checkpoints decide what is intact. A chunk that cannot be decoded is
// DATA_LOSS naming its first index.
//
//   CUSTOS_ASSIGN_OR_RETURN(auto records, RecordStore::Open(db));
//   CUSTOS_RETURN_IF_ERROR(records->Write(first, lines, payloads));
//   CUSTOS_ASSIGN_OR_RETURN(std::string line, records->Line(42));
//
// Thread-compatible: one owner at a time, sharing the owner's connection and
// transaction.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collector/store/sqlite_db.h"
#include "common/status.h"

namespace custos::audit {

// The tables this file manages (created by AuditLog with the others).
extern const char* const kRecordStoreSchema;

inline constexpr size_t kChunkRecords = 256;
inline constexpr size_t kChunkBytes = 256 * 1024;

// A personal payload as stored: the record it belongs to, SHA-256 of its
// subject (raw), the 32-byte salt and the payload itself.
struct StoredPayload {
  uint64_t index = 0;
  std::string subject_hash;  // 32 raw bytes
  std::string salt;          // 32 raw bytes
  std::string payload;
};

// The codecs of a chunk's blobs, public so that tests (and an insider's
// tools) can read and rewrite chunks.
std::string EncodeLines(std::span<const std::string> lines);
Result<std::vector<std::string>> DecodeLines(std::string_view blob);
std::string EncodePayloads(std::span<const StoredPayload> payloads);
Result<std::vector<StoredPayload>> DecodePayloads(std::string_view blob);

// One chunk, compressed and ready to insert (RecordStore::Compress).
struct CompressedChunk {
  uint64_t first = 0;
  size_t count = 0;
  std::string lines_blob;
  std::string payloads_blob;          // empty when no record of the chunk has a payload
  std::vector<std::string> subjects;  // the distinct subject hashes of its payloads
};

// Per subject, the first and last chunk of one write that hold its
// payloads (RecordStore::Insert collects them, InsertSubjects stores them).
class SubjectRanges {
 public:
  void Add(const CompressedChunk& chunk);
  const std::map<std::string, std::pair<uint64_t, uint64_t>>& ranges() const { return ranges_; }

 private:
  std::map<std::string, std::pair<uint64_t, uint64_t>> ranges_;
};

class RecordStore {
 public:
  static Result<std::unique_ptr<RecordStore>> Open(store::Db& db);
  ~RecordStore();

  // Stores the records [first, first + lines.size()) and their payloads
  // (each payload's index in that range), in chunks. A chunk already stored
  // at one of those indexes is an error, never replaced: committed chunks do
  // not change (a store where one would is inconsistent, e.g. edited).
  [[nodiscard]] Status Write(uint64_t first, std::span<const std::string> lines,
                             std::span<const StoredPayload> payloads);

  // Write() in two steps, for a caller that compresses on other threads
  // while it goes on: Compress() may run on any thread, one at a time per
  // `worker` (< compress_workers()), and touches no database; Insert() runs
  // on the owner's thread, with chunks in index order, adding their subjects
  // to `subjects`; InsertSubjects() then stores those once the write's
  // chunks are all in.
  [[nodiscard]] Result<std::vector<CompressedChunk>> Compress(uint64_t first, std::span<const std::string> lines,
                                                              std::span<const StoredPayload> payloads,
                                                              size_t worker) const;
  [[nodiscard]] Status Insert(std::span<const CompressedChunk> chunks, SubjectRanges* subjects);
  [[nodiscard]] Status InsertSubjects(const SubjectRanges& subjects);
  size_t compress_workers() const { return cctx_.size(); }

  // One past the last stored index (0 for an empty log), from the last chunk.
  [[nodiscard]] Result<uint64_t> Size();

  // The stored line of record `index`; NOT_FOUND if no chunk holds it. The
  // chunk read last is kept, so walking a range decodes each chunk once.
  [[nodiscard]] Result<std::string> Line(uint64_t index);

  // Calls fn(line) for the stored lines of every chunk in order (a chunk's
  // lines are passed as they are, whatever indexes they claim).
  [[nodiscard]] Status ForEachLine(const std::function<Status(std::string&&)>& fn);

  // Every stored payload, in chunk order.
  [[nodiscard]] Status ForEachPayload(const std::function<Status(StoredPayload&&)>& fn);

  // Deletes the payloads (and salts) of the subject with this hash; returns
  // the indexes of the records whose payloads went.
  [[nodiscard]] Result<std::vector<uint64_t>> ErasePayloads(std::string_view subject_hash);

  // Drops what Line() remembers (after a rollback).
  void ForgetCache() {
    cached_first_ = UINT64_MAX;
    cached_.clear();
  }

 private:
  explicit RecordStore(store::Db& db) : db_(db) {}
  struct ChunkRange {
    size_t begin = 0, end = 0, payload_begin = 0, payload_end = 0;
  };
  // Splits [first, first + lines.size()) into chunks and checks the payloads.
  static Result<std::vector<ChunkRange>> Split(uint64_t first, std::span<const std::string> lines,
                                               std::span<const StoredPayload> payloads);
  CompressedChunk CompressRange(uint64_t first, const ChunkRange& range, std::span<const std::string> lines,
                                std::span<const StoredPayload> payloads, size_t worker) const;

  store::Db& db_;
  std::vector<ZSTD_CCtx*> cctx_;  // one per thread that compresses
  std::unique_ptr<store::Statement> insert_chunk_, insert_payloads_, insert_subject_, find_chunk_, last_chunk_;
  uint64_t cached_first_ = UINT64_MAX;
  std::vector<std::string> cached_;
};

}  // namespace custos::audit
