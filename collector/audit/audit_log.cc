#include "collector/audit/audit_log.h"

#include <algorithm>

#include "collector/audit/append_pipeline.h"
#include "collector/audit/checkpoint.h"
#include "collector/audit/note.h"
#include "common/log.h"

namespace custos::audit {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checkpoints(size INTEGER NOT NULL, time INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY(level, idx)) WITHOUT ROWID;
)sql";

Status SetMeta(store::Db& db, const std::string& key, const std::string& value) {
  CUSTOS_ASSIGN_OR_RETURN(auto st, db.Prepare("INSERT OR REPLACE INTO audit_meta VALUES(?1, ?2)"));
  st->Bind(1, key);
  st->Bind(2, value);
  return st->Exec();
}

Result<std::string> GetMeta(store::Db& db, const std::string& key) {
  CUSTOS_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT value FROM audit_meta WHERE key = ?1"));
  st->Bind(1, key);
  CUSTOS_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return NotFound("audit_meta has no '" + key + "'");
  return st->Text(0);
}

Result<bool> HasTable(store::Db& db, const std::string& name) {
  CUSTOS_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"));
  st->Bind(1, name);
  CUSTOS_ASSIGN_OR_RETURN(bool row, st->Step());
  return row && st->Int(0) > 0;
}

// Moves the records of one block [first, first + kChunkRecords) of the
// row-per-record layout into a chunk.
Status MigrateBlock(store::Db& db, RecordStore& records, int64_t first, int64_t* moved) {
  CUSTOS_ASSIGN_OR_RETURN(auto lines_st, db.Prepare("SELECT idx, line FROM audit_records WHERE idx >= ?1 AND "
                                                    "idx < ?2 ORDER BY idx"));
  lines_st->Bind(1, first);
  lines_st->Bind(2, first + static_cast<int64_t>(kChunkRecords));
  std::vector<std::string> lines;
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, lines_st->Step());
    if (!row) break;
    lines.push_back(lines_st->Text(1));
  }
  CUSTOS_ASSIGN_OR_RETURN(auto payload_st, db.Prepare("SELECT idx, subject, salt, payload FROM audit_payloads WHERE "
                                                      "idx >= ?1 AND idx < ?2 ORDER BY idx"));
  payload_st->Bind(1, first);
  payload_st->Bind(2, first + static_cast<int64_t>(lines.size()));
  std::vector<StoredPayload> payloads;
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, payload_st->Step());
    if (!row) break;
    auto subject = HashFromHex(payload_st->Text(1));
    if (!subject.ok()) return subject.status().WithContext("audit payload " + std::to_string(payload_st->Int(0)));
    payloads.push_back({.index = static_cast<uint64_t>(payload_st->Int(0)),
                        .subject_hash = std::string(reinterpret_cast<const char*>(subject->data()), 32),
                        .salt = payload_st->Blob(2),
                        .payload = payload_st->Text(3)});
  }
  *moved += static_cast<int64_t>(lines.size());
  return records.Write(static_cast<uint64_t>(first), lines, payloads);
}

// Stores written before chunks kept a row per record (audit_records) and per
// payload (audit_payloads) and every tree level above the leaves. They are
// converted once, in one transaction, when the log is opened.
Status MigrateRowPerRecord(store::Db& db) {
  CUSTOS_ASSIGN_OR_RETURN(bool old_layout, HasTable(db, "audit_records"));
  if (!old_layout) return Status::Ok();
  CUSTOS_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto run = [&]() -> Result<int64_t> {
    CUSTOS_ASSIGN_OR_RETURN(auto records, RecordStore::Open(db));
    CUSTOS_ASSIGN_OR_RETURN(auto range, db.Prepare("SELECT coalesce(max(idx), -1) FROM audit_records"));
    CUSTOS_ASSIGN_OR_RETURN(bool row, range->Step());
    const int64_t last = row ? range->Int(0) : -1;
    range.reset();  // a pending statement would keep the tables from being dropped
    int64_t moved = 0;
    for (int64_t first = 0; first <= last; first += static_cast<int64_t>(kChunkRecords)) {
      CUSTOS_RETURN_IF_ERROR(MigrateBlock(db, *records, first, &moved));
    }
    CUSTOS_RETURN_IF_ERROR(db.Exec("DELETE FROM audit_nodes WHERE level < 8"));
    CUSTOS_RETURN_IF_ERROR(db.Exec("DROP TABLE audit_payloads"));
    CUSTOS_RETURN_IF_ERROR(db.Exec("DROP TABLE audit_records"));
    CUSTOS_RETURN_IF_ERROR(db.Exec("COMMIT"));
    return moved;
  };
  auto moved = run();
  if (!moved.ok()) {
    (void)db.Exec("ROLLBACK");
    return moved.status().WithContext("converting the audit log to chunks");
  }
  log::Info("audit", "converted the audit log from a row per record to chunks",
            {{"records", std::to_string(*moved)}});
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Open(store::Db& db, SignerKey key, AuditLogOptions options,
                                                Clock& clock) {
  std::unique_ptr<AuditLog> log(new AuditLog(db, std::move(key), std::move(options), clock));
  CUSTOS_RETURN_IF_ERROR(log->Init().WithContext("opening the audit log"));
  return log;
}

Status AuditLog::Init() {
  CUSTOS_RETURN_IF_ERROR(db_.Exec(kSchema));
  CUSTOS_RETURN_IF_ERROR(db_.Exec(kRecordStoreSchema));
  CUSTOS_RETURN_IF_ERROR(MigrateRowPerRecord(db_));
  // A log has one origin and one key for life (key rotation is a later format).
  auto origin = GetMeta(db_, "origin");
  if (origin.ok() && *origin != options_.origin) {
    return FailedPrecondition("the audit log's origin is '" + *origin + "', not '" + options_.origin + "'");
  }
  auto vkey = GetMeta(db_, "vkey");
  bool rotate = false;
  if (vkey.ok() && *vkey != key_.verifier().ToString()) {
    if (!options_.previous_key || options_.previous_key->verifier().ToString() != *vkey) {
      return FailedPrecondition("the audit log is signed with key " + *vkey +
                                "; the configured signing key differs. To rotate, set [audit] previous_key "
                                "to the key file of " + *vkey);
    }
    rotate = true;
  }
  CUSTOS_RETURN_IF_ERROR(SetMeta(db_, "origin", options_.origin));
  if (!vkey.ok()) CUSTOS_RETURN_IF_ERROR(SetMeta(db_, "vkey", key_.verifier().ToString()));
  CUSTOS_RETURN_IF_ERROR(SetMeta(db_, "heartbeat_seconds", std::to_string(options_.heartbeat_nanos / kNanosPerSecond)));
  CUSTOS_ASSIGN_OR_RETURN(records_, RecordStore::Open(db_));
  CUSTOS_ASSIGN_OR_RETURN(insert_checkpoint_, db_.Prepare("INSERT INTO audit_checkpoints VALUES(?1, ?2, ?3)"));
  CUSTOS_ASSIGN_OR_RETURN(nodes_, SqliteNodeStore::Open(db_, *records_));
  CUSTOS_RETURN_IF_ERROR(Reload());
  if (rotate) CUSTOS_RETURN_IF_ERROR(RotateKey());
  return Status::Ok();
}

Status AuditLog::RotateKey() {
  SignerKey new_key = key_;
  key_ = *options_.previous_key;  // the old key signs the record that introduces the new one
  const std::string old_vkey = key_.verifier().ToString(), new_vkey = new_key.verifier().ToString();
  CUSTOS_RETURN_IF_ERROR(Append({{.kind = "key", .actor = "collector", .action = "rotate", .object = options_.origin,
                                  .outcome = "ok", .details = {{"new_vkey", new_vkey}, {"old_vkey", old_vkey}}}}));
  {
    std::lock_guard<std::mutex> lock(mu_);
    CUSTOS_RETURN_IF_ERROR(CheckpointLocked());
    key_ = std::move(new_key);
  }
  CUSTOS_RETURN_IF_ERROR(SetMeta(db_, "vkey", new_vkey));
  log::Info("audit", "signing key rotated", {{"old", old_vkey}, {"new", new_vkey}});
  return Status::Ok();
}


Status AuditLog::Reload() {
  std::lock_guard<std::mutex> lock(mu_);
  return ReloadLocked();
}

Status AuditLog::ReloadLocked() {
  records_->ForgetCache();  // the node store reads through it too
  CUSTOS_ASSIGN_OR_RETURN(uint64_t size, records_->Size());
  if (size == 0) {
    prev_ = GenesisPrev();
  } else {
    CUSTOS_ASSIGN_OR_RETURN(std::string last, records_->Line(size - 1));
    prev_ = HexEncode(LeafHash(last));
  }
  CUSTOS_ASSIGN_OR_RETURN(MerkleTree tree, MerkleTree::Open(*nodes_, size));
  tree_ = std::make_unique<MerkleTree>(std::move(tree));
  CUSTOS_ASSIGN_OR_RETURN(auto cp, db_.Prepare("SELECT max(size) FROM audit_checkpoints"));
  CUSTOS_ASSIGN_OR_RETURN(bool cp_row, cp->Step());
  checkpointed_size_ = cp_row ? static_cast<uint64_t>(cp->Int(0)) : 0;
  return Status::Ok();
}

uint64_t AuditLog::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return tree_->size();
}

Status AuditLog::Append(const std::vector<AuditEntry>& entries) {
  std::lock_guard<std::mutex> lock(mu_);
  CUSTOS_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  Status s = AppendLocked(entries);
  if (s.ok()) s = db_.Exec("COMMIT");
  if (!s.ok()) {
    (void)db_.Exec("ROLLBACK");
    Status r = ReloadLocked();
    if (!r.ok()) log::Error("audit", "reload after a failed append failed", {{"error", r.ToString()}});
  }
  return s;
}

Result<uint64_t> AuditLog::Erase(const std::string& subject, const std::string& actor, const EraseAlso& also) {
  std::lock_guard<std::mutex> lock(mu_);
  // Freed pages are zeroed, so the erased payloads and salts do not linger
  // in the file; the WAL is truncated afterwards for the same reason.
  CUSTOS_RETURN_IF_ERROR(db_.Exec("PRAGMA secure_delete = ON"));
  CUSTOS_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto run = [&]() -> Result<uint64_t> {
    const Hash subject_hash = Sha256({AsBytes(subject)});
    CUSTOS_ASSIGN_OR_RETURN(std::vector<uint64_t> erased,
                            records_->ErasePayloads({reinterpret_cast<const char*>(subject_hash.data()), 32}));
    std::sort(erased.begin(), erased.end());
    std::string indexes;
    for (uint64_t i : erased) indexes += (indexes.empty() ? "" : ",") + std::to_string(i);
    const uint64_t n = erased.size();
    std::map<std::string, std::string> details = {{"count", std::to_string(n)}, {"indexes", indexes}};
    if (also) {
      CUSTOS_ASSIGN_OR_RETURN(auto more, also());
      details.merge(more);
    }
    // The tombstone names records, never the subject.
    CUSTOS_RETURN_IF_ERROR(AppendLocked({{.kind = "erasure", .actor = actor, .action = "erase",
                                          .object = "personal_payloads", .outcome = "ok",
                                          .details = std::move(details)}}));
    CUSTOS_RETURN_IF_ERROR(db_.Exec("COMMIT"));
    return n;
  };
  auto n = run();
  if (!n.ok()) {
    (void)db_.Exec("ROLLBACK");
    Status r = ReloadLocked();
    if (!r.ok()) log::Error("audit", "reload after a failed erasure failed", {{"error", r.ToString()}});
  }
  (void)db_.Exec("PRAGMA secure_delete = OFF");
  if (n.ok()) {
    // Busy while a reader holds an old snapshot; the pages are then reused later.
    Status t = db_.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    if (!t.ok()) log::Warn("audit", "could not truncate the WAL after an erasure", {{"error", t.ToString()}});
  }
  return n;
}

Status AuditLog::AppendInTransaction(const std::vector<AuditEntry>& entries) {
  std::lock_guard<std::mutex> lock(mu_);
  return AppendLocked(entries);
}

Status AuditLog::AppendLocked(const std::vector<AuditEntry>& entries) {
  return AppendRecords(entries, {.tree = *tree_, .prev = prev_, .records = *records_}, clock_);
}

Status AuditLog::Tick(bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = clock_.MonotonicNanos();
  bool uncovered = tree_->size() > checkpointed_size_;
  bool due = last_checkpoint_nanos_ == 0 || (uncovered && now - last_checkpoint_nanos_ >= options_.checkpoint_interval_nanos) ||
             now - last_checkpoint_nanos_ >= options_.heartbeat_nanos || (force && uncovered);
  if (!due) return Status::Ok();
  return CheckpointLocked();
}

Status AuditLog::CheckpointLocked() {
  Checkpoint cp{options_.origin, tree_->size(), tree_->Root()};
  CUSTOS_ASSIGN_OR_RETURN(std::string text, FormatCheckpoint(cp));
  CUSTOS_ASSIGN_OR_RETURN(std::string note, SignNote(text, key_));
  insert_checkpoint_->Bind(1, static_cast<int64_t>(cp.size));
  insert_checkpoint_->Bind(2, clock_.NowUnixNanos());
  insert_checkpoint_->Bind(3, note);
  CUSTOS_RETURN_IF_ERROR(insert_checkpoint_->Exec());
  checkpointed_size_ = cp.size;
  last_checkpoint_nanos_ = clock_.MonotonicNanos();
  return Status::Ok();
}

// Consistency proofs between consecutive checkpoints, from the stored tree.
Status AddConsistencyProofs(store::Db& db, RecordStore& records, AuditData* d) {
  if (d->checkpoints.empty()) return Status::Ok();
  CUSTOS_ASSIGN_OR_RETURN(auto nodes, SqliteNodeStore::Open(db, records));
  uint64_t newest = 0;
  for (const auto& cp : d->checkpoints) newest = std::max(newest, cp.size);
  if (newest > d->record_lines.size()) return Status::Ok();  // the verifier reports the truncation
  auto tree = MerkleTree::Open(*nodes, newest);
  if (!tree.ok()) return tree.status().WithContext("reading the audit tree");
  std::vector<uint64_t> sizes;
  for (const auto& cp : d->checkpoints) {
    if (sizes.empty() || cp.size != sizes.back()) sizes.push_back(cp.size);
  }
  for (size_t i = 1; i < sizes.size(); ++i) {
    if (sizes[i] < sizes[i - 1]) continue;  // a rollback; the verifier names it
    CUSTOS_ASSIGN_OR_RETURN(Proof p, tree->ConsistencyProof(sizes[i - 1], sizes[i]));
    d->consistency.push_back({sizes[i - 1], sizes[i], std::move(p)});
  }
  return Status::Ok();
}

Result<AuditData> LoadAuditData(store::Db& db) {
  AuditData d;
  CUSTOS_ASSIGN_OR_RETURN(d.origin, GetMeta(db, "origin"));
  CUSTOS_ASSIGN_OR_RETURN(std::string hb, GetMeta(db, "heartbeat_seconds"));
  d.heartbeat_seconds = std::stoll(hb);
  CUSTOS_ASSIGN_OR_RETURN(bool old_layout, HasTable(db, "audit_records"));
  CUSTOS_ASSIGN_OR_RETURN(bool chunks, HasTable(db, "audit_chunks"));
  if (old_layout || !chunks) {
    return FailedPrecondition("this store's audit log is in the row-per-record layout of an older collector; "
                              "start the collector once to convert it");
  }
  CUSTOS_ASSIGN_OR_RETURN(auto records, RecordStore::Open(db));
  CUSTOS_RETURN_IF_ERROR(records->ForEachLine([&](std::string&& line) {
    d.record_lines.push_back(std::move(line));
    return Status::Ok();
  }));
  CUSTOS_RETURN_IF_ERROR(records->ForEachPayload([&](StoredPayload&& p) {
    d.payloads.push_back({p.index, HexEncode(AsBytes(p.salt)), std::move(p.payload)});
    return Status::Ok();
  }));
  CUSTOS_ASSIGN_OR_RETURN(auto cps, db.Prepare("SELECT size, time, note FROM audit_checkpoints ORDER BY time, rowid"));
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, cps->Step());
    if (!row) break;
    d.checkpoints.push_back({static_cast<uint64_t>(cps->Int(0)), cps->Int(1), cps->Text(2)});
  }
  CUSTOS_RETURN_IF_ERROR(AddConsistencyProofs(db, *records, &d));
  return d;
}

}  // namespace custos::audit
