// One audit record: a canonical JSON line, a leaf of the audit Merkle tree.
//
// Canonical form (fixed key order, no insignificant whitespace, details keys
// sorted, strings escaped only where JSON requires: '"', '\\' and control
// characters as \u00XX; invalid UTF-8 replaced by U+FFFD before encoding,
// one U+FFFD per byte that does not start a well-formed sequence, i.e.
// common/utf8.h's Utf8Repair::kPerByte, frozen: it decides the bytes, hence the
// hashes, of committed records):
//
//   {"index":7,"time":1764168754123456789,"kind":"access","actor":"node:3d12…",
//    "action":"read","object":"dataset:imagenet","outcome":"allow",
//    "details":{"bytes":"4096"},"payload":"<hex SHA-256 commitment or empty>",
//    "prev":"<hex leaf hash of record 6; 64 zeros for record 0>"}
//
// Personal data (user names, object paths, …) never goes into the line: it is
// the record's payload, stored apart with a random 32-byte salt, and the line
// holds only payload = SHA-256(0x02 || salt || payload). Erasing the payload
// and salt leaves the line, the chain and the tree verifiable, and the
// commitment cannot be confirmed by guessing (the salt is gone).
//
// Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "collector/audit/hash.h"
#include "common/status.h"

namespace custos::audit {

// What a caller appends. `personal` is the erasable payload (JSON text is
// customary), keyed by `subject` (e.g. "user:alice") for erasure.
struct AuditEntry {
  int64_t time_unix_nanos = 0;
  std::string kind;     // access, verdict, alert, policy, enrolment, key, config, gap, refusal, lifecycle, erasure
  std::string actor;
  std::string action;
  std::string object;
  std::string outcome;
  std::map<std::string, std::string> details;
  std::string subject;                 // empty when there is no personal payload
  std::optional<std::string> personal; // the erasable payload
};

// A record as it sits in the log.
struct AuditRecord {
  uint64_t index = 0;
  int64_t time_unix_nanos = 0;
  std::string kind, actor, action, object, outcome;
  std::map<std::string, std::string> details;
  std::string payload_commitment;  // hex, or empty
  std::string prev;                // hex leaf hash of the previous record
};

// The canonical line for `r` (no trailing newline).
std::string EncodeRecord(const AuditRecord& r);

// The fields of a record as views, so that an append need not copy an entry
// into an AuditRecord first. `details` may be null (none).
struct RecordFields {
  uint64_t index = 0;
  int64_t time_unix_nanos = 0;
  std::string_view kind, actor, action, object, outcome;
  const std::map<std::string, std::string>* details = nullptr;
  std::string_view payload_commitment;
};

// The canonical line in two parts, for a prev that is 64 hex digits (as
// every prev is): EncodeRecordStart(r) ends with `"prev":"`, and
// EncodeRecordEnd(prev) is the rest. Together they are EncodeRecord of the
// same record with that prev.
std::string EncodeRecordStart(const RecordFields& r);
std::string EncodeRecordEnd(std::string_view prev_hex);

// Parses a line and checks that it is exactly the canonical encoding of what
// it says (so no two byte strings can stand for one record). The error names
// what is wrong.
Result<AuditRecord> ParseRecord(std::string_view line);

// What a verifier needs of a record, viewing the line it was scanned from.
// kind and action are the text between the quotes as written (escapes and
// all); compared with plain words such as "key" that is the same as
// comparing the decoded strings.
struct RecordView {
  uint64_t index = 0;
  int64_t time_unix_nanos = 0;
  std::string_view kind, action;
  std::string_view payload_commitment;  // 64 hex digits, or empty
  std::string_view prev;                // 64 hex digits
};

// True when ParseRecord(line) would succeed, filling *view; without
// allocating (about half ParseRecord's time on a typical line). On false, call
// ParseRecord for the error.
bool ScanRecord(std::string_view line, RecordView* view);

// SHA-256(0x02 || salt || payload), hex.
std::string PayloadCommitment(ByteView salt, std::string_view payload);

// The prev value of record 0.
const std::string& GenesisPrev();

}  // namespace custos::audit
