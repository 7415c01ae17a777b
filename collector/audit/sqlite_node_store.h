// NodeStore in the collector's SQLite file (table audit_nodes, created by
// AuditLog). Only levels >= 8 are stored, one row per 128 records: a node
// below is recomputed from the (at most 128) records under it, read from
// their chunks (record_store.h), as tlog tiles of height 8 do. A proof then
// reads at most 255 records, all in one 256-record block. Shares the
// connection (and so the transaction) of the AuditLog that owns it, and reads
// records through the owner's RecordStore (which must outlive it).
// Thread-compatible: used under the AuditLog's lock.
#pragma once

#include <memory>

#include "collector/audit/node_store.h"
#include "collector/audit/record_store.h"
#include "collector/store/sqlite_db.h"

namespace custos::audit {

class SqliteNodeStore final : public NodeStore {
 public:
  static Result<std::unique_ptr<SqliteNodeStore>> Open(store::Db& db, RecordStore& records);

  // NodeStore
  [[nodiscard]] Result<Hash> Get(uint32_t level, uint64_t index) override;
  [[nodiscard]] Status Put(uint32_t level, uint64_t index, const Hash& hash) override;

 private:
  explicit SqliteNodeStore(RecordStore& records) : records_(records) {}
  std::unique_ptr<store::Statement> get_;
  std::unique_ptr<store::Statement> put_;
  RecordStore& records_;
};

}  // namespace custos::audit
