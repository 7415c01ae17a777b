// The audit export: a self-contained directory that an auditor verifies
// offline with only the log's public key (custosctl audit verify DIR --key K).
//
//   manifest.json     {"format":"custos-audit-export/v1","origin":O,"records":N,
//                      "heartbeat_seconds":H,"exported_at":T,
//                      "files":{"records.jsonl":"<sha256 hex>",...}}
//   records.jsonl     records 0..N-1, one canonical line each (record.h), byte-exact,
//                     each line ending in "\n"; N is the size of the newest checkpoint
//   payloads.jsonl    {"index":I,"salt":"<hex 32 bytes>","payload":"<text>"} for the
//                     payloads still present (erased ones are absent)
//   checkpoints.jsonl {"size":S,"time":T,"note":"<signed note text>"}, ascending by
//                     time; every note is a C2SP signed checkpoint (note.h)
//   consistency.jsonl {"from":S1,"to":S2,"proof":["<hex>",...]} between each pair of
//                     consecutive checkpoints
//   selected.jsonl    {"index":I,"size":S,"proof":["<hex>",...]}: inclusion proofs of
//                     the records the export was filtered for (--since/--until/--kind)
//                     in the newest checkpoint
//   log.vkey          the log's verifier key (name+id+base64), for reference only: the
//                     auditor must get the key out of band, never trust this copy
//   records.csv       index,time,kind,actor,action,object,outcome for spreadsheets
//
// Erasure: record kind "erasure" with details {"indexes": "3,17,42", "subject": "<hex
// SHA-256 of the subject>"} is the tombstone that makes an absent payload legitimate.
// Key rotation is not part of format v1.
#pragma once

namespace custos::audit {

inline constexpr const char* kExportFormat = "custos-audit-export/v1";
inline constexpr const char* kManifestFile = "manifest.json";
inline constexpr const char* kRecordsFile = "records.jsonl";
inline constexpr const char* kPayloadsFile = "payloads.jsonl";
inline constexpr const char* kCheckpointsFile = "checkpoints.jsonl";
inline constexpr const char* kConsistencyFile = "consistency.jsonl";
inline constexpr const char* kSelectedFile = "selected.jsonl";
inline constexpr const char* kVkeyFile = "log.vkey";
inline constexpr const char* kCsvFile = "records.csv";

}  // namespace custos::audit
