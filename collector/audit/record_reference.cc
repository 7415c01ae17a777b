#include "collector/audit/record_reference.h"

#include <nlohmann/json.hpp>
#include <string>

namespace custos::audit {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Result<AuditRecord> ParseRecordReference(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("not a JSON object");
  AuditRecord r;
  auto str = [&](const char* key, std::string* out) -> Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string())
      return InvalidArgument(std::string("field '") + key + "' missing or not a string");
    *out = it->get<std::string>();
    return Status::Ok();
  };
  auto idx = j.find("index");
  auto time = j.find("time");
  if (idx == j.end() || !idx->is_number_unsigned()) return InvalidArgument("field 'index' missing or not a number");
  if (time == j.end() || !time->is_number_integer()) return InvalidArgument("field 'time' missing or not a number");
  r.index = idx->get<uint64_t>();
  r.time_unix_nanos = time->get<int64_t>();
  CUSTOS_RETURN_IF_ERROR(str("kind", &r.kind));
  CUSTOS_RETURN_IF_ERROR(str("actor", &r.actor));
  CUSTOS_RETURN_IF_ERROR(str("action", &r.action));
  CUSTOS_RETURN_IF_ERROR(str("object", &r.object));
  CUSTOS_RETURN_IF_ERROR(str("outcome", &r.outcome));
  CUSTOS_RETURN_IF_ERROR(str("payload", &r.payload_commitment));
  CUSTOS_RETURN_IF_ERROR(str("prev", &r.prev));
  auto details = j.find("details");
  if (details == j.end() || !details->is_object()) return InvalidArgument("field 'details' missing or not an object");
  for (auto& [k, v] : details->items()) {
    if (!v.is_string()) return InvalidArgument("details." + k + " is not a string");
    r.details[k] = v.get<std::string>();
  }
  if (!(r.payload_commitment.empty() || (r.payload_commitment.size() == 64 && IsLowerHex(r.payload_commitment)))) {
    return InvalidArgument("field 'payload' is neither empty nor 64 lower-case hex digits");
  }
  if (r.prev.size() != 64 || !IsLowerHex(r.prev))
    return InvalidArgument("field 'prev' is not 64 lower-case hex digits");
  if (EncodeRecord(r) != line)
    return InvalidArgument("not in canonical form (field order, spacing or escaping differs)");
  return r;
}

}  // namespace custos::audit
