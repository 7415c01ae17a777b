#include "collector/erasure.h"

#include <charconv>

namespace custos::collector {
namespace {

constexpr const char* kErased = "[erased]";

// The access events of `subject` (the condition on their columns, with
// `value` for ?1), in AccessSubject's order: a user name first, else a
// service identity, else the uid. Empty for another kind of subject.
Result<std::string> AccessEventsOf(const std::string& subject, std::string* value) {
  if (subject.rfind("user:", 0) == 0) {
    *value = subject.substr(5);
    return std::string("user = ?1");
  }
  if (subject.rfind("service:", 0) == 0) {
    *value = subject.substr(8);
    return std::string("coalesce(user, '') = '' AND service_identity = ?1");
  }
  if (subject.rfind("uid:", 0) == 0) {
    *value = subject.substr(4);
    int64_t uid = 0;
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), uid);
    if (!value->empty() && (ec != std::errc() || end != value->data() + value->size())) {
      return InvalidArgument("a uid subject takes a number");  // not echoed: it is personal data
    }
    return std::string("coalesce(user, '') = '' AND coalesce(service_identity, '') = '' AND uid = ?1");
  }
  return std::string();
}

Result<uint64_t> Run(store::Db& db, const std::string& sql, const std::string& value) {
  CUSTOS_ASSIGN_OR_RETURN(auto st, db.Prepare(sql));
  st->Bind(1, value);
  CUSTOS_RETURN_IF_ERROR(st->Exec());
  return static_cast<uint64_t>(db.Changes());
}

}  // namespace

Result<StoreErasure> EraseSubjectFromStore(store::Db& db, const std::string& subject) {
  std::string value;
  CUSTOS_ASSIGN_OR_RETURN(std::string access_where, AccessEventsOf(subject, &value));
  // "user:" would match every event without a user name: refused.
  if (!access_where.empty() && value.empty()) return InvalidArgument("the subject names no one after its kind");
  StoreErasure out;
  if (!access_where.empty()) {
    CUSTOS_ASSIGN_OR_RETURN(out.access_events,
                            Run(db,
                                "UPDATE access_events SET uid = NULL, user = NULL, principal_unit = NULL, "
                                "service_identity = NULL, pid = NULL, executable = NULL, object = NULL WHERE " +
                                    access_where,
                                value));
  }
  CUSTOS_ASSIGN_OR_RETURN(
      out.alerts,
      Run(db, std::string("UPDATE alerts SET message = '") + kErased + "', subject = NULL WHERE subject = ?1", subject));
  CUSTOS_ASSIGN_OR_RETURN(out.outbox,
                          Run(db,
                              std::string("UPDATE alert_outbox SET alert = json_set(alert, '$.annotations.summary', '") +
                                  kErased + "'), subject = NULL WHERE subject = ?1",
                              subject));
  return out;
}

}  // namespace custos::collector
