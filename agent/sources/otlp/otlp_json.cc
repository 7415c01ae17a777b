#include "agent/sources/otlp/otlp_json.h"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace custos::agent::otlp {
namespace {

// Requests are parsed with simdjson's DOM (a tape, no allocation per value:
// several times faster than a tree of nlohmann::json nodes); the replies
// are written with nlohmann.
using json = simdjson::dom::element;
using simdjson::dom::element_type;
namespace pb = otlp_compat;

const char* TypeName(const json& v) {
  switch (v.type()) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "boolean";
    case element_type::NULL_VALUE:
      return "null";
    default:
      return "number";
  }
}

bool IsObject(const json& v) { return v.type() == element_type::OBJECT; }
bool IsString(const json& v) { return v.type() == element_type::STRING; }
std::string_view StringOf(const json& v) { return std::string_view(v.get_string().value_unsafe()); }

// Where a value sits in the document; rendered only for error messages.
struct Path {
  const Path* parent = nullptr;
  const char* key = nullptr;  // a field name, or null for an array index
  size_t index = 0;

  Path Field(const char* k) const { return Path{this, k, 0}; }
  Path Index(size_t i) const { return Path{this, nullptr, i}; }
  std::string ToString() const {
    std::string head = parent != nullptr ? parent->ToString() : "";
    if (key == nullptr) return head + "[" + std::to_string(index) + "]";
    return head.empty() ? key : head + "." + key;
  }
};

// The document itself: renders as "".
constexpr Path kRoot{nullptr, "", 0};

Status Bad(const Path& path, const std::string& what) { return InvalidArgument(path.ToString() + ": " + what); }

// The value of field `camel` (or its snake_case spelling) of an object;
// nullopt when absent or null.
std::optional<json> Get(const json& obj, const char* camel, const char* snake = nullptr) {
  simdjson::dom::object o = obj.get_object().value_unsafe();
  auto v = o.at_key(camel);
  if (v.error() && snake != nullptr) v = o.at_key(snake);
  if (v.error() || v.value_unsafe().is_null()) return std::nullopt;
  return v.value_unsafe();
}

Status ExpectObject(const json& v, const Path& path) {
  return IsObject(v) ? Status::Ok() : Bad(path, std::string("expected an object, got ") + TypeName(v));
}

// Calls fn(element, path) for each element of the array field `camel`.
template <typename Fn>
Status ForEach(const json& obj, const Path& path, const char* camel, const char* snake, Fn fn) {
  std::optional<json> arr = Get(obj, camel, snake);
  if (!arr) return Status::Ok();
  Path p = path.Field(camel);
  if (arr->type() != element_type::ARRAY) return Bad(p, std::string("expected an array, got ") + TypeName(*arr));
  size_t i = 0;
  const simdjson::dom::array elements = arr->get_array().value_unsafe();  // a copy: the result is a temporary
  for (json e : elements) {
    Path pi = p.Index(i++);
    CUSTOS_RETURN_IF_ERROR(fn(e, pi));
  }
  return Status::Ok();
}

template <typename T>
bool ParseDecimal(std::string_view s, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// A 64-bit integer: a JSON number or a decimal string.
template <typename T>
Status Integer(const json& v, const Path& path, T* out) {
  if (v.type() == element_type::UINT64) {
    uint64_t u = v.get_uint64().value_unsafe();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return Bad(path, "integer out of range");
    *out = static_cast<T>(u);
    return Status::Ok();
  }
  if (v.type() == element_type::INT64) {
    int64_t i = v.get_int64().value_unsafe();
    if (std::is_unsigned_v<T> && i < 0) return Bad(path, "negative value for an unsigned integer");
    if (i < static_cast<int64_t>(std::numeric_limits<T>::min())) return Bad(path, "integer out of range");
    if (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      return Bad(path, "integer out of range");
    }
    *out = static_cast<T>(i);
    return Status::Ok();
  }
  if (v.type() == element_type::DOUBLE) {
    double d = v.get_double().value_unsafe();
    // 2^64 and 2^63 are exact doubles; compare against them, not against max().
    const double limit = std::is_unsigned_v<T> ? 18446744073709551616.0
                                               : static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
    const double low = static_cast<double>(std::numeric_limits<T>::min());
    if (!std::isfinite(d) || std::trunc(d) != d || d < low || d >= limit) {
      return Bad(path, "expected an integer, got " + simdjson::minify(v));
    }
    *out = static_cast<T>(d);
    return Status::Ok();
  }
  if (IsString(v) && ParseDecimal(StringOf(v), out)) return Status::Ok();
  return Bad(path, "expected an integer or a decimal string, got " + std::string(TypeName(v)));
}

Status Double(const json& v, const Path& path, double* out) {
  if (v.is_number()) {
    *out = v.get_double().value_unsafe();  // integers convert
    return Status::Ok();
  }
  if (IsString(v)) {
    const std::string_view s = StringOf(v);
    if (s == "NaN") *out = std::numeric_limits<double>::quiet_NaN();
    else if (s == "Infinity") *out = std::numeric_limits<double>::infinity();
    else if (s == "-Infinity") *out = -std::numeric_limits<double>::infinity();
    else if (!ParseDecimal(s, out)) return Bad(path, "expected a number, got \"" + std::string(s) + "\"");
    return Status::Ok();
  }
  return Bad(path, std::string("expected a number, got ") + TypeName(v));
}

Status Bool(const json& v, const Path& path, bool* out) {
  if (!v.is_bool()) return Bad(path, std::string("expected true or false, got ") + TypeName(v));
  *out = v.get_bool().value_unsafe();
  return Status::Ok();
}

Status String(const json& v, const Path& path, std::string* out) {
  if (!IsString(v)) return Bad(path, std::string("expected a string, got ") + TypeName(v));
  *out = StringOf(v);
  return Status::Ok();
}

// An enum: its number, or one of `names` (index = value) when given.
template <size_t N>
Status Enum(const json& v, const Path& path, const std::array<const char*, N>& names, int32_t* out) {
  if (IsString(v)) {
    const std::string_view s = StringOf(v);
    for (size_t i = 0; i < N; ++i) {
      if (names[i] != nullptr && s == names[i]) {
        *out = static_cast<int32_t>(i);
        return Status::Ok();
      }
    }
    if (ParseDecimal(s, out)) return Status::Ok();
    return Bad(path, "unknown enum value \"" + std::string(s) + "\"");
  }
  return Integer(v, path, out);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A trace or span id: hex in OTLP/JSON. A valid hex string of the wrong
// length decodes here; the mapper rejects that one span.
Status HexId(const json& v, const Path& path, std::string* out) {
  if (!IsString(v)) return Bad(path, std::string("expected a hex string, got ") + TypeName(v));
  const std::string_view s = StringOf(v);
  if (s.size() % 2 != 0) return Bad(path, "odd number of hex digits in \"" + std::string(s.substr(0, 64)) + "\"");
  out->clear();
  out->reserve(s.size() / 2);
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = HexDigit(s[i]), lo = HexDigit(s[i + 1]);
    if (hi < 0 || lo < 0) return Bad(path, "not hex: \"" + std::string(s.substr(0, 64)) + "\"");
    out->push_back(static_cast<char>(hi << 4 | lo));
  }
  return Status::Ok();
}

// Standard or URL-safe base64, padding optional.
Status Base64Bytes(const json& v, const Path& path, std::string* out) {
  if (!IsString(v)) return Bad(path, std::string("expected a base64 string, got ") + TypeName(v));
  const std::string_view s = StringOf(v);
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < s.size() && s[i] != '='; ++i) {
    char c = s[i];
    int d;
    if (c >= 'A' && c <= 'Z') d = c - 'A';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
    else if (c >= '0' && c <= '9') d = c - '0' + 52;
    else if (c == '+' || c == '-') d = 62;
    else if (c == '/' || c == '_') d = 63;
    else return Bad(path, "not base64");
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  for (; i < s.size(); ++i) {
    if (s[i] != '=') return Bad(path, "not base64");
  }
  return Status::Ok();
}

Status AnyValue(const json& v, const Path& path, pb::AnyValue* out);

Status KeyValues(const json& obj, const Path& path, const char* camel,
                 google::protobuf::RepeatedPtrField<pb::KeyValue>* out) {
  return ForEach(obj, path, camel, nullptr, [&](const json& e, const Path& p) -> Status {
    CUSTOS_RETURN_IF_ERROR(ExpectObject(e, p));
    pb::KeyValue* kv = out->Add();
    if (std::optional<json> k = Get(e, "key")) CUSTOS_RETURN_IF_ERROR(String(*k, p.Field("key"), kv->mutable_key()));
    if (std::optional<json> val = Get(e, "value")) CUSTOS_RETURN_IF_ERROR(AnyValue(*val, p.Field("value"), kv->mutable_value()));
    return Status::Ok();
  });
}

Status AnyValue(const json& v, const Path& path, pb::AnyValue* out) {
  CUSTOS_RETURN_IF_ERROR(ExpectObject(v, path));
  if (std::optional<json> s = Get(v, "stringValue", "string_value")) {
    return String(*s, path.Field("stringValue"), out->mutable_string_value());
  }
  if (std::optional<json> b = Get(v, "boolValue", "bool_value")) {
    bool x = false;
    CUSTOS_RETURN_IF_ERROR(Bool(*b, path.Field("boolValue"), &x));
    out->set_bool_value(x);
    return Status::Ok();
  }
  if (std::optional<json> i = Get(v, "intValue", "int_value")) {
    int64_t x = 0;
    CUSTOS_RETURN_IF_ERROR(Integer(*i, path.Field("intValue"), &x));
    out->set_int_value(x);
    return Status::Ok();
  }
  if (std::optional<json> d = Get(v, "doubleValue", "double_value")) {
    double x = 0;
    CUSTOS_RETURN_IF_ERROR(Double(*d, path.Field("doubleValue"), &x));
    out->set_double_value(x);
    return Status::Ok();
  }
  if (std::optional<json> a = Get(v, "arrayValue", "array_value")) {
    Path p = path.Field("arrayValue");
    CUSTOS_RETURN_IF_ERROR(ExpectObject(*a, p));
    pb::ArrayValue* arr = out->mutable_array_value();
    return ForEach(*a, p, "values", nullptr, [&](const json& e, const Path& pe) {
      return AnyValue(e, pe, arr->add_values());
    });
  }
  if (std::optional<json> kv = Get(v, "kvlistValue", "kvlist_value")) {
    Path p = path.Field("kvlistValue");
    CUSTOS_RETURN_IF_ERROR(ExpectObject(*kv, p));
    return KeyValues(*kv, p, "values", out->mutable_kvlist_value()->mutable_values());
  }
  if (std::optional<json> b = Get(v, "bytesValue", "bytes_value")) {
    return Base64Bytes(*b, path.Field("bytesValue"), out->mutable_bytes_value());
  }
  return Status::Ok();  // {}: an empty value
}

Status Uint32Field(const json& obj, const Path& path, const char* camel, const char* snake, uint32_t* out) {
  std::optional<json> v = Get(obj, camel, snake);
  return !v ? Status::Ok() : Integer(*v, path.Field(camel), out);
}

Status Fixed64Field(const json& obj, const Path& path, const char* camel, const char* snake, uint64_t* out) {
  std::optional<json> v = Get(obj, camel, snake);
  return !v ? Status::Ok() : Integer(*v, path.Field(camel), out);
}

Status StringField(const json& obj, const Path& path, const char* camel, const char* snake, std::string* out) {
  std::optional<json> v = Get(obj, camel, snake);
  return !v ? Status::Ok() : String(*v, path.Field(camel), out);
}

Status HexField(const json& obj, const Path& path, const char* camel, const char* snake, std::string* out) {
  std::optional<json> v = Get(obj, camel, snake);
  return !v ? Status::Ok() : HexId(*v, path.Field(camel), out);
}

Status Resource(const json& obj, const Path& path, pb::Resource* out) {
  std::optional<json> r = Get(obj, "resource");
  if (!r) return Status::Ok();
  Path p = path.Field("resource");
  CUSTOS_RETURN_IF_ERROR(ExpectObject(*r, p));
  CUSTOS_RETURN_IF_ERROR(KeyValues(*r, p, "attributes", out->mutable_attributes()));
  uint32_t dropped = 0;
  CUSTOS_RETURN_IF_ERROR(Uint32Field(*r, p, "droppedAttributesCount", "dropped_attributes_count", &dropped));
  out->set_dropped_attributes_count(dropped);
  return Status::Ok();
}

Status Scope(const json& obj, const Path& path, pb::InstrumentationScope* out) {
  std::optional<json> s = Get(obj, "scope");
  if (!s) return Status::Ok();
  Path p = path.Field("scope");
  CUSTOS_RETURN_IF_ERROR(ExpectObject(*s, p));
  CUSTOS_RETURN_IF_ERROR(StringField(*s, p, "name", nullptr, out->mutable_name()));
  CUSTOS_RETURN_IF_ERROR(StringField(*s, p, "version", nullptr, out->mutable_version()));
  return KeyValues(*s, p, "attributes", out->mutable_attributes());
}

constexpr std::array<const char*, 6> kSpanKinds = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                                                   "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
constexpr std::array<const char*, 3> kStatusCodes = {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};
constexpr std::array<const char*, 25> kSeverities = {
    "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE",  "SEVERITY_NUMBER_TRACE2", "SEVERITY_NUMBER_TRACE3",
    "SEVERITY_NUMBER_TRACE4",      "SEVERITY_NUMBER_DEBUG",  "SEVERITY_NUMBER_DEBUG2", "SEVERITY_NUMBER_DEBUG3",
    "SEVERITY_NUMBER_DEBUG4",      "SEVERITY_NUMBER_INFO",   "SEVERITY_NUMBER_INFO2",  "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",       "SEVERITY_NUMBER_WARN",   "SEVERITY_NUMBER_WARN2",  "SEVERITY_NUMBER_WARN3",
    "SEVERITY_NUMBER_WARN4",       "SEVERITY_NUMBER_ERROR",  "SEVERITY_NUMBER_ERROR2", "SEVERITY_NUMBER_ERROR3",
    "SEVERITY_NUMBER_ERROR4",      "SEVERITY_NUMBER_FATAL",  "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4"};

Status Span(const json& s, const Path& p, pb::Span* out) {
  CUSTOS_RETURN_IF_ERROR(ExpectObject(s, p));
  CUSTOS_RETURN_IF_ERROR(HexField(s, p, "traceId", "trace_id", out->mutable_trace_id()));
  CUSTOS_RETURN_IF_ERROR(HexField(s, p, "spanId", "span_id", out->mutable_span_id()));
  CUSTOS_RETURN_IF_ERROR(HexField(s, p, "parentSpanId", "parent_span_id", out->mutable_parent_span_id()));
  CUSTOS_RETURN_IF_ERROR(StringField(s, p, "traceState", "trace_state", out->mutable_trace_state()));
  CUSTOS_RETURN_IF_ERROR(StringField(s, p, "name", nullptr, out->mutable_name()));
  if (std::optional<json> k = Get(s, "kind")) {
    int32_t kind = 0;
    CUSTOS_RETURN_IF_ERROR(Enum(*k, p.Field("kind"), kSpanKinds, &kind));
    out->set_kind(static_cast<pb::Span::SpanKind>(kind));
  }
  uint64_t t = 0;
  CUSTOS_RETURN_IF_ERROR(Fixed64Field(s, p, "startTimeUnixNano", "start_time_unix_nano", &t));
  out->set_start_time_unix_nano(t);
  t = 0;
  CUSTOS_RETURN_IF_ERROR(Fixed64Field(s, p, "endTimeUnixNano", "end_time_unix_nano", &t));
  out->set_end_time_unix_nano(t);
  uint32_t flags = 0;
  CUSTOS_RETURN_IF_ERROR(Uint32Field(s, p, "flags", nullptr, &flags));
  out->set_flags(flags);
  CUSTOS_RETURN_IF_ERROR(KeyValues(s, p, "attributes", out->mutable_attributes()));
  uint32_t n = 0;
  CUSTOS_RETURN_IF_ERROR(Uint32Field(s, p, "droppedAttributesCount", "dropped_attributes_count", &n));
  out->set_dropped_attributes_count(n);
  n = 0;
  CUSTOS_RETURN_IF_ERROR(Uint32Field(s, p, "droppedEventsCount", "dropped_events_count", &n));
  out->set_dropped_events_count(n);
  n = 0;
  CUSTOS_RETURN_IF_ERROR(Uint32Field(s, p, "droppedLinksCount", "dropped_links_count", &n));
  out->set_dropped_links_count(n);
  auto event = [&](const json& e, const Path& pe) -> Status {
    CUSTOS_RETURN_IF_ERROR(ExpectObject(e, pe));
    pb::Span::Event* ev = out->add_events();
    uint64_t et = 0;
    CUSTOS_RETURN_IF_ERROR(Fixed64Field(e, pe, "timeUnixNano", "time_unix_nano", &et));
    ev->set_time_unix_nano(et);
    CUSTOS_RETURN_IF_ERROR(StringField(e, pe, "name", nullptr, ev->mutable_name()));
    return KeyValues(e, pe, "attributes", ev->mutable_attributes());
  };
  CUSTOS_RETURN_IF_ERROR(ForEach(s, p, "events", nullptr, event));
  auto link = [&](const json& l, const Path& pl) -> Status {
    CUSTOS_RETURN_IF_ERROR(ExpectObject(l, pl));
    pb::Span::Link* out_link = out->add_links();
    CUSTOS_RETURN_IF_ERROR(HexField(l, pl, "traceId", "trace_id", out_link->mutable_trace_id()));
    CUSTOS_RETURN_IF_ERROR(HexField(l, pl, "spanId", "span_id", out_link->mutable_span_id()));
    return KeyValues(l, pl, "attributes", out_link->mutable_attributes());
  };
  CUSTOS_RETURN_IF_ERROR(ForEach(s, p, "links", nullptr, link));
  if (std::optional<json> st = Get(s, "status")) {
    Path ps = p.Field("status");
    CUSTOS_RETURN_IF_ERROR(ExpectObject(*st, ps));
    CUSTOS_RETURN_IF_ERROR(StringField(*st, ps, "message", nullptr, out->mutable_status()->mutable_message()));
    if (std::optional<json> c = Get(*st, "code")) {
      int32_t code = 0;
      CUSTOS_RETURN_IF_ERROR(Enum(*c, ps.Field("code"), kStatusCodes, &code));
      out->mutable_status()->set_code(static_cast<pb::Status::StatusCode>(code));
    }
  }
  return Status::Ok();
}

Status LogRecord(const json& l, const Path& p, pb::LogRecord* out) {
  CUSTOS_RETURN_IF_ERROR(ExpectObject(l, p));
  uint64_t t = 0;
  CUSTOS_RETURN_IF_ERROR(Fixed64Field(l, p, "timeUnixNano", "time_unix_nano", &t));
  out->set_time_unix_nano(t);
  t = 0;
  CUSTOS_RETURN_IF_ERROR(Fixed64Field(l, p, "observedTimeUnixNano", "observed_time_unix_nano", &t));
  out->set_observed_time_unix_nano(t);
  if (std::optional<json> sev = Get(l, "severityNumber", "severity_number")) {
    int32_t n = 0;
    CUSTOS_RETURN_IF_ERROR(Enum(*sev, p.Field("severityNumber"), kSeverities, &n));
    out->set_severity_number(n);
  }
  CUSTOS_RETURN_IF_ERROR(StringField(l, p, "severityText", "severity_text", out->mutable_severity_text()));
  if (std::optional<json> body = Get(l, "body")) CUSTOS_RETURN_IF_ERROR(AnyValue(*body, p.Field("body"), out->mutable_body()));
  CUSTOS_RETURN_IF_ERROR(KeyValues(l, p, "attributes", out->mutable_attributes()));
  uint32_t n = 0;
  CUSTOS_RETURN_IF_ERROR(Uint32Field(l, p, "droppedAttributesCount", "dropped_attributes_count", &n));
  out->set_dropped_attributes_count(n);
  uint32_t flags = 0;
  CUSTOS_RETURN_IF_ERROR(Uint32Field(l, p, "flags", nullptr, &flags));
  out->set_flags(flags);
  CUSTOS_RETURN_IF_ERROR(HexField(l, p, "traceId", "trace_id", out->mutable_trace_id()));
  CUSTOS_RETURN_IF_ERROR(HexField(l, p, "spanId", "span_id", out->mutable_span_id()));
  return StringField(l, p, "eventName", "event_name", out->mutable_event_name());
}

// Refuses nesting deeper than kMaxJsonDepth before the parser builds it.
Status CheckDepth(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        return InvalidArgument("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels at byte " +
                               std::to_string(i));
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return Status::Ok();
}

// The document's root object. The parser (and so the elements it hands
// out) is the calling thread's: valid until its next ParseDocument.
Result<json> ParseDocument(std::string_view body) {
  CUSTOS_RETURN_IF_ERROR(CheckDepth(body));
  thread_local simdjson::dom::parser parser;
  json doc;
  if (auto error = parser.parse(body.data(), body.size()).get(doc)) {
    return InvalidArgument(std::string("not JSON: ") + simdjson::error_message(error));
  }
  if (!IsObject(doc)) return InvalidArgument(std::string("expected a JSON object, got ") + TypeName(doc));
  return doc;
}

}  // namespace

Result<pb::ExportTraceServiceRequest> ParseTraceRequestJson(std::string_view body) {
  CUSTOS_ASSIGN_OR_RETURN(json doc, ParseDocument(body));
  pb::ExportTraceServiceRequest req;
  Status s = ForEach(doc, kRoot, "resourceSpans", "resource_spans", [&](const json& rs, const Path& p) -> Status {
    CUSTOS_RETURN_IF_ERROR(ExpectObject(rs, p));
    pb::ResourceSpans* out = req.add_resource_spans();
    CUSTOS_RETURN_IF_ERROR(Resource(rs, p, out->mutable_resource()));
    CUSTOS_RETURN_IF_ERROR(StringField(rs, p, "schemaUrl", "schema_url", out->mutable_schema_url()));
    return ForEach(rs, p, "scopeSpans", "scope_spans", [&](const json& ss, const Path& ps) -> Status {
      CUSTOS_RETURN_IF_ERROR(ExpectObject(ss, ps));
      pb::ScopeSpans* scope = out->add_scope_spans();
      CUSTOS_RETURN_IF_ERROR(Scope(ss, ps, scope->mutable_scope()));
      return ForEach(ss, ps, "spans", nullptr,
                     [&](const json& span, const Path& pspan) { return Span(span, pspan, scope->add_spans()); });
    });
  });
  if (!s.ok()) return s;
  return req;
}

Result<pb::ExportLogsServiceRequest> ParseLogsRequestJson(std::string_view body) {
  CUSTOS_ASSIGN_OR_RETURN(json doc, ParseDocument(body));
  pb::ExportLogsServiceRequest req;
  Status s = ForEach(doc, kRoot, "resourceLogs", "resource_logs", [&](const json& rl, const Path& p) -> Status {
    CUSTOS_RETURN_IF_ERROR(ExpectObject(rl, p));
    pb::ResourceLogs* out = req.add_resource_logs();
    CUSTOS_RETURN_IF_ERROR(Resource(rl, p, out->mutable_resource()));
    CUSTOS_RETURN_IF_ERROR(StringField(rl, p, "schemaUrl", "schema_url", out->mutable_schema_url()));
    return ForEach(rl, p, "scopeLogs", "scope_logs", [&](const json& sl, const Path& ps) -> Status {
      CUSTOS_RETURN_IF_ERROR(ExpectObject(sl, ps));
      pb::ScopeLogs* scope = out->add_scope_logs();
      CUSTOS_RETURN_IF_ERROR(Scope(sl, ps, scope->mutable_scope()));
      return ForEach(sl, ps, "logRecords", "log_records",
                     [&](const json& l, const Path& pl) { return LogRecord(l, pl, scope->add_log_records()); });
    });
  });
  if (!s.ok()) return s;
  return req;
}

namespace {
std::string Dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }
}  // namespace

std::string TraceResponseJson(const pb::ExportTraceServiceResponse& response) {
  nlohmann::json j = nlohmann::json::object();
  if (response.has_partial_success()) {
    j["partialSuccess"] = {{"rejectedSpans", std::to_string(response.partial_success().rejected_spans())},
                           {"errorMessage", response.partial_success().error_message()}};
  }
  return Dump(j);
}

std::string LogsResponseJson(const pb::ExportLogsServiceResponse& response) {
  nlohmann::json j = nlohmann::json::object();
  if (response.has_partial_success()) {
    j["partialSuccess"] = {{"rejectedLogRecords", std::to_string(response.partial_success().rejected_log_records())},
                           {"errorMessage", response.partial_success().error_message()}};
  }
  return Dump(j);
}

std::string RpcStatusJson(const pb::RpcStatus& status) {
  return Dump(nlohmann::json{{"code", status.code()}, {"message", status.message()}});
}

}  // namespace custos::agent::otlp
