// Maps decoded OTLP export requests (the compat messages of otlp_compat.proto)
// to custos records: each span becomes a v1::Span, each log record a
// v1::LogRecord, each distinct OTLP resource a v1::Resource interned with the
// batcher.
//
//   RecordMapper mapper(context.node, [&](const v1::Resource& r) { return batcher.InternResource(r); },
//                       {.max_record_bytes = 256 << 10});
//   MapResult m = mapper.MapTraces(request);
//   // m.records go to the batcher; m.rejected + m.first_error go back to the
//   // client as partial_success.
//
// Mapping:
//   - resource: the node's identity (node_id, hostname, region, zone, labels)
//     plus service.name → service_name, container.id → container_id and every
//     other attribute as a label (a node label of the same name wins: an
//     application cannot relabel its node).
//   - span: ids, parent id, name, kind, start/end, status code and message;
//     attributes flattened to strings (arrays and maps as JSON text, bytes as
//     base64); otel.scope.name / otel.scope.version; otel.trace_state;
//     otel.event_count / otel.link_count and otel.dropped_*_count when non-zero
//     (events and links themselves have no place in v1::Span).
//   - log: time (observed time when unset, receive time when both are), the
//     severity number folded onto v1::Severity, the body as the message (JSON
//     text when not a string), attributes as fields, trace and span ids.
//   - invalid UTF-8 in any string is replaced by U+FFFD (OTLP requires UTF-8;
//     a record with invalid UTF-8 would poison the whole batch downstream).
//
// Rejected (counted, never mapped): a span whose trace_id is not 16 non-zero
// bytes, span_id not 8 non-zero bytes, or parent_span_id neither empty nor 8
// bytes; a log record whose ids are present with a wrong length; any record
// that encodes to more than max_record_bytes; every record of a resource that
// encodes (as a v1::Resource, node identity included) to more than
// max_resource_bytes; the records of a request once the records mapped before
// them total max_mapped_bytes (what is copied onto each record, the scope
// name and the overflow "resource." attributes, could otherwise turn an 8MiB
// body into gigabytes).
//
// Bounds: at most max_resources distinct resources are interned over the
// mapper's life (the batcher keeps every interned resource for good, so the
// batcher and the mapper's cache each hold at most max_resources *
// max_resource_bytes); the records of further resources point at the node
// resource and carry the resource attributes prefixed "resource." instead,
// counted in resources_overflowed(). Resources are compared by value
// (DeterministicKey: attribute order does not matter); a known resource is
// found in the mapper's own cache without calling `intern`.
//
// Thread-safe: Map* may be called from several threads at once. `intern` is
// called with the mapper's lock held (so the max_resources bound is exact):
// it must not call back into the mapper.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/sources/otlp/otlp_compat.pb.h"
#include "custos/v1/records.pb.h"

namespace custos::agent::otlp {

struct MapperOptions {
  size_t max_record_bytes = 256 << 10;
  size_t max_resources = 1000;
  size_t max_resource_bytes = 16 << 10;
  size_t max_mapped_bytes = 64 << 20;  // per request
};

struct MapResult {
  std::vector<v1::Record> records;
  int64_t rejected = 0;
  std::string first_error;  // why the first rejected record was rejected
};

class RecordMapper {
 public:
  using InternFn = std::function<uint32_t(const v1::Resource&)>;

  RecordMapper(const v1::Resource& node, InternFn intern, MapperOptions options);
  RecordMapper(const RecordMapper&) = delete;
  RecordMapper& operator=(const RecordMapper&) = delete;

  MapResult MapTraces(const otlp_compat::ExportTraceServiceRequest& request);
  // `now_unix_nanos` stamps log records that carry neither time.
  MapResult MapLogs(const otlp_compat::ExportLogsServiceRequest& request, int64_t now_unix_nanos);

  uint64_t resources_overflowed() const { return resources_overflowed_.load(); }

 private:
  struct ResourceRef {
    uint32_t ref = 0;
    // Attributes to put on each record when the resource could not be interned.
    std::vector<std::pair<std::string, std::string>> overflow_attributes;
    // Non-empty: the resource is above max_resource_bytes; its records are rejected with this.
    std::string rejected;
  };
  ResourceRef Intern(const otlp_compat::Resource& resource);
  // Adds `bytes` to `*mapped_bytes`, or rejects the record when that passes max_mapped_bytes.
  bool TakeBytes(MapResult* result, size_t* mapped_bytes, size_t bytes) const;

  // constant after construction
  const v1::Resource node_;
  const InternFn intern_;
  const MapperOptions options_;

  std::mutex mu_;
  // DeterministicKey(v1::Resource) -> the batcher's ref; at most max_resources entries.
  std::unordered_map<std::string, uint32_t> refs_;  // guarded by mu_
  std::atomic<uint64_t> resources_overflowed_{0};
};

// Helpers, exposed for tests and the JSON encoder.

// An attribute value as one string: strings as-is, numbers and booleans in
// their usual text form, bytes as base64, arrays and maps as JSON text.
std::string AnyValueToString(const otlp_compat::AnyValue& value);
// Lower-case hex of `bytes` (ids in messages).
std::string Hex(std::string_view bytes);
// Standard base64 with padding.
std::string Base64(std::string_view bytes);

}  // namespace custos::agent::otlp
