#include "collector/audit/sqlite_node_store.h"

#include <cstring>

namespace custos::audit {

Result<std::unique_ptr<SqliteNodeStore>> SqliteNodeStore::Open(store::Db& db) {
  std::unique_ptr<SqliteNodeStore> s(new SqliteNodeStore());
  CUSTOS_ASSIGN_OR_RETURN(s->get_, db.Prepare("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2"));
  CUSTOS_ASSIGN_OR_RETURN(s->get_leaf_, db.Prepare("SELECT line FROM audit_records WHERE idx = ?1"));
  CUSTOS_ASSIGN_OR_RETURN(s->put_, db.Prepare("INSERT OR REPLACE INTO audit_nodes VALUES(?1, ?2, ?3)"));
  return s;
}

Result<Hash> SqliteNodeStore::Get(uint32_t level, uint64_t index) {
  if (level == 0) {
    // Leaf hashes are not stored twice: a leaf is the hash of its record line.
    get_leaf_->Bind(1, static_cast<int64_t>(index));
    auto row = get_leaf_->Step();
    bool found = row.ok() && *row;
    std::string line = found ? get_leaf_->Text(0) : std::string();
    get_leaf_->Reset();
    if (!row.ok()) return row.status();
    if (!found) return NotFound("audit record " + std::to_string(index) + " missing (leaf of the audit tree)");
    return LeafHash(line);
  }
  get_->Bind(1, int64_t{level});
  get_->Bind(2, static_cast<int64_t>(index));
  auto row = get_->Step();
  Hash h{};
  bool found = row.ok() && *row;
  std::string blob = found ? get_->Blob(0) : std::string();
  get_->Reset();
  if (!row.ok()) return row.status();
  if (!found) return NotFound("audit tree node (" + std::to_string(level) + ", " + std::to_string(index) + ") missing");
  if (blob.size() != h.size()) {
    return DataLoss("audit tree node (" + std::to_string(level) + ", " + std::to_string(index) + ") is not 32 bytes");
  }
  std::memcpy(h.data(), blob.data(), h.size());
  return h;
}

Status SqliteNodeStore::Put(uint32_t level, uint64_t index, const Hash& hash) {
  if (level == 0) return Status::Ok();  // the record row is the leaf (see Get)
  put_->Bind(1, int64_t{level});
  put_->Bind(2, static_cast<int64_t>(index));
  put_->BindBlob(3, std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
  return put_->Exec();
}

}  // namespace custos::audit
