// The collector's tamper-evident audit log (DESIGN.md "Audit log").
//
// Every access, verdict, alert, enrolment, gap, refusal and the collector's
// own start and stop is appended as a canonical JSON line (record.h) that
// carries the hash of the previous line (a hash chain) and is a leaf of an
// RFC 6962 Merkle tree (merkle_tree.h, nodes in table audit_nodes). Records
// and their payloads are stored in compressed chunks (record_store.h). A signed
// C2SP checkpoint (note.h) commits to the tree size and root at most once a
// second while records arrive, and as a heartbeat while idle, so a stalled or
// truncated log shows as a gap.
//
// The log lives in the collector's SQLite file and shares the store's
// connection: AppendInTransaction() runs inside the store's batch transaction,
// so an access event and its audit record commit together or not at all.
// After a rolled-back transaction, call Reload().
//
//   CUSTOS_ASSIGN_OR_RETURN(auto log, AuditLog::Open(db, key, {.origin = "custos.audit/c1"}));
//   CUSTOS_RETURN_IF_ERROR(log->Append({entry}));   // its own transaction
//   CUSTOS_RETURN_IF_ERROR(log->Tick());            // checkpoint when due
//
// Thread-safe (one lock); the Db must only be used by the thread holding it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "collector/audit/merkle_tree.h"
#include "collector/audit/note_key.h"
#include "collector/audit/record.h"
#include "collector/audit/record_store.h"
#include "collector/audit/sqlite_node_store.h"
#include "collector/audit/verify.h"
#include "collector/store/sqlite_db.h"
#include "common/clock.h"

namespace custos::audit {

struct AuditLogOptions {
  std::string origin = "custos.audit/collector";
  // Key rotation: when the log was signed so far with this key and the key
  // passed to Open() is a new one, Open() appends a "key rotate" record naming
  // the new verifier key, signs a checkpoint covering it with this old key,
  // and signs with the new key from then on. Verifiers follow that chain.
  std::optional<SignerKey> previous_key;
  int64_t checkpoint_interval_nanos = kNanosPerSecond;
  int64_t heartbeat_nanos = 60 * kNanosPerSecond;
};

struct ExportFilter {
  int64_t since_unix_nanos = 0;
  int64_t until_unix_nanos = INT64_MAX;
  std::string kind;  // empty = all
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> Open(store::Db& db, SignerKey key, AuditLogOptions options,
                                               Clock& clock = Clock::Real());

  // Appends in a transaction of its own; durable on return.
  Status Append(const std::vector<AuditEntry>& entries);
  // Appends inside the caller's open transaction on the same connection.
  Status AppendInTransaction(const std::vector<AuditEntry>& entries);
  // Erases the personal payloads of `subject` (their salts too, so the
  // commitments cannot be confirmed by guessing) and appends a tombstone
  // record listing their indexes, in one transaction of its own. Returns the
  // number of payloads erased (a tombstone is written even for 0, so that the
  // request itself is on record).
  // `also`, when given, runs inside the same transaction (the store's other
  // copies of the subject's data); the details it returns join the
  // tombstone's, and its failure rolls the whole erasure back.
  using EraseAlso = std::function<Result<std::map<std::string, std::string>>()>;
  Result<uint64_t> Erase(const std::string& subject, const std::string& actor, const EraseAlso& also = nullptr);
  // Re-reads size, chain head and tree frontier from the database (after a rollback).
  Status Reload();
  // Signs a checkpoint when records arrived and the interval passed, or when
  // the heartbeat is due. `force` signs one now if any record is uncovered.
  Status Tick(bool force = false);

  uint64_t size();
  const VerifierKey& verifier() const { return key_.verifier(); }
  const std::string& origin() const { return options_.origin; }

 private:
  AuditLog(store::Db& db, SignerKey key, AuditLogOptions options, Clock& clock)
      : db_(db), key_(std::move(key)), options_(std::move(options)), clock_(clock) {}
  Status Init();
  Status RotateKey();
  Status ReloadLocked();
  Status AppendLocked(const std::vector<AuditEntry>& entries);
  Status CheckpointLocked();

  store::Db& db_;
  SignerKey key_;  // replaced once, by a rotation in Init()
  const AuditLogOptions options_;
  Clock& clock_;

  std::mutex mu_;
  std::unique_ptr<RecordStore> records_;        // guarded by mu_; nodes_ reads through it
  std::unique_ptr<SqliteNodeStore> nodes_;      // guarded by mu_
  std::unique_ptr<MerkleTree> tree_;            // guarded by mu_
  std::string prev_;                            // hex leaf hash of the last record, guarded by mu_
  uint64_t checkpointed_size_ = 0;              // guarded by mu_
  int64_t last_checkpoint_nanos_ = 0;           // monotonic, guarded by mu_
  std::unique_ptr<store::Statement> insert_checkpoint_;
};

// Reads everything a verifier needs from the audit tables of a collector
// database (a read-only connection is enough).
Result<AuditData> LoadAuditData(store::Db& db);

// Writes an export directory (export_format.h) of everything up to the newest
// checkpoint, with inclusion proofs for the records `filter` selects.
// `progress(done, total)` is called now and then for long exports.
// The log's origin, verifier key and heartbeat come from the audit_meta table.
Status ExportAudit(store::Db& db, const std::string& dir, const ExportFilter& filter,
                   const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

}  // namespace custos::audit
