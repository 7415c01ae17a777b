#include "collector/audit/audit_log.h"

#include <sys/random.h>

#include "collector/audit/checkpoint.h"
#include "collector/audit/note.h"
#include "common/log.h"

namespace custos::audit {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_records(idx INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL,
  line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_payloads(idx INTEGER PRIMARY KEY, subject TEXT NOT NULL, salt BLOB NOT NULL,
  payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_payloads_subject ON audit_payloads(subject);
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

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Open(store::Db& db, SignerKey key, AuditLogOptions options,
                                                Clock& clock) {
  std::unique_ptr<AuditLog> log(new AuditLog(db, std::move(key), std::move(options), clock));
  CUSTOS_RETURN_IF_ERROR(log->Init().WithContext("opening the audit log"));
  return log;
}

Status AuditLog::Init() {
  CUSTOS_RETURN_IF_ERROR(db_.Exec(kSchema));
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
  CUSTOS_ASSIGN_OR_RETURN(insert_record_, db_.Prepare("INSERT INTO audit_records VALUES(?1, ?2, ?3, ?4)"));
  CUSTOS_ASSIGN_OR_RETURN(insert_payload_, db_.Prepare("INSERT INTO audit_payloads VALUES(?1, ?2, ?3, ?4)"));
  CUSTOS_ASSIGN_OR_RETURN(insert_checkpoint_, db_.Prepare("INSERT INTO audit_checkpoints VALUES(?1, ?2, ?3)"));
  CUSTOS_ASSIGN_OR_RETURN(nodes_, SqliteNodeStore::Open(db_));
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
  CUSTOS_ASSIGN_OR_RETURN(auto last, db_.Prepare("SELECT idx, line FROM audit_records ORDER BY idx DESC LIMIT 1"));
  CUSTOS_ASSIGN_OR_RETURN(bool row, last->Step());
  uint64_t size = row ? static_cast<uint64_t>(last->Int(0)) + 1 : 0;
  prev_ = row ? HexEncode(LeafHash(last->Text(1))) : GenesisPrev();
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

Result<uint64_t> AuditLog::Erase(const std::string& subject, const std::string& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string subject_hash = HexEncode(Sha256({AsBytes(subject)}));
  CUSTOS_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto run = [&]() -> Result<uint64_t> {
    CUSTOS_ASSIGN_OR_RETURN(auto find, db_.Prepare("SELECT idx FROM audit_payloads WHERE subject = ?1 ORDER BY idx"));
    find->Bind(1, subject_hash);
    std::string indexes;
    uint64_t n = 0;
    while (true) {
      CUSTOS_ASSIGN_OR_RETURN(bool row, find->Step());
      if (!row) break;
      indexes += (n++ == 0 ? "" : ",") + std::to_string(find->Int(0));
    }
    CUSTOS_ASSIGN_OR_RETURN(auto del, db_.Prepare("DELETE FROM audit_payloads WHERE subject = ?1"));
    del->Bind(1, subject_hash);
    CUSTOS_RETURN_IF_ERROR(del->Exec());
    // The tombstone names records, never the subject.
    CUSTOS_RETURN_IF_ERROR(AppendLocked({{.kind = "erasure", .actor = actor, .action = "erase",
                                          .object = "personal_payloads", .outcome = "ok",
                                          .details = {{"count", std::to_string(n)}, {"indexes", indexes}}}}));
    CUSTOS_RETURN_IF_ERROR(db_.Exec("COMMIT"));
    return n;
  };
  auto n = run();
  if (!n.ok()) {
    (void)db_.Exec("ROLLBACK");
    Status r = ReloadLocked();
    if (!r.ok()) log::Error("audit", "reload after a failed erasure failed", {{"error", r.ToString()}});
  }
  return n;
}

Status AuditLog::AppendInTransaction(const std::vector<AuditEntry>& entries) {
  std::lock_guard<std::mutex> lock(mu_);
  return AppendLocked(entries);
}

Status AuditLog::AppendLocked(const std::vector<AuditEntry>& entries) {
  // One getrandom() for every salt of the batch, not one per record.
  size_t personal = 0;
  for (const AuditEntry& e : entries) personal += e.personal ? 1 : 0;
  std::vector<uint8_t> salts(personal * 32);
  for (size_t done = 0; done < salts.size();) {
    ssize_t n = getrandom(salts.data() + done, salts.size() - done, 0);
    if (n <= 0) return Internal("getrandom failed for audit payload salts");
    done += static_cast<size_t>(n);
  }
  size_t next_salt = 0;
  for (const AuditEntry& e : entries) {
    AuditRecord r;
    r.index = tree_->size();
    r.time_unix_nanos = e.time_unix_nanos != 0 ? e.time_unix_nanos : clock_.NowUnixNanos();
    r.kind = e.kind;
    r.actor = e.actor;
    r.action = e.action;
    r.object = e.object;
    r.outcome = e.outcome;
    r.details = e.details;
    r.prev = prev_;
    ByteView salt;
    if (e.personal) {
      salt = ByteView(salts.data() + 32 * next_salt++, 32);
      r.payload_commitment = PayloadCommitment(salt, *e.personal);
    }
    const std::string line = EncodeRecord(r);
    insert_record_->Bind(1, static_cast<int64_t>(r.index));
    insert_record_->Bind(2, r.time_unix_nanos);
    insert_record_->Bind(3, r.kind);
    insert_record_->Bind(4, line);
    CUSTOS_RETURN_IF_ERROR(insert_record_->Exec());
    if (e.personal) {
      const std::string subject_hash = HexEncode(Sha256({AsBytes(e.subject)}));
      insert_payload_->Bind(1, static_cast<int64_t>(r.index));
      insert_payload_->Bind(2, subject_hash);
      insert_payload_->BindBlob(3, std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()));
      insert_payload_->Bind(4, *e.personal);
      CUSTOS_RETURN_IF_ERROR(insert_payload_->Exec());
    }
    Hash leaf = LeafHash(line);
    CUSTOS_RETURN_IF_ERROR(tree_->Append(leaf));
    prev_ = HexEncode(leaf);
  }
  return Status::Ok();
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
Status AddConsistencyProofs(store::Db& db, AuditData* d) {
  if (d->checkpoints.empty()) return Status::Ok();
  CUSTOS_ASSIGN_OR_RETURN(auto nodes, SqliteNodeStore::Open(db));
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
  CUSTOS_ASSIGN_OR_RETURN(auto records, db.Prepare("SELECT line FROM audit_records ORDER BY idx"));
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, records->Step());
    if (!row) break;
    d.record_lines.push_back(records->Text(0));
  }
  CUSTOS_ASSIGN_OR_RETURN(auto payloads, db.Prepare("SELECT idx, salt, payload FROM audit_payloads ORDER BY idx"));
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, payloads->Step());
    if (!row) break;
    std::string salt = payloads->Blob(1);
    d.payloads.push_back({static_cast<uint64_t>(payloads->Int(0)),
                          HexEncode(AsBytes(salt)), payloads->Text(2)});
  }
  CUSTOS_ASSIGN_OR_RETURN(auto cps, db.Prepare("SELECT size, time, note FROM audit_checkpoints ORDER BY time, rowid"));
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, cps->Step());
    if (!row) break;
    d.checkpoints.push_back({static_cast<uint64_t>(cps->Int(0)), cps->Int(1), cps->Text(2)});
  }
  CUSTOS_RETURN_IF_ERROR(AddConsistencyProofs(db, &d));
  return d;
}

}  // namespace custos::audit
