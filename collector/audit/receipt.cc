#include "collector/audit/receipt.h"

#include "collector/audit/checkpoint.h"
#include "collector/audit/merkle_tree.h"
#include "collector/audit/note.h"
#include "collector/audit/record.h"
#include "collector/audit/record_store.h"
#include "collector/audit/sqlite_node_store.h"

namespace custos::audit {

Result<nlohmann::json> MakeReceipt(store::Db& db, uint64_t index) {
  CUSTOS_ASSIGN_OR_RETURN(auto records, RecordStore::Open(db));
  auto found = records->Line(index);
  if (found.status().code() == StatusCode::kNotFound) {
    return NotFound("audit record " + std::to_string(index) + " does not exist");
  }
  CUSTOS_ASSIGN_OR_RETURN(std::string line, std::move(found));
  CUSTOS_ASSIGN_OR_RETURN(auto cp, db.Prepare("SELECT size, note FROM audit_checkpoints WHERE size > ?1 "
                                              "ORDER BY size DESC, time DESC LIMIT 1"));
  cp->Bind(1, static_cast<int64_t>(index));
  CUSTOS_ASSIGN_OR_RETURN(bool covered, cp->Step());
  if (!covered) {
    return Unavailable("no checkpoint covers record " + std::to_string(index) +
                       " yet (the collector signs one within a second); try again");
  }
  uint64_t size = static_cast<uint64_t>(cp->Int(0));
  std::string note = cp->Text(1);
  CUSTOS_ASSIGN_OR_RETURN(auto nodes, SqliteNodeStore::Open(db, *records));
  CUSTOS_ASSIGN_OR_RETURN(MerkleTree tree, MerkleTree::Open(*nodes, size));
  CUSTOS_ASSIGN_OR_RETURN(Proof proof, tree.InclusionProof(index, size));
  nlohmann::json hashes = nlohmann::json::array();
  for (const Hash& h : proof) hashes.push_back(HexEncode(h));
  return nlohmann::json{{"index", index}, {"record", line}, {"size", size}, {"proof", hashes}, {"checkpoint", note}};
}

Status VerifyReceipt(const nlohmann::json& r, std::span<const VerifierKey> keys) {
  if (!r.is_object() || !r.contains("index") || !r.contains("record") || !r.contains("size") ||
      !r.contains("proof") || !r.contains("checkpoint") || !r["index"].is_number_unsigned() ||
      !r["size"].is_number_unsigned() || !r["record"].is_string() || !r["checkpoint"].is_string() ||
      !r["proof"].is_array()) {
    return InvalidArgument("not a receipt: needs index, record, size, proof and checkpoint");
  }
  auto verified = VerifyNote(r["checkpoint"].get<std::string>(), keys);
  if (!verified.ok()) return verified.status().WithContext("receipt checkpoint");
  CUSTOS_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpoint(verified->text));
  uint64_t index = r["index"].get<uint64_t>();
  if (cp.size != r["size"].get<uint64_t>()) return InvalidArgument("receipt size differs from its checkpoint's");
  const std::string line = r["record"].get<std::string>();
  auto record = ParseRecord(line);
  if (!record.ok()) return record.status().WithContext("receipt record");
  if (record->index != index) return InvalidArgument("receipt record has index " + std::to_string(record->index));
  Proof proof;
  for (const auto& h : r["proof"]) {
    if (!h.is_string()) return InvalidArgument("receipt proof holds a non-string");
    CUSTOS_ASSIGN_OR_RETURN(Hash hash, HashFromHex(h.get<std::string>()));
    proof.push_back(hash);
  }
  return VerifyInclusion(LeafHash(line), index, cp.size, proof, cp.root).WithContext("receipt inclusion proof");
}

}  // namespace custos::audit
