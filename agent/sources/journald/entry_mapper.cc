#include "agent/sources/journald/entry_mapper.h"

#include <charconv>

#include "common/utf8.h"

namespace custos::agent::journald {

v1::Severity SeverityFromPriority(std::string_view priority) {
  if (priority.size() != 1 || priority[0] < '0' || priority[0] > '7') return v1::SEVERITY_UNSPECIFIED;
  // Syslog 0 (emerg) is the most severe; custos counts upwards from DEBUG = 1.
  return static_cast<v1::Severity>(v1::SEVERITY_EMERGENCY - (priority[0] - '0'));
}

bool DecodeHexId(std::string_view hex, size_t n, std::string* out) {
  if (hex.size() != 2 * n) return false;
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, v, 16);
    if (ec != std::errc() || p != hex.data() + 2 * i + 2) return false;
    bytes[i] = static_cast<char>(v);
  }
  *out = std::move(bytes);
  return true;
}

void EntryMapper::Begin(uint64_t realtime_usec) {
  entry_ = MappedEntry();
  have_message_ = have_priority_ = have_pid_ = have_comm_ = have_trace_ = have_span_ = false;
  v1::LogRecord* log = entry_.record.mutable_log();
  log->set_time_unix_nano(realtime_usec * 1000);
  log->set_source("journald");
}

void EntryMapper::SetOnce(const std::string& key, std::string_view value, size_t max_bytes) {
  auto* fields = entry_.record.mutable_log()->mutable_fields();
  if (fields->contains(key)) return;
  bool replaced = false, truncated = false;
  (*fields)[key] = ToValidUtf8(value, max_bytes, &replaced, &truncated);
  entry_.issues.invalid_utf8 += replaced;
  entry_.issues.truncated += truncated;
}

void EntryMapper::Consume(std::string_view item) {
  size_t eq = item.find('=');
  if (eq == std::string_view::npos) {
    entry_.issues.malformed++;
    return;
  }
  std::string_view key = item.substr(0, eq);
  std::string_view value = item.substr(eq + 1);
  v1::LogRecord* log = entry_.record.mutable_log();
  bool replaced = false, truncated = false;

  if (key == "MESSAGE") {
    if (have_message_) return;
    have_message_ = true;
    log->set_message(ToValidUtf8(value, options_.max_message_bytes, &replaced, &truncated));
    entry_.issues.invalid_utf8 += replaced;
    entry_.issues.truncated += truncated;
  } else if (key == "PRIORITY") {
    if (have_priority_) return;
    have_priority_ = true;
    v1::Severity s = SeverityFromPriority(value);
    log->set_severity(s);
    if (s == v1::SEVERITY_UNSPECIFIED) {
      entry_.issues.malformed++;
      SetOnce("PRIORITY", value, options_.max_field_bytes);
    }
  } else if (key == "_SYSTEMD_UNIT") {
    if (!entry_.unit.empty()) return;
    // Units are short names; bound them like any field.
    entry_.unit = ToValidUtf8(value, options_.max_field_bytes, &replaced, &truncated);
    entry_.issues.invalid_utf8 += replaced;
    entry_.issues.truncated += truncated;
  } else if (key == "_PID") {
    if (have_pid_) return;
    have_pid_ = true;
    int32_t pid = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), pid);
    if (ec == std::errc() && p == value.data() + value.size() && pid > 0) {
      log->set_pid(pid);
    } else {
      entry_.issues.malformed++;
      SetOnce("_PID", value, options_.max_field_bytes);
    }
  } else if (key == "_COMM") {
    if (have_comm_) return;
    have_comm_ = true;
    log->set_comm(ToValidUtf8(value, options_.max_field_bytes, &replaced, &truncated));
    entry_.issues.invalid_utf8 += replaced;
    entry_.issues.truncated += truncated;
  } else if (key == "_HOSTNAME") {
    SetOnce("hostname", value, options_.max_field_bytes);
  } else if (key == "SYSLOG_IDENTIFIER") {
    SetOnce("syslog_identifier", value, options_.max_field_bytes);
  } else if (key == "_UID") {
    SetOnce("uid", value, options_.max_field_bytes);
  } else if (key == "TRACE_ID" || key == "SPAN_ID") {
    const bool trace = key == "TRACE_ID";
    bool& have = trace ? have_trace_ : have_span_;
    if (have) return;
    have = true;
    std::string id;
    if (DecodeHexId(value, trace ? 16 : 8, &id)) {
      if (trace) {
        log->set_trace_id(std::move(id));
      } else {
        log->set_span_id(std::move(id));
      }
    } else {
      entry_.issues.malformed++;
      SetOnce(std::string(key), value, options_.max_field_bytes);
    }
  }
  // Well-known fields may also be listed as extras: copy them verbatim too.
  if (!options_.extra_fields.empty()) {
    auto it = options_.extra_fields.find(key);
    if (it != options_.extra_fields.end()) SetOnce(*it, value, options_.max_field_bytes);
  }
}

MappedEntry EntryMapper::Finish() { return std::move(entry_); }

}  // namespace custos::agent::journald
