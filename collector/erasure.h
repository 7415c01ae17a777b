// Erasure of a subject's personal data from the store, beside the audit
// log's own payloads (audit::AuditLog::Erase): the principal and path of the
// subject's access events, and the text of the alerts about them, stored and
// waiting in the outbox. A subject is named as the audit log names it:
// "user:NAME", "service:IDENTITY" or "uid:N" (see AccessSubject).
//
// Not reached: free text elsewhere (log lines, learned error statements;
// retention bounds them) and copies already delivered to Alertmanager or
// webhooks. The access events are scanned whole: no index on principals
// slows every insert for a rare request.
#pragma once

#include <cstdint>
#include <string>

#include "collector/store/sqlite_db.h"
#include "common/status.h"

namespace custos::collector {

struct StoreErasure {
  uint64_t access_events = 0;  // rows whose principal and object were cleared
  uint64_t alerts = 0;         // stored alerts whose message was replaced
  uint64_t outbox = 0;         // deliveries waiting whose summary was replaced
};

// Inside the caller's transaction on `db` (the audit log's erasure, which
// also zeroes what is deleted: PRAGMA secure_delete).
Result<StoreErasure> EraseSubjectFromStore(store::Db& db, const std::string& subject);

}  // namespace custos::collector
