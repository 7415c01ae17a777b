#include "collector/audit/record.h"

#include <nlohmann/json.hpp>

namespace custos::audit {
namespace {

// Appends `s` as a JSON string, replacing invalid UTF-8 with U+FFFD.
void AppendString(std::string* out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c < 0x20) {
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Validate one UTF-8 sequence (no overlongs, no surrogates, <= U+10FFFF).
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    bool ok = len > 0 && c <= 0xF4 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
    }
    if (ok && len == 4) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out->append(s.substr(i, len));
      i += len;
    } else {
      out->append("\xEF\xBF\xBD");
      ++i;
    }
  }
  out->push_back('"');
}

void AppendField(std::string* out, const char* key, std::string_view value) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
  AppendString(out, value);
}

}  // namespace

const std::string& GenesisPrev() {
  static const std::string kZeros(64, '0');
  return kZeros;
}

std::string EncodeRecord(const AuditRecord& r) {
  std::string out;
  out.reserve(256);
  out += "{\"index\":" + std::to_string(r.index) + ",\"time\":" + std::to_string(r.time_unix_nanos) + ",";
  AppendField(&out, "kind", r.kind);
  out += ',';
  AppendField(&out, "actor", r.actor);
  out += ',';
  AppendField(&out, "action", r.action);
  out += ',';
  AppendField(&out, "object", r.object);
  out += ',';
  AppendField(&out, "outcome", r.outcome);
  out += ",\"details\":{";
  bool first = true;
  for (const auto& [k, v] : r.details) {  // std::map: sorted by key
    if (!first) out += ',';
    first = false;
    AppendString(&out, k);
    out += ':';
    AppendString(&out, v);
  }
  out += "},";
  AppendField(&out, "payload", r.payload_commitment);
  out += ',';
  AppendField(&out, "prev", r.prev);
  out += '}';
  return out;
}

Result<AuditRecord> ParseRecord(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("not a JSON object");
  AuditRecord r;
  auto str = [&](const char* key, std::string* out) -> Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return InvalidArgument(std::string("field '") + key + "' missing or not a string");
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
  if (EncodeRecord(r) != line) return InvalidArgument("not in canonical form (field order, spacing or escaping differs)");
  return r;
}

std::string PayloadCommitment(ByteView salt, std::string_view payload) {
  static const uint8_t kDomain = 0x02;
  return HexEncode(Sha256({ByteView(&kDomain, 1), salt, AsBytes(payload)}));
}

}  // namespace custos::audit
