// NodeStore in the collector's SQLite file (table audit_nodes, created by
// AuditLog). Level 0 is not stored: a leaf hash is recomputed from its row in
// audit_records, which halves the rows an append writes. Shares the
// connection (and so the transaction) of the AuditLog that owns it.
// Thread-compatible: used under the AuditLog's lock.
#pragma once

#include <memory>

#include "collector/audit/node_store.h"
#include "collector/store/sqlite_db.h"

namespace custos::audit {

class SqliteNodeStore final : public NodeStore {
 public:
  static Result<std::unique_ptr<SqliteNodeStore>> Open(store::Db& db);

  // NodeStore
  [[nodiscard]] Result<Hash> Get(uint32_t level, uint64_t index) override;
  [[nodiscard]] Status Put(uint32_t level, uint64_t index, const Hash& hash) override;

 private:
  SqliteNodeStore() = default;
  std::unique_ptr<store::Statement> get_;
  std::unique_ptr<store::Statement> put_;
  std::unique_ptr<store::Statement> get_leaf_;
};

}  // namespace custos::audit
