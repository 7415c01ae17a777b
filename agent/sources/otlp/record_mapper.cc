#include "agent/sources/otlp/record_mapper.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "agent/core/deterministic_key.h"
#include "common/utf8.h"

namespace custos::agent::otlp {
namespace {

using otlp_compat::AnyValue;
using otlp_compat::KeyValue;

std::string DoubleText(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

nlohmann::json AnyValueToJson(const AnyValue& v) {
  switch (v.value_case()) {
    case AnyValue::kStringValue:
      return ToValidUtf8(v.string_value());
    case AnyValue::kBoolValue:
      return v.bool_value();
    case AnyValue::kIntValue:
      return v.int_value();
    case AnyValue::kDoubleValue:
      if (!std::isfinite(v.double_value())) return DoubleText(v.double_value());
      return v.double_value();
    case AnyValue::kArrayValue: {
      nlohmann::json a = nlohmann::json::array();
      for (const AnyValue& e : v.array_value().values()) a.push_back(AnyValueToJson(e));
      return a;
    }
    case AnyValue::kKvlistValue: {
      nlohmann::json o = nlohmann::json::object();
      for (const KeyValue& kv : v.kvlist_value().values()) o[ToValidUtf8(kv.key())] = AnyValueToJson(kv.value());
      return o;
    }
    case AnyValue::kBytesValue:
      return Base64(v.bytes_value());
    case AnyValue::VALUE_NOT_SET:
      break;
  }
  return nullptr;
}

void AddAttributes(const google::protobuf::RepeatedPtrField<KeyValue>& attributes,
                   google::protobuf::Map<std::string, std::string>* out) {
  for (const KeyValue& kv : attributes) (*out)[ToValidUtf8(kv.key())] = AnyValueToString(kv.value());
}

void AddCount(const char* key, uint64_t n, google::protobuf::Map<std::string, std::string>* out) {
  if (n > 0) (*out)[key] = std::to_string(n);
}

void AddScope(const otlp_compat::InstrumentationScope& scope, google::protobuf::Map<std::string, std::string>* out) {
  if (!scope.name().empty()) (*out)["otel.scope.name"] = ToValidUtf8(scope.name());
  if (!scope.version().empty()) (*out)["otel.scope.version"] = ToValidUtf8(scope.version());
}

bool AllZero(std::string_view bytes) {
  return bytes.find_first_not_of('\0') == std::string_view::npos;
}

v1::Span::Kind MapKind(int kind) {
  // The OTLP SpanKind and v1::Span::Kind share their numbering (0..5).
  return v1::Span::Kind_IsValid(kind) ? static_cast<v1::Span::Kind>(kind) : v1::Span::KIND_UNSPECIFIED;
}

v1::Span::StatusCode MapStatus(int code) {
  return v1::Span::StatusCode_IsValid(code) ? static_cast<v1::Span::StatusCode>(code) : v1::Span::STATUS_UNSET;
}

v1::Severity MapSeverity(int n) {
  if (n >= 1 && n <= 8) return v1::SEVERITY_DEBUG;  // TRACE and DEBUG
  if (n >= 9 && n <= 12) return v1::SEVERITY_INFO;
  if (n >= 13 && n <= 16) return v1::SEVERITY_WARNING;
  if (n >= 17 && n <= 20) return v1::SEVERITY_ERROR;
  if (n >= 21 && n <= 24) return v1::SEVERITY_CRITICAL;  // FATAL
  return v1::SEVERITY_UNSPECIFIED;
}

// A client-supplied name as it goes into an error message (sent back and
// logged): valid UTF-8, at most about 64 bytes.
std::string ForMessage(std::string_view name) {
  constexpr size_t kMax = 64;
  return name.size() <= kMax ? ToValidUtf8(name) : ToValidUtf8(name.substr(0, kMax)) + "...";
}

// Why a span's ids are unusable, or empty when they are fine.
std::string CheckSpanIds(const otlp_compat::Span& s) {
  if (s.trace_id().size() != 16 || AllZero(s.trace_id())) {
    return "span '" + ForMessage(s.name()) + "': trace_id must be 16 bytes, not all zero (got " +
           std::to_string(s.trace_id().size()) + " bytes)";
  }
  if (s.span_id().size() != 8 || AllZero(s.span_id())) {
    return "span '" + ForMessage(s.name()) + "': span_id must be 8 bytes, not all zero (got " +
           std::to_string(s.span_id().size()) + " bytes)";
  }
  if (!s.parent_span_id().empty() && s.parent_span_id().size() != 8) {
    return "span '" + ForMessage(s.name()) + "': parent_span_id must be empty or 8 bytes (got " +
           std::to_string(s.parent_span_id().size()) + " bytes)";
  }
  return "";
}

void Reject(MapResult* result, std::string why, int64_t records = 1) {
  if (records <= 0) return;
  if (result->rejected == 0) result->first_error = std::move(why);
  result->rejected += records;
}

}  // namespace

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                 static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string AnyValueToString(const AnyValue& v) {
  switch (v.value_case()) {
    case AnyValue::kStringValue:
      return ToValidUtf8(v.string_value());
    case AnyValue::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case AnyValue::kIntValue:
      return std::to_string(v.int_value());
    case AnyValue::kDoubleValue:
      return DoubleText(v.double_value());
    case AnyValue::kBytesValue:
      return Base64(v.bytes_value());
    case AnyValue::kArrayValue:
    case AnyValue::kKvlistValue:
      // Strings inside are valid UTF-8 already; replace is a second guard.
      return AnyValueToJson(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    case AnyValue::VALUE_NOT_SET:
      break;
  }
  return "";
}

RecordMapper::RecordMapper(const v1::Resource& node, InternFn intern, MapperOptions options)
    : node_(node), intern_(std::move(intern)), options_(options) {}

RecordMapper::ResourceRef RecordMapper::Intern(const otlp_compat::Resource& resource) {
  v1::Resource r;
  r.set_node_id(node_.node_id());
  r.set_hostname(node_.hostname());
  r.set_region(node_.region());
  r.set_zone(node_.zone());
  *r.mutable_labels() = node_.labels();
  std::vector<std::pair<std::string, std::string>> attributes;
  for (const KeyValue& kv : resource.attributes()) {
    std::string key = ToValidUtf8(kv.key());
    std::string value = AnyValueToString(kv.value());
    if (key == "service.name") {
      r.set_service_name(value);
    } else if (key == "container.id") {
      r.set_container_id(value);
    } else {
      r.mutable_labels()->insert({key, value});  // a node label of that name wins
    }
    attributes.emplace_back(std::move(key), std::move(value));
  }
  std::string key = DeterministicKey(r);
  if (key.size() > options_.max_resource_bytes) {
    ResourceRef too_large;
    too_large.rejected = "resource" +
                         (r.service_name().empty() ? "" : " of service '" + ForMessage(r.service_name()) + "'") +
                         " is " + std::to_string(key.size()) + " bytes once mapped, above max_resource_bytes " +
                         std::to_string(options_.max_resource_bytes);
    return too_large;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = refs_.find(key); it != refs_.end()) return ResourceRef{it->second, {}, {}};
  if (refs_.size() >= options_.max_resources) {
    resources_overflowed_.fetch_add(1);
    ResourceRef overflow;
    for (auto& [k, v] : attributes) overflow.overflow_attributes.emplace_back("resource." + k, std::move(v));
    return overflow;
  }
  const uint32_t ref = intern_(r);
  refs_.emplace(std::move(key), ref);
  return ResourceRef{ref, {}, {}};
}

bool RecordMapper::TakeBytes(MapResult* result, size_t* mapped_bytes, size_t bytes) const {
  if (*mapped_bytes + bytes > options_.max_mapped_bytes) {
    Reject(result, "the request maps to more than max_mapped_bytes (" + std::to_string(options_.max_mapped_bytes) +
                       "); the records past it are rejected");
    return false;
  }
  *mapped_bytes += bytes;
  return true;
}

MapResult RecordMapper::MapTraces(const otlp_compat::ExportTraceServiceRequest& request) {
  MapResult result;
  size_t mapped_bytes = 0;
  for (const otlp_compat::ResourceSpans& rs : request.resource_spans()) {
    const ResourceRef resource = Intern(rs.resource());
    if (!resource.rejected.empty()) {
      int64_t spans = 0;
      for (const otlp_compat::ScopeSpans& ss : rs.scope_spans()) spans += ss.spans_size();
      Reject(&result, resource.rejected, spans);
      continue;
    }
    for (const otlp_compat::ScopeSpans& ss : rs.scope_spans()) {
      for (const otlp_compat::Span& s : ss.spans()) {
        if (std::string why = CheckSpanIds(s); !why.empty()) {
          Reject(&result, std::move(why));
          continue;
        }
        v1::Record record;
        v1::Span* span = record.mutable_span();
        span->set_start_time_unix_nano(s.start_time_unix_nano());
        span->set_end_time_unix_nano(s.end_time_unix_nano());
        span->set_resource_ref(resource.ref);
        span->set_trace_id(s.trace_id());
        span->set_span_id(s.span_id());
        span->set_parent_span_id(s.parent_span_id());
        span->set_name(ToValidUtf8(s.name()));
        span->set_kind(MapKind(s.kind()));
        span->set_status_code(MapStatus(s.status().code()));
        span->set_status_message(ToValidUtf8(s.status().message()));
        auto* attrs = span->mutable_attributes();
        for (const auto& [k, v] : resource.overflow_attributes) (*attrs)[k] = v;
        AddScope(ss.scope(), attrs);
        AddAttributes(s.attributes(), attrs);
        if (!s.trace_state().empty()) (*attrs)["otel.trace_state"] = ToValidUtf8(s.trace_state());
        AddCount("otel.event_count", static_cast<uint64_t>(s.events_size()), attrs);
        AddCount("otel.link_count", static_cast<uint64_t>(s.links_size()), attrs);
        AddCount("otel.dropped_attributes_count", s.dropped_attributes_count(), attrs);
        AddCount("otel.dropped_events_count", s.dropped_events_count(), attrs);
        AddCount("otel.dropped_links_count", s.dropped_links_count(), attrs);
        const size_t bytes = record.ByteSizeLong();
        if (bytes > options_.max_record_bytes) {
          Reject(&result, "span '" + ForMessage(span->name()) + "' (" + Hex(s.span_id()) + ") is " +
                              std::to_string(bytes) + " bytes once mapped, above max_record_bytes " +
                              std::to_string(options_.max_record_bytes));
          continue;
        }
        if (!TakeBytes(&result, &mapped_bytes, bytes)) continue;
        result.records.push_back(std::move(record));
      }
    }
  }
  return result;
}

MapResult RecordMapper::MapLogs(const otlp_compat::ExportLogsServiceRequest& request, int64_t now_unix_nanos) {
  MapResult result;
  size_t mapped_bytes = 0;
  for (const otlp_compat::ResourceLogs& rl : request.resource_logs()) {
    const ResourceRef resource = Intern(rl.resource());
    if (!resource.rejected.empty()) {
      int64_t logs = 0;
      for (const otlp_compat::ScopeLogs& sl : rl.scope_logs()) logs += sl.log_records_size();
      Reject(&result, resource.rejected, logs);
      continue;
    }
    for (const otlp_compat::ScopeLogs& sl : rl.scope_logs()) {
      for (const otlp_compat::LogRecord& l : sl.log_records()) {
        if (!l.trace_id().empty() && l.trace_id().size() != 16) {
          Reject(&result, "log record: trace_id must be empty or 16 bytes (got " +
                              std::to_string(l.trace_id().size()) + " bytes)");
          continue;
        }
        if (!l.span_id().empty() && l.span_id().size() != 8) {
          Reject(&result, "log record: span_id must be empty or 8 bytes (got " + std::to_string(l.span_id().size()) +
                              " bytes)");
          continue;
        }
        v1::Record record;
        v1::LogRecord* log = record.mutable_log();
        uint64_t t = l.time_unix_nano() != 0 ? l.time_unix_nano() : l.observed_time_unix_nano();
        log->set_time_unix_nano(t != 0 ? t : static_cast<uint64_t>(now_unix_nanos));
        log->set_resource_ref(resource.ref);
        log->set_severity(MapSeverity(l.severity_number()));
        log->set_message(AnyValueToString(l.body()));
        log->set_source("otlp");
        log->set_trace_id(l.trace_id());
        log->set_span_id(l.span_id());
        auto* fields = log->mutable_fields();
        for (const auto& [k, v] : resource.overflow_attributes) (*fields)[k] = v;
        AddScope(sl.scope(), fields);
        AddAttributes(l.attributes(), fields);
        if (!l.severity_text().empty()) (*fields)["otel.severity_text"] = ToValidUtf8(l.severity_text());
        if (!l.event_name().empty()) (*fields)["otel.event_name"] = ToValidUtf8(l.event_name());
        AddCount("otel.dropped_attributes_count", l.dropped_attributes_count(), fields);
        const size_t bytes = record.ByteSizeLong();
        if (bytes > options_.max_record_bytes) {
          Reject(&result, "log record is " + std::to_string(bytes) + " bytes once mapped, above max_record_bytes " +
                              std::to_string(options_.max_record_bytes));
          continue;
        }
        if (!TakeBytes(&result, &mapped_bytes, bytes)) continue;
        result.records.push_back(std::move(record));
      }
    }
  }
  return result;
}

}  // namespace custos::agent::otlp
