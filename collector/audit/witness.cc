#include "collector/audit/witness.h"

#include <nlohmann/json.hpp>

#include <sstream>

#include "collector/audit/checkpoint.h"
#include "collector/audit/export_format.h"
#include "collector/audit/merkle.h"
#include "collector/audit/note.h"
#include "common/files.h"

namespace custos::audit {
namespace {

Result<std::vector<nlohmann::json>> ReadJsonLines(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return InvalidArgument(path + ":" + std::to_string(n) + ": not JSON");
    out.push_back(std::move(j));
  }
  return out;
}

std::string JsonLines(const std::vector<nlohmann::json>& rows) {
  std::string out;
  for (const auto& r : rows) out += r.dump() + "\n";
  return out;
}

}  // namespace

Result<WitnessResult> WitnessExport(const std::string& dir, const VerifierKey& log_key, const SignerKey& witness_key,
                                    const std::string& state_path, uint64_t unix_time) {
  CUSTOS_ASSIGN_OR_RETURN(std::vector<nlohmann::json> checkpoints, ReadJsonLines(dir + "/" + kCheckpointsFile));
  if (checkpoints.empty()) return InvalidArgument(dir + " holds no checkpoint");
  // The newest checkpoint by size, verified under the log's key.
  std::vector<VerifierKey> keys = {log_key};
  struct Seen {
    size_t row;
    Checkpoint cp;
  };
  std::vector<Seen> seen;
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    if (!checkpoints[i].contains("note") || !checkpoints[i]["note"].is_string()) {
      return InvalidArgument("checkpoint line " + std::to_string(i + 1) + " has no note");
    }
    auto v = VerifyNote(checkpoints[i]["note"].get<std::string>(), keys);
    if (!v.ok()) return v.status().WithContext("checkpoint line " + std::to_string(i + 1));
    CUSTOS_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpoint(v->text));
    seen.push_back({i, cp});
  }
  const Seen* newest = &seen.front();
  for (const Seen& s : seen) {
    if (s.cp.size >= newest->cp.size) newest = &s;
  }
  const std::string origin = newest->cp.origin;

  nlohmann::json state = nlohmann::json::object();
  if (auto text = ReadFile(state_path); text.ok()) {
    state = nlohmann::json::parse(*text, nullptr, false);
    if (state.is_discarded() || !state.is_object()) return DataLoss("witness state " + state_path + " is not JSON");
  } else if (text.status().code() != StatusCode::kNotFound) {
    return text.status();
  }
  WitnessResult result;
  result.new_size = newest->cp.size;
  if (state.contains(origin)) {
    uint64_t old_size = state[origin].value("size", uint64_t{0});
    CUSTOS_ASSIGN_OR_RETURN(Hash old_root, HashFromHex(state[origin].value("root", std::string())));
    result.old_size = old_size;
    if (newest->cp.size < old_size) {
      return FailedPrecondition("rollback: " + origin + " offers size " + std::to_string(newest->cp.size) +
                                " but this witness already cosigned size " + std::to_string(old_size));
    }
    if (newest->cp.size == old_size) {
      if (newest->cp.root != old_root) {
        return FailedPrecondition("fork: " + origin + " offers a different root for size " +
                                  std::to_string(old_size) + " than the one this witness cosigned");
      }
      return result;  // nothing new
    }
    // Grew: the export must prove that the old tree is a prefix of the new one,
    // through a chain of consistency proofs between its checkpoints.
    CUSTOS_ASSIGN_OR_RETURN(std::vector<nlohmann::json> proofs, ReadJsonLines(dir + "/" + kConsistencyFile));
    auto root_at = [&](uint64_t size) -> std::optional<Hash> {
      if (size == old_size) return old_root;
      for (const Seen& s : seen) {
        if (s.cp.size == size) return s.cp.root;
      }
      return std::nullopt;
    };
    uint64_t at = old_size;
    while (at < newest->cp.size) {
      bool stepped = false;
      for (const auto& p : proofs) {
        if (p.value("from", uint64_t{0}) != at || !p.contains("proof") || !p["proof"].is_array()) continue;
        uint64_t to = p.value("to", uint64_t{0});
        auto r1 = root_at(at), r2 = root_at(to);
        if (!r2 || to <= at) continue;
        Proof proof;
        for (const auto& h : p["proof"]) {
          auto hash = HashFromHex(h.is_string() ? h.get<std::string>() : "");
          if (!hash.ok()) return InvalidArgument("consistency proof " + std::to_string(at) + " -> " +
                                                 std::to_string(to) + " holds a bad hash");
          proof.push_back(*hash);
        }
        Status s = VerifyConsistency(at, to, proof, *r1, *r2);
        if (!s.ok()) {
          return FailedPrecondition("fork: " + origin + " size " + std::to_string(to) + " is not an extension of size " +
                                    std::to_string(at) + " (" + s.message() + ")");
        }
        at = to;
        stepped = true;
        break;
      }
      if (!stepped) {
        return FailedPrecondition("fork or gap: the export has no consistency proof from size " + std::to_string(at) +
                                  ", the size this witness knows, towards " + std::to_string(newest->cp.size));
      }
    }
  }

  // Cosign the newest checkpoint in place.
  CUSTOS_ASSIGN_OR_RETURN(Note note, ParseNote(checkpoints[newest->row]["note"].get<std::string>()));
  CUSTOS_ASSIGN_OR_RETURN(NoteSignature cosig, Cosign(note.text, witness_key, unix_time));
  note.signatures.push_back(cosig);
  checkpoints[newest->row]["note"] = FormatNote(note);
  std::string content = JsonLines(checkpoints);
  CUSTOS_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + kCheckpointsFile, content, 0640));
  // Keep the manifest's file hash true.
  if (auto manifest_text = ReadFile(dir + "/" + kManifestFile); manifest_text.ok()) {
    auto manifest = nlohmann::json::parse(*manifest_text, nullptr, false);
    if (!manifest.is_discarded() && manifest.contains("files")) {
      manifest["files"][kCheckpointsFile] = HexEncode(Sha256({AsBytes(content)}));
      CUSTOS_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + kManifestFile, manifest.dump(2) + "\n", 0640));
    }
  }
  state[origin] = {{"size", newest->cp.size}, {"root", HexEncode(newest->cp.root)}};
  CUSTOS_RETURN_IF_ERROR(WriteFileAtomic(state_path, state.dump(2) + "\n", 0600));
  result.cosigned = true;
  return result;
}

}  // namespace custos::audit
