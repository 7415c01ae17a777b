// ExportAudit (audit_log.h): writes the export directory of export_format.h.
#include <nlohmann/json.hpp>

#include <fstream>

#include "collector/audit/audit_log.h"
#include "collector/audit/export_format.h"
#include "collector/audit/record.h"
#include "common/files.h"

namespace custos::audit {
namespace {

std::string ProofJson(const Proof& p) {
  nlohmann::json a = nlohmann::json::array();
  for (const Hash& h : p) a.push_back(HexEncode(h));
  return a.dump();
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Status ExportAudit(store::Db& db, const std::string& dir, const ExportFilter& filter,
                   const std::function<void(uint64_t, uint64_t)>& progress) {
  CUSTOS_ASSIGN_OR_RETURN(AuditData data, LoadAuditData(db));
  CUSTOS_RETURN_IF_ERROR(MakeDirs(dir, 0750));
  // Only what the newest checkpoint covers is exported: uncovered records
  // could not be verified (the collector checkpoints at least every second).
  uint64_t covered = 0;
  for (const auto& cp : data.checkpoints) covered = std::max(covered, cp.size);
  covered = std::min<uint64_t>(covered, data.record_lines.size());

  std::map<std::string, std::string> files;
  auto write = [&](const char* name, const std::string& content) -> Status {
    CUSTOS_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + name, content, 0640));
    files[name] = HexEncode(Sha256({AsBytes(content)}));
    return Status::Ok();
  };

  std::string records, csv = "index,time,kind,actor,action,object,outcome\n", selected;
  CUSTOS_ASSIGN_OR_RETURN(auto record_store, RecordStore::Open(db));
  CUSTOS_ASSIGN_OR_RETURN(auto nodes, SqliteNodeStore::Open(db, *record_store));
  std::unique_ptr<MerkleTree> tree;
  if (covered > 0) {
    CUSTOS_ASSIGN_OR_RETURN(MerkleTree t, MerkleTree::Open(*nodes, covered));
    tree = std::make_unique<MerkleTree>(std::move(t));
  }
  for (uint64_t i = 0; i < covered; ++i) {
    const std::string& line = data.record_lines[i];
    records += line + "\n";
    auto r = ParseRecord(line);
    if (!r.ok()) return DataLoss("audit record " + std::to_string(i) + " in the database: " + r.status().message());
    csv += std::to_string(r->index) + "," + std::to_string(r->time_unix_nanos) + "," + CsvField(r->kind) + "," +
           CsvField(r->actor) + "," + CsvField(r->action) + "," + CsvField(r->object) + "," +
           CsvField(r->outcome) + "\n";
    bool chosen = r->time_unix_nanos >= filter.since_unix_nanos && r->time_unix_nanos <= filter.until_unix_nanos &&
                  (filter.kind.empty() || filter.kind == r->kind);
    if (chosen && tree) {
      CUSTOS_ASSIGN_OR_RETURN(Proof p, tree->InclusionProof(i, covered));
      selected += "{\"index\":" + std::to_string(i) + ",\"size\":" + std::to_string(covered) +
                  ",\"proof\":" + ProofJson(p) + "}\n";
    }
    if (progress && i % 100'000 == 0) progress(i, covered);
  }
  std::string payloads;
  for (const auto& p : data.payloads) {
    if (p.index >= covered) continue;
    // A payload that is not UTF-8 is exported with U+FFFD (and then fails its
    // commitment check, visibly) rather than aborting the export.
    payloads += nlohmann::json{{"index", p.index}, {"salt", p.salt_hex}, {"payload", p.payload}}.dump(
                    -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                "\n";
  }
  std::string checkpoints;
  for (const auto& cp : data.checkpoints) {
    checkpoints += nlohmann::json{{"size", cp.size}, {"time", cp.time_unix_nanos}, {"note", cp.note}}.dump() + "\n";
  }
  std::string consistency;
  for (const auto& c : data.consistency) {
    consistency += "{\"from\":" + std::to_string(c.from) + ",\"to\":" + std::to_string(c.to) +
                   ",\"proof\":" + ProofJson(c.proof) + "}\n";
  }
  CUSTOS_RETURN_IF_ERROR(write(kRecordsFile, records));
  CUSTOS_RETURN_IF_ERROR(write(kPayloadsFile, payloads));
  CUSTOS_RETURN_IF_ERROR(write(kCheckpointsFile, checkpoints));
  CUSTOS_RETURN_IF_ERROR(write(kConsistencyFile, consistency));
  CUSTOS_RETURN_IF_ERROR(write(kSelectedFile, selected));
  CUSTOS_RETURN_IF_ERROR(write(kCsvFile, csv));
  CUSTOS_ASSIGN_OR_RETURN(auto vkey, db.Prepare("SELECT value FROM audit_meta WHERE key = 'vkey'"));
  CUSTOS_ASSIGN_OR_RETURN(bool has_vkey, vkey->Step());
  CUSTOS_RETURN_IF_ERROR(write(kVkeyFile, has_vkey ? vkey->Text(0) + "\n" : ""));
  if (progress) progress(covered, covered);

  nlohmann::json manifest = {{"format", kExportFormat},
                             {"origin", data.origin},
                             {"records", covered},
                             {"heartbeat_seconds", data.heartbeat_seconds},
                             {"files", files}};
  return WriteFileAtomic(dir + "/" + kManifestFile, manifest.dump(2) + "\n", 0640);
}

}  // namespace custos::audit
