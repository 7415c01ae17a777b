#include "collector/audit/record_store.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/parallel.h"

namespace custos::audit {

const char* const kRecordStoreSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_chunks(first INTEGER PRIMARY KEY, count INTEGER NOT NULL, lines BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit_payload_chunks(first INTEGER PRIMARY KEY, entries BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit_subjects(subject BLOB NOT NULL, first INTEGER NOT NULL, last INTEGER,
  PRIMARY KEY(subject, first)) WITHOUT ROWID;
)sql";

namespace {

// zstd level 1: about 6x smaller at ~1 µs a record here (lz4 is 3x smaller
// at 0.4 µs; zlib's fastest level takes 4 µs).
constexpr int kZstdLevel = 1;
// A decoded chunk larger than this is corrupt, not allocated.
constexpr unsigned long long kMaxDecoded = 64ull << 20;

std::string ZstdCompress(ZSTD_CCtx* cctx, std::string_view raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = cctx != nullptr ? ZSTD_compressCCtx(cctx, out.data(), out.size(), raw.data(), raw.size(), kZstdLevel)
                             : ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), kZstdLevel);
  out.resize(ZSTD_isError(n) ? 0 : n);  // cannot fail with a bound-sized buffer
  return out;
}

Result<std::string> Decompress(std::string_view blob) {
  unsigned long long size = ZSTD_getFrameContentSize(blob.data(), blob.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return DataLoss("not a zstd frame");
  if (size > kMaxDecoded) return DataLoss("claims " + std::to_string(size) + " bytes decoded");
  std::string out(size, '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), blob.data(), blob.size());
  if (ZSTD_isError(n)) return DataLoss(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != size) return DataLoss("decoded size differs from the frame's");
  return out;
}

std::string RawLines(std::span<const std::string> lines) {
  size_t total = 0;
  for (const std::string& l : lines) total += l.size() + 1;
  std::string raw;
  raw.reserve(total);
  for (const std::string& l : lines) {
    raw += l;
    raw += '\n';
  }
  return raw;
}

void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

// index (8, LE) | subject hash (32) | salt (32) | payload length (4, LE) | payload
constexpr size_t kPayloadHeader = 8 + 32 + 32 + 4;

std::string RawPayloads(std::span<const StoredPayload> payloads) {
  std::string raw;
  for (const StoredPayload& p : payloads) {
    PutLe(raw, p.index, 8);
    raw.append(p.subject_hash.data(), 32);
    raw.append(p.salt.data(), 32);
    PutLe(raw, p.payload.size(), 4);
    raw += p.payload;
  }
  return raw;
}

bool PayloadShapeOk(const StoredPayload& p) { return p.subject_hash.size() == 32 && p.salt.size() == 32; }

std::string ChunkName(uint64_t first) { return "audit chunk at record " + std::to_string(first); }

}  // namespace

std::string EncodeLines(std::span<const std::string> lines) { return ZstdCompress(nullptr, RawLines(lines)); }

Result<std::vector<std::string>> DecodeLines(std::string_view blob) {
  CUSTOS_ASSIGN_OR_RETURN(std::string raw, Decompress(blob));
  if (!raw.empty() && raw.back() != '\n') return DataLoss("the last line is not terminated");
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < raw.size()) {
    size_t nl = raw.find('\n', start);
    lines.emplace_back(raw, start, nl - start);
    start = nl + 1;
  }
  return lines;
}

std::string EncodePayloads(std::span<const StoredPayload> payloads) {
  return ZstdCompress(nullptr, RawPayloads(payloads));
}

Result<std::vector<StoredPayload>> DecodePayloads(std::string_view blob) {
  CUSTOS_ASSIGN_OR_RETURN(std::string raw, Decompress(blob));
  std::vector<StoredPayload> out;
  size_t at = 0;
  while (at < raw.size()) {
    if (raw.size() - at < kPayloadHeader) return DataLoss("a payload entry is cut short");
    StoredPayload p;
    p.index = GetLe(raw.data() + at, 8);
    p.subject_hash.assign(raw, at + 8, 32);
    p.salt.assign(raw, at + 40, 32);
    uint64_t len = GetLe(raw.data() + at + 72, 4);
    at += kPayloadHeader;
    if (raw.size() - at < len) return DataLoss("the payload of record " + std::to_string(p.index) + " is cut short");
    p.payload.assign(raw, at, len);
    at += len;
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::unique_ptr<RecordStore>> RecordStore::Open(store::Db& db) {
  std::unique_ptr<RecordStore> s(new RecordStore(db));
  const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  for (unsigned i = 0; i < threads; ++i) {
    s->cctx_.push_back(ZSTD_createCCtx());
    if (s->cctx_.back() == nullptr) return Internal("zstd: cannot create a compression context");
  }
  CUSTOS_ASSIGN_OR_RETURN(s->insert_chunk_,
                          db.Prepare("INSERT INTO audit_chunks VALUES(?1, ?2, ?3)"));
  CUSTOS_ASSIGN_OR_RETURN(s->insert_payloads_,
                          db.Prepare("INSERT INTO audit_payload_chunks VALUES(?1, ?2)"));
  // Stores before subject ranges had a row per chunk and no `last`.
  CUSTOS_ASSIGN_OR_RETURN(auto has_last, db.Prepare("SELECT count(*) FROM pragma_table_info('audit_subjects') "
                                                    "WHERE name = 'last'"));
  CUSTOS_ASSIGN_OR_RETURN(bool row, has_last->Step());
  bool ranges = row && has_last->Int(0) > 0;
  has_last.reset();
  // A read-only connection (a verifier's) reads such a store as it is.
  if (!ranges && sqlite3_db_readonly(db.raw(), "main") != 1) {
    CUSTOS_RETURN_IF_ERROR(db.Exec("ALTER TABLE audit_subjects ADD COLUMN last INTEGER"));
    ranges = true;
  }
  if (ranges) {
    CUSTOS_ASSIGN_OR_RETURN(s->insert_subject_,
                            db.Prepare("INSERT INTO audit_subjects VALUES(?1, ?2, ?3) ON CONFLICT(subject, first) "
                                       "DO UPDATE SET last = max(coalesce(last, first), excluded.last)"));
  }
  CUSTOS_ASSIGN_OR_RETURN(s->find_chunk_, db.Prepare("SELECT first, lines FROM audit_chunks WHERE first <= ?1 "
                                                     "ORDER BY first DESC LIMIT 1"));
  CUSTOS_ASSIGN_OR_RETURN(s->last_chunk_,
                          db.Prepare("SELECT first, count FROM audit_chunks ORDER BY first DESC LIMIT 1"));
  return s;
}

RecordStore::~RecordStore() {
  for (ZSTD_CCtx* cctx : cctx_) ZSTD_freeCCtx(cctx);
}

Result<std::vector<RecordStore::ChunkRange>> RecordStore::Split(uint64_t first, std::span<const std::string> lines,
                                                                 std::span<const StoredPayload> payloads) {
  std::vector<ChunkRange> chunks;
  for (size_t begin = 0, next_payload = 0; begin < lines.size();) {
    ChunkRange k{.begin = begin, .end = begin, .payload_begin = next_payload};
    size_t bytes = 0;
    while (k.end < lines.size() && k.end - begin < kChunkRecords &&
           (k.end == begin || bytes + lines[k.end].size() <= kChunkBytes)) {
      bytes += lines[k.end++].size();
    }
    k.payload_end = next_payload;
    while (k.payload_end < payloads.size() && payloads[k.payload_end].index < first + k.end) ++k.payload_end;
    begin = k.end;
    next_payload = k.payload_end;
    chunks.push_back(k);
  }
  if ((chunks.empty() ? 0 : chunks.back().payload_end) != payloads.size() ||
      (!payloads.empty() && payloads.front().index < first)) {
    return InvalidArgument("a payload's record index is outside the records written");
  }
  for (const StoredPayload& p : payloads) {
    if (!PayloadShapeOk(p)) return InvalidArgument("a payload's subject hash or salt is not 32 bytes");
  }
  return chunks;
}

CompressedChunk RecordStore::CompressRange(uint64_t first, const ChunkRange& k, std::span<const std::string> lines,
                                           std::span<const StoredPayload> payloads, size_t worker) const {
  CompressedChunk c{.first = first + k.begin, .count = k.end - k.begin};
  c.lines_blob = ZstdCompress(cctx_[worker], RawLines(lines.subspan(k.begin, k.end - k.begin)));
  if (k.payload_end > k.payload_begin) {
    std::span<const StoredPayload> mine = payloads.subspan(k.payload_begin, k.payload_end - k.payload_begin);
    c.payloads_blob = ZstdCompress(cctx_[worker], RawPayloads(mine));
    // The chunk's distinct subjects, for the write's subject ranges.
    for (const StoredPayload& p : mine) c.subjects.push_back(p.subject_hash);
    std::sort(c.subjects.begin(), c.subjects.end());
    c.subjects.erase(std::unique(c.subjects.begin(), c.subjects.end()), c.subjects.end());
  }
  return c;
}

Status RecordStore::Write(uint64_t first, std::span<const std::string> lines, std::span<const StoredPayload> payloads) {
  CUSTOS_ASSIGN_OR_RETURN(std::vector<ChunkRange> ranges, Split(first, lines, payloads));
  // Compression is most of a chunk's cost: large appends compress on every
  // core (a context per thread), then insert in order.
  std::vector<CompressedChunk> chunks(ranges.size());
  const uint64_t threads = ThreadsFor(ranges.size(), /*min_per_thread=*/4, /*max=*/cctx_.size());
  ParallelFor(ranges.size(), threads, [&](uint64_t begin, uint64_t end, uint64_t t) {
    for (uint64_t i = begin; i < end; ++i) chunks[i] = CompressRange(first, ranges[i], lines, payloads, t);
  });
  SubjectRanges subjects;
  CUSTOS_RETURN_IF_ERROR(Insert(chunks, &subjects));
  return InsertSubjects(subjects);
}

Result<std::vector<CompressedChunk>> RecordStore::Compress(uint64_t first, std::span<const std::string> lines,
                                                           std::span<const StoredPayload> payloads,
                                                           size_t worker) const {
  if (worker >= cctx_.size()) return InvalidArgument("no compression context " + std::to_string(worker));
  CUSTOS_ASSIGN_OR_RETURN(std::vector<ChunkRange> ranges, Split(first, lines, payloads));
  std::vector<CompressedChunk> chunks;
  for (const ChunkRange& k : ranges) chunks.push_back(CompressRange(first, k, lines, payloads, worker));
  return chunks;
}

void SubjectRanges::Add(const CompressedChunk& chunk) {
  for (const std::string& subject : chunk.subjects) {
    auto [it, added] = ranges_.try_emplace(subject, chunk.first, chunk.first);
    if (!added) it->second.second = chunk.first;  // chunks come in index order
  }
}

Status RecordStore::Insert(std::span<const CompressedChunk> chunks, SubjectRanges* subjects) {
  for (const CompressedChunk& c : chunks) {
    insert_chunk_->Bind(1, static_cast<int64_t>(c.first));
    insert_chunk_->Bind(2, static_cast<int64_t>(c.count));
    insert_chunk_->BindBlob(3, c.lines_blob);
    CUSTOS_RETURN_IF_ERROR(insert_chunk_->Exec());
    if (c.payloads_blob.empty()) continue;
    insert_payloads_->Bind(1, static_cast<int64_t>(c.first));
    insert_payloads_->BindBlob(2, c.payloads_blob);
    CUSTOS_RETURN_IF_ERROR(insert_payloads_->Exec());
    subjects->Add(c);
  }
  return Status::Ok();
}

Status RecordStore::InsertSubjects(const SubjectRanges& subjects) {
  if (subjects.ranges().empty()) return Status::Ok();
  if (insert_subject_ == nullptr) return FailedPrecondition("the audit log is open read-only");
  for (const auto& [subject, range] : subjects.ranges()) {
    insert_subject_->BindBlob(1, subject);
    insert_subject_->Bind(2, static_cast<int64_t>(range.first));
    insert_subject_->Bind(3, static_cast<int64_t>(range.second));
    CUSTOS_RETURN_IF_ERROR(insert_subject_->Exec());
  }
  return Status::Ok();
}

Result<uint64_t> RecordStore::Size() {
  auto row = last_chunk_->Step();
  uint64_t size = row.ok() && *row ? static_cast<uint64_t>(last_chunk_->Int(0) + last_chunk_->Int(1)) : 0;
  last_chunk_->Reset();
  if (!row.ok()) return row.status();
  return size;
}

Result<std::string> RecordStore::Line(uint64_t index) {
  if (cached_first_ != UINT64_MAX && index >= cached_first_ && index - cached_first_ < cached_.size()) {
    return cached_[index - cached_first_];
  }
  find_chunk_->Bind(1, static_cast<int64_t>(index));
  auto row = find_chunk_->Step();
  bool found = row.ok() && *row;
  uint64_t first = found ? static_cast<uint64_t>(find_chunk_->Int(0)) : 0;
  std::string blob = found ? find_chunk_->Blob(1) : std::string();
  find_chunk_->Reset();
  if (!row.ok()) return row.status();
  if (!found) return NotFound("audit record " + std::to_string(index) + " is not stored");
  auto lines = DecodeLines(blob);
  if (!lines.ok()) return lines.status().WithContext(ChunkName(first));
  if (index - first >= lines->size()) return NotFound("audit record " + std::to_string(index) + " is not stored");
  cached_first_ = first;
  cached_ = std::move(*lines);
  return cached_[index - first];
}

Status RecordStore::ForEachLine(const std::function<Status(std::string&&)>& fn) {
  CUSTOS_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT first, lines FROM audit_chunks ORDER BY first"));
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) return Status::Ok();
    auto lines = DecodeLines(st->Blob(1));
    if (!lines.ok()) return lines.status().WithContext(ChunkName(static_cast<uint64_t>(st->Int(0))));
    for (std::string& l : *lines) CUSTOS_RETURN_IF_ERROR(fn(std::move(l)));
  }
}

Status RecordStore::ForEachPayload(const std::function<Status(StoredPayload&&)>& fn) {
  CUSTOS_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT first, entries FROM audit_payload_chunks ORDER BY first"));
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) return Status::Ok();
    auto payloads = DecodePayloads(st->Blob(1));
    if (!payloads.ok()) {
      return payloads.status().WithContext("audit payloads of the chunk at record " + std::to_string(st->Int(0)));
    }
    for (StoredPayload& p : *payloads) CUSTOS_RETURN_IF_ERROR(fn(std::move(p)));
  }
}

Result<std::vector<uint64_t>> RecordStore::ErasePayloads(std::string_view subject_hash) {
  // Each row names the payload chunks of one append from the first to the
  // last that hold the subject's payloads; chunks between may hold none.
  CUSTOS_ASSIGN_OR_RETURN(auto find, db_.Prepare("SELECT DISTINCT p.first, p.entries FROM audit_subjects s JOIN "
                                                 "audit_payload_chunks p ON p.first BETWEEN s.first AND "
                                                 "coalesce(s.last, s.first) WHERE s.subject = ?1 ORDER BY p.first"));
  find->BindBlob(1, subject_hash);
  std::vector<std::pair<int64_t, std::string>> chunks;
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, find->Step());
    if (!row) break;
    chunks.emplace_back(find->Int(0), find->Blob(1));
  }
  CUSTOS_ASSIGN_OR_RETURN(auto rewrite, db_.Prepare("UPDATE audit_payload_chunks SET entries = ?2 WHERE first = ?1"));
  CUSTOS_ASSIGN_OR_RETURN(auto drop, db_.Prepare("DELETE FROM audit_payload_chunks WHERE first = ?1"));
  std::vector<uint64_t> erased;
  for (const auto& [first, blob] : chunks) {
    auto payloads = DecodePayloads(blob);
    if (!payloads.ok())
      return payloads.status().WithContext("audit payloads of the chunk at record " + std::to_string(first));
    std::vector<StoredPayload> kept;
    const size_t erased_before = erased.size();
    for (StoredPayload& p : *payloads) {
      if (p.subject_hash == subject_hash) {
        erased.push_back(p.index);
      } else {
        kept.push_back(std::move(p));
      }
    }
    if (erased.size() == erased_before) continue;  // a chunk of the range without the subject
    store::Statement& st = kept.empty() ? *drop : *rewrite;
    st.Bind(1, first);
    // Recompressed from the kept entries only: nothing of the erased payload
    // or its salt stays in the row (AuditLog::Erase turns on secure_delete, so
    // the freed pages are zeroed, and truncates the WAL afterwards).
    const std::string entries = kept.empty() ? std::string() : ZstdCompress(cctx_[0], RawPayloads(kept));
    if (!kept.empty()) st.BindBlob(2, entries);
    CUSTOS_RETURN_IF_ERROR(st.Exec());
  }
  CUSTOS_ASSIGN_OR_RETURN(auto forget, db_.Prepare("DELETE FROM audit_subjects WHERE subject = ?1"));
  forget->BindBlob(1, subject_hash);
  CUSTOS_RETURN_IF_ERROR(forget->Exec());
  return erased;
}

}  // namespace custos::audit
