#include "collector/audit/sqlite_node_store.h"

#include <cstring>

namespace custos::audit {
namespace {

constexpr uint32_t kFirstStoredLevel = 8;

}  // namespace

Result<std::unique_ptr<SqliteNodeStore>> SqliteNodeStore::Open(store::Db& db, RecordStore& records) {
  std::unique_ptr<SqliteNodeStore> s(new SqliteNodeStore(records));
  CUSTOS_ASSIGN_OR_RETURN(s->get_, db.Prepare("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2"));
  CUSTOS_ASSIGN_OR_RETURN(s->put_, db.Prepare("INSERT OR REPLACE INTO audit_nodes VALUES(?1, ?2, ?3)"));
  return s;
}

Result<Hash> SqliteNodeStore::Get(uint32_t level, uint64_t index) {
  if (level < kFirstStoredLevel) {
    // The perfect subtree over leaves [index << level, (index + 1) << level),
    // folded pairwise from the record lines.
    std::vector<Hash> hashes;
    const uint64_t begin = index << level, width = uint64_t{1} << level;
    for (uint64_t i = begin; i < begin + width; ++i) {
      auto line = records_.Line(i);
      if (!line.ok()) return line.status().WithContext("leaf of the audit tree");
      hashes.push_back(LeafHash(*line));
    }
    for (size_t n = hashes.size(); n > 1; n /= 2) {
      for (size_t i = 0; i < n / 2; ++i) hashes[i] = NodeHash(hashes[2 * i], hashes[2 * i + 1]);
    }
    return hashes[0];
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
  if (level < kFirstStoredLevel) return Status::Ok();  // recomputed from the records (see Get)
  put_->Bind(1, int64_t{level});
  put_->Bind(2, static_cast<int64_t>(index));
  put_->BindBlob(3, std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
  return put_->Exec();
}

}  // namespace custos::audit
