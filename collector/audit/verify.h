// The offline verifier of an audit export (export_format.h): what
// `custosctl audit verify DIR --key K` runs. It trusts only the keys it is
// given, rebuilds the Merkle tree from the records and checks, in order:
//
//   1. records: canonical lines, indexes 0..N-1 in order, the prev chain;
//   2. (the tree is rebuilt over LeafHash(line));
//   3. checkpoints: signed by a log key, this origin, no fork (two roots for one
//      size), no rollback (sizes never shrink over time), each root equal to the
//      rebuilt tree's root at its size, the newest covering all N records;
//   4. heartbeats: no two consecutive checkpoints more than 2 x H apart;
//   5. consistency proofs between consecutive checkpoint sizes;
//   6. the witness quorum on the newest checkpoint;
//   7. payloads against their commitments; an absent payload needs a tombstone;
//   8. the selected records' inclusion proofs;
//   9. (VerifyExport only) the manifest's record count and file hashes.
//
// The first failure found ends verification and lands in first_error,
// phrased for an auditor (what is wrong and what it suggests):
//
//   VerifyOptions options;
//   CUSTOS_ASSIGN_OR_RETURN(VerifierKey key, ReadVerifierKeyFile(key_path));
//   options.log_keys.push_back(key);
//   CUSTOS_ASSIGN_OR_RETURN(VerifyReport report, VerifyExport(dir, options));
//   if (!report.ok()) { std::cerr << report.first_error << "\n"; return 1; }
//
// Checkpoint times (checkpoints.jsonl "time") are Unix nanoseconds, like
// record times. They are not signed: the heartbeat check catches exporters
// and logs that stalled, not a forger who also rewrites those times.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collector/audit/merkle.h"
#include "collector/audit/note_key.h"
#include "common/status.h"

namespace custos::audit {

struct VerifyOptions {
  std::vector<VerifierKey> log_keys;      // at least one: the log's key(s)
  std::vector<VerifierKey> witness_keys;  // optional
  int witness_quorum = 0;                 // cosignatures required on the newest checkpoint (0 = none)
  bool check_files_hashes = true;         // manifest "files": the SHA-256 of each file
  // Threads that parse and hash records (0: one per core, at most 8). The
  // report is the same for any number.
  unsigned threads = 0;
};

struct VerifyReport {
  uint64_t records = 0, checkpoints = 0, payloads_checked = 0, payloads_erased = 0, selected_proofs = 0;
  // Silences longer than the heartbeat allows that follow a recorded clean
  // stop of the collector (downtime, not a stall).
  uint64_t recorded_stops = 0;
  // The first problem found; empty when everything verified.
  std::string first_error;
  bool ok() const { return first_error.empty(); }
};

// The content of an export, in memory.
struct AuditData {
  std::string origin;
  int64_t heartbeat_seconds = 0;          // <= 0 disables the heartbeat check
  std::vector<std::string> record_lines;  // without the trailing "\n"

  struct Payload {
    uint64_t index = 0;
    std::string salt_hex, payload;
  };
  std::vector<Payload> payloads;

  struct CheckpointNote {
    uint64_t size = 0;  // as listed beside the note; must match the signed size
    int64_t time_unix_nanos = 0;
    std::string note;
  };
  std::vector<CheckpointNote> checkpoints;

  struct Consistency {
    uint64_t from = 0, to = 0;
    Proof proof;
  };
  std::vector<Consistency> consistency;

  struct Selected {
    uint64_t index = 0, size = 0;
    Proof proof;
  };
  std::vector<Selected> selected;
};

// Verifies an export directory offline. Returns a Status only when the
// directory cannot be verified at all (no log key given, manifest missing or
// of an unknown format, a file unreadable or not valid JSON lines); every
// integrity failure goes into report.first_error.
[[nodiscard]] Result<VerifyReport> VerifyExport(const std::string& dir, const VerifyOptions& options);

// Checks 1-8 over in-memory inputs.
VerifyReport VerifyAuditData(const AuditData& data, const VerifyOptions& options);

// RFC 3339 UTC, e.g. "2025-11-26T14:52:34Z" or "2025-11-26T14:52:34.5Z".
std::string FormatRfc3339(int64_t unix_nanos);

}  // namespace custos::audit
