// OTLP/JSON: the JSON encoding of the OTLP export requests and responses
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding), decoded
// into the compat messages so that JSON and protobuf share one mapping.
//
//   Result<otlp_compat::ExportTraceServiceRequest> req = ParseTraceRequestJson(body);
//   if (!req.ok()) { /* 400 with req.status().message() */ }
//
// OTLP/JSON differs from the standard protobuf JSON mapping, so the protobuf
// JSON parser cannot be used:
//   - trace and span ids are hex strings (32 and 16 digits), not base64;
//   - enums are integers (the names, e.g. "SPAN_KIND_SERVER", are accepted too);
//   - 64-bit integers may be JSON numbers or decimal strings;
//   - keys are lowerCamelCase (snake_case accepted too); unknown keys are
//     ignored; null is the same as absent.
// A value of the wrong type, a bad hex id, bad base64 or nesting deeper than
// kMaxJsonDepth is INVALID_ARGUMENT naming the path of the value
// (e.g. "resourceSpans[0].scopeSpans[0].spans[3].traceId: ...").
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "agent/sources/otlp/otlp_compat.pb.h"
#include "common/status.h"

namespace custos::agent::otlp {

inline constexpr int kMaxJsonDepth = 64;

Result<otlp_compat::ExportTraceServiceRequest> ParseTraceRequestJson(std::string_view body);
Result<otlp_compat::ExportLogsServiceRequest> ParseLogsRequestJson(std::string_view body);

// Responses, in the same encoding: {} on full success, else
// {"partialSuccess":{"rejectedSpans":"2","errorMessage":"..."}}.
std::string TraceResponseJson(const otlp_compat::ExportTraceServiceResponse& response);
std::string LogsResponseJson(const otlp_compat::ExportLogsServiceResponse& response);
// {"code":3,"message":"..."} (google.rpc.Status).
std::string RpcStatusJson(const otlp_compat::RpcStatus& status);

}  // namespace custos::agent::otlp
