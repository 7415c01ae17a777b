// A witness: an independent party (a compliance office, an external auditor)
// that remembers the last tree size and root it has seen of each log, and
// cosigns a newer checkpoint only after checking that the log grew by
// appending (consistency proofs). It refuses a checkpoint that rolls back to a
// smaller size or forks (same size, other root, or no valid proof): a log
// operator who rewrites history, even re-signing it with the log's own key,
// cannot get it cosigned. Auditors then trust checkpoints cosigned by k of n
// witnesses (custosctl audit verify --witness W.vkey --quorum k).
//
// This witness works on export directories (export_format.h):
//   custosctl audit witness DIR --log-key LOG.vkey --key W.key --state W.json
// cosigns the newest checkpoint in DIR in place (checkpoints.jsonl, manifest).
//
// The state file is JSON {"<origin>": {"size": N, "root": "<hex>"}}, written
// atomically after each cosignature. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "collector/audit/note_key.h"
#include "common/status.h"

namespace custos::audit {

struct WitnessResult {
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  bool cosigned = false;  // false when the newest size equals the remembered one (already cosigned)
};

// Checks the newest checkpoint of the export in `dir` against the witness's
// state, and cosigns it with `witness_key` (KeyType::kCosignatureV1) at
// `unix_time`. FAILED_PRECONDITION names a rollback or fork; the state is
// then left unchanged.
Result<WitnessResult> WitnessExport(const std::string& dir, const VerifierKey& log_key, const SignerKey& witness_key,
                                    const std::string& state_path, uint64_t unix_time);

}  // namespace custos::audit
