#include "agent/sources/otlp/otlp_json.h"

#include <gtest/gtest.h>

#include <cmath>

namespace custos::agent::otlp {
namespace {

// The trace example of the OTLP spec (examples/trace.json), plus a value of
// each type and 64-bit integers both as strings and as numbers.
constexpr char kTraceJson[] = R"({
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0",
                "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "kind": 2,
        "attributes": [
          {"key": "my.span.attr", "value": {"stringValue": "some value"}},
          {"key": "i", "value": {"intValue": "-42"}},
          {"key": "d", "value": {"doubleValue": 2.5}},
          {"key": "b", "value": {"boolValue": true}},
          {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": 7}]}}},
          {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": false}}]}}},
          {"key": "raw", "value": {"bytesValue": "aGk="}},
          {"key": "empty", "value": {}}
        ],
        "events": [{"timeUnixNano": "1544712660500000000", "name": "ev"}],
        "links": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b170"}],
        "status": {"code": 2, "message": "boom"},
        "someFutureField": {"ignored": true}
      }]
    }]
  }]
})";

TEST(OtlpJsonTest, DecodesTheSpecExample) {
  auto req = ParseTraceRequestJson(kTraceJson);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  ASSERT_EQ(req->resource_spans_size(), 1);
  const auto& rs = req->resource_spans(0);
  EXPECT_EQ(rs.resource().attributes(0).key(), "service.name");
  EXPECT_EQ(rs.resource().attributes(0).value().string_value(), "my.service");
  EXPECT_EQ(rs.scope_spans(0).scope().name(), "my.library");
  EXPECT_EQ(rs.scope_spans(0).scope().version(), "1.0.0");
  const otlp_compat::Span& s = rs.scope_spans(0).spans(0);
  EXPECT_EQ(s.trace_id(), std::string("\x5b\x8e\xff\xf7\x98\x03\x81\x03\xd2\x69\xb6\x33\x81\x3f\xc6\x0c", 16));
  EXPECT_EQ(s.span_id(), std::string("\xee\xe1\x9b\x7e\xc3\xc1\xb1\x74", 8));
  EXPECT_EQ(s.parent_span_id(), std::string("\xee\xe1\x9b\x7e\xc3\xc1\xb1\x73", 8));
  EXPECT_EQ(s.name(), "I'm a server span");
  EXPECT_EQ(s.start_time_unix_nano(), 1544712660000000000u);
  EXPECT_EQ(s.end_time_unix_nano(), 1544712661000000000u);
  EXPECT_EQ(s.kind(), otlp_compat::Span::SPAN_KIND_SERVER);
  ASSERT_EQ(s.attributes_size(), 8);
  EXPECT_EQ(s.attributes(1).value().int_value(), -42);
  EXPECT_EQ(s.attributes(2).value().double_value(), 2.5);
  EXPECT_TRUE(s.attributes(3).value().bool_value());
  EXPECT_EQ(s.attributes(4).value().array_value().values(1).int_value(), 7);
  EXPECT_FALSE(s.attributes(5).value().kvlist_value().values(0).value().bool_value());
  EXPECT_EQ(s.attributes(6).value().bytes_value(), "hi");
  EXPECT_EQ(s.attributes(7).value().value_case(), otlp_compat::AnyValue::VALUE_NOT_SET);
  EXPECT_EQ(s.events_size(), 1);
  EXPECT_EQ(s.links_size(), 1);
  EXPECT_EQ(s.status().code(), otlp_compat::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(s.status().message(), "boom");
}

TEST(OtlpJsonTest, AcceptsEnumNamesSnakeCaseNullsAndSpecialDoubles) {
  auto req = ParseTraceRequestJson(R"({"resource_spans": [{"scope_spans": [{"spans": [{
      "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174", "parentSpanId": "",
      "kind": "SPAN_KIND_CLIENT", "status": {"code": "STATUS_CODE_OK"}, "name": null,
      "attributes": [{"key": "nan", "value": {"doubleValue": "NaN"}},
                     {"key": "big", "value": {"intValue": 9223372036854775807}}]}]}]}]})");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  const otlp_compat::Span& s = req->resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(s.kind(), otlp_compat::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(s.status().code(), otlp_compat::Status::STATUS_CODE_OK);
  EXPECT_EQ(s.span_id().size(), 8u);
  EXPECT_TRUE(s.parent_span_id().empty());
  EXPECT_TRUE(s.name().empty());
  EXPECT_TRUE(std::isnan(s.attributes(0).value().double_value()));
  EXPECT_EQ(s.attributes(1).value().int_value(), INT64_MAX);
}

TEST(OtlpJsonTest, EmptyDocumentIsAnEmptyRequest) {
  auto req = ParseTraceRequestJson("{}");
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->resource_spans_size(), 0);
}

TEST(OtlpJsonTest, DecodesLogs) {
  auto req = ParseLogsRequestJson(R"({"resourceLogs": [{
      "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
      "scopeLogs": [{"scope": {"name": "logger"}, "logRecords": [{
        "timeUnixNano": "1544712660300000000", "observedTimeUnixNano": 1544712660300000001,
        "severityNumber": "SEVERITY_NUMBER_WARN2", "severityText": "Warning",
        "body": {"stringValue": "disk almost full"},
        "attributes": [{"key": "disk", "value": {"stringValue": "/dev/sda"}}],
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
        "flags": 1, "eventName": "disk.full"}]}]}]})");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  const otlp_compat::LogRecord& l = req->resource_logs(0).scope_logs(0).log_records(0);
  EXPECT_EQ(l.time_unix_nano(), 1544712660300000000u);
  EXPECT_EQ(l.observed_time_unix_nano(), 1544712660300000001u);
  EXPECT_EQ(l.severity_number(), 14);
  EXPECT_EQ(l.severity_text(), "Warning");
  EXPECT_EQ(l.body().string_value(), "disk almost full");
  EXPECT_EQ(l.trace_id().size(), 16u);
  EXPECT_EQ(l.span_id().size(), 8u);
  EXPECT_EQ(l.flags(), 1u);
  EXPECT_EQ(l.event_name(), "disk.full");
}

struct BadJsonCase {
  const char* name;
  std::string body;
  const char* error;  // a substring of the message
};

std::string SpanJson(const std::string& fields) {
  return R"({"resourceSpans": [{"scopeSpans": [{"spans": [{)" + fields + "}]}]}]}";
}

TEST(OtlpJsonTest, RefusesBadDocumentsNamingWhere) {
  const std::vector<BadJsonCase> cases = {
      {"not_json", "{\"resourceSpans\": [", "not JSON"},
      {"garbage", "\x01\x02garbage", "not JSON"},
      {"invalid_utf8", "{\"resourceSpans\": [], \"x\": \"\xff\xfe\"}", "not JSON"},
      {"top_level_array", "[]", "expected a JSON object, got array"},
      {"resource_spans_not_array", R"({"resourceSpans": {}})", "resourceSpans: expected an array, got object"},
      {"span_not_object", R"({"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]})",
       "resourceSpans[0].scopeSpans[0].spans[0]: expected an object, got number"},
      {"trace_id_number", SpanJson(R"("traceId": 5)"), "spans[0].traceId: expected a hex string, got number"},
      {"trace_id_not_hex", SpanJson(R"("traceId": "zz8efff798038103d269b633813fc60c")"), "traceId: not hex"},
      {"trace_id_odd", SpanJson(R"("traceId": "abc")"), "traceId: odd number of hex digits"},
      {"time_not_integer", SpanJson(R"("startTimeUnixNano": "abc")"), "startTimeUnixNano: expected an integer"},
      {"time_negative", SpanJson(R"("startTimeUnixNano": -1)"), "startTimeUnixNano: negative value"},
      {"time_fraction", SpanJson(R"("startTimeUnixNano": 1.5)"), "startTimeUnixNano: expected an integer"},
      {"time_bool", SpanJson(R"("endTimeUnixNano": true)"), "endTimeUnixNano: expected an integer"},
      {"kind_unknown", SpanJson(R"("kind": "SPAN_KIND_BOGUS")"), "kind: unknown enum value"},
      {"name_number", SpanJson(R"("name": 12)"), "spans[0].name: expected a string, got number"},
      {"int_value_bool", SpanJson(R"("attributes": [{"key": "k", "value": {"intValue": true}}])"),
       "attributes[0].value.intValue: expected an integer"},
      {"int_value_overflow", SpanJson(R"("attributes": [{"key": "k", "value": {"intValue": "9223372036854775808"}}])"),
       "intValue: expected an integer"},
      {"bool_value_string", SpanJson(R"("attributes": [{"key": "k", "value": {"boolValue": "true"}}])"),
       "boolValue: expected true or false"},
      {"bytes_not_base64", SpanJson(R"("attributes": [{"key": "k", "value": {"bytesValue": "!!"}}])"),
       "bytesValue: not base64"},
      {"attributes_not_array", SpanJson(R"("attributes": {"k": "v"})"), "attributes: expected an array"},
      {"status_not_object", SpanJson(R"("status": 2)"), "status: expected an object"},
      {"dropped_too_big", SpanJson(R"("droppedAttributesCount": 4294967296)"), "integer out of range"},
      {"too_deep", std::string(200, '[') + std::string(200, ']'), "nested deeper than"},
  };
  for (const BadJsonCase& c : cases) {
    auto req = ParseTraceRequestJson(c.body);
    ASSERT_FALSE(req.ok()) << c.name;
    EXPECT_EQ(req.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(req.status().message().find(c.error), std::string::npos)
        << c.name << ": " << req.status().message();
  }
}

TEST(OtlpJsonTest, DepthCheckIgnoresBracketsInStrings) {
  std::string many(500, '[');
  auto req = ParseTraceRequestJson(R"({"resourceSpans": [], "note": ")" + many + R"("})");
  EXPECT_TRUE(req.ok()) << req.status().ToString();
}

TEST(OtlpJsonTest, RendersResponses) {
  otlp_compat::ExportTraceServiceResponse ok;
  EXPECT_EQ(TraceResponseJson(ok), "{}");
  otlp_compat::ExportTraceServiceResponse partial;
  partial.mutable_partial_success()->set_rejected_spans(2);
  partial.mutable_partial_success()->set_error_message("bad ids");
  EXPECT_EQ(TraceResponseJson(partial), R"({"partialSuccess":{"errorMessage":"bad ids","rejectedSpans":"2"}})");
  otlp_compat::ExportLogsServiceResponse logs;
  logs.mutable_partial_success()->set_rejected_log_records(1);
  EXPECT_EQ(LogsResponseJson(logs), R"({"partialSuccess":{"errorMessage":"","rejectedLogRecords":"1"}})");
  otlp_compat::RpcStatus status;
  status.set_code(3);
  status.set_message("bad");
  EXPECT_EQ(RpcStatusJson(status), R"({"code":3,"message":"bad"})");
}

}  // namespace
}  // namespace custos::agent::otlp
