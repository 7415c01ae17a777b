// Checkpoints (c2sp.org/tlog-checkpoint): the note text that commits to the
// audit log's tree size and root, before it is signed (see note.h).
//
//   CUSTOS_ASSIGN_OR_RETURN(std::string text,
//                           FormatCheckpoint({"audit.example/tenant/v1", tree.size(), tree.Root()}));
//   CUSTOS_ASSIGN_OR_RETURN(std::string signed_note, SignNote(text, log_key));
//   ...
//   CUSTOS_ASSIGN_OR_RETURN(VerifiedNote note, VerifyNote(signed_note, {&log_vkey, 1}));
//   CUSTOS_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpoint(note.text));
//
// Parsing is strict: exactly three lines, a size without leading zeros, a
// root of exactly 32 bytes in canonical base64, and an origin that is a valid
// key name. Extension lines (optional and NOT RECOMMENDED in the spec) are
// refused: this log never writes them.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "collector/audit/hash.h"
#include "common/status.h"

namespace custos::audit {

struct Checkpoint {
  std::string origin;  // the log's identity, e.g. "audit.example/tenant/v1"
  uint64_t size = 0;   // number of leaves
  Hash root{};         // RFC 6962 root of those leaves

  bool operator==(const Checkpoint&) const = default;
};

// "<origin>\n<size>\n<base64 root>\n". INVALID_ARGUMENT if the origin is empty
// or holds a space, a '+' or a control character.
[[nodiscard]] Result<std::string> FormatCheckpoint(const Checkpoint& checkpoint);

// Inverse of FormatCheckpoint; INVALID_ARGUMENT naming the first bad part.
[[nodiscard]] Result<Checkpoint> ParseCheckpoint(std::string_view text);

}  // namespace custos::audit
