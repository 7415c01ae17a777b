#include "agent/sources/otlp/record_mapper.h"

#include <gtest/gtest.h>

#include <set>

#include "agent/sources/otlp/otlp_testing.h"

namespace custos::agent::otlp {
namespace {

// Interns into a plain vector, like the batcher's table.
struct FakeInterner {
  uint32_t operator()(const v1::Resource& r) {
    calls++;
    for (size_t i = 0; i < resources.size(); ++i) {
      if (resources[i].SerializeAsString() == r.SerializeAsString()) return static_cast<uint32_t>(i);
    }
    resources.push_back(r);
    return static_cast<uint32_t>(resources.size() - 1);
  }
  std::vector<v1::Resource> resources{v1::Resource()};  // ref 0: the node
  int calls = 0;
};

v1::Resource Node() {
  v1::Resource node;
  node.set_node_id("node-1");
  node.set_hostname("host-1");
  node.set_region("eu-west");
  node.set_zone("eu-west-1a");
  (*node.mutable_labels())["env"] = "prod";
  return node;
}

struct MapperTest : ::testing::Test {
  RecordMapper Make(MapperOptions options = {}) {
    return RecordMapper(node, [this](const v1::Resource& r) { return interner(r); }, options);
  }
  v1::Resource node = Node();
  FakeInterner interner;
};

TEST_F(MapperTest, MapsEverySpanField) {
  otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(1);
  otlp_compat::ResourceSpans* rs = req.mutable_resource_spans(0);
  AddAttr(rs->mutable_resource()->mutable_attributes(), "container.id", "c0ffee");
  AddAttr(rs->mutable_resource()->mutable_attributes(), "deployment.environment", "staging");
  AddAttr(rs->mutable_resource()->mutable_attributes(), "env", "app-says-dev");  // the node's label wins
  rs->mutable_scope_spans(0)->mutable_scope()->set_version("2.0");
  otlp_compat::Span* s = rs->mutable_scope_spans(0)->mutable_spans(0);
  s->set_parent_span_id(std::string("\0\0\0\0\0\0\0\x09", 8));
  s->set_kind(otlp_compat::Span::SPAN_KIND_CONSUMER);
  s->set_trace_state("k=v");
  s->mutable_status()->set_code(otlp_compat::Status::STATUS_CODE_ERROR);
  s->mutable_status()->set_message("timeout");
  AddAttr(s->mutable_attributes(), "http.route", "/pay");
  auto* attrs = s->mutable_attributes();
  attrs->Add()->set_key("int");
  attrs->rbegin()->mutable_value()->set_int_value(-7);
  attrs->Add()->set_key("double");
  attrs->rbegin()->mutable_value()->set_double_value(0.25);
  attrs->Add()->set_key("bool");
  attrs->rbegin()->mutable_value()->set_bool_value(true);
  attrs->Add()->set_key("bytes");
  attrs->rbegin()->mutable_value()->set_bytes_value(std::string("\x00\xff", 2));
  otlp_compat::AnyValue* arr = attrs->Add()->mutable_value();
  attrs->rbegin()->set_key("array");
  arr->mutable_array_value()->add_values()->set_string_value("a\"b");
  arr->mutable_array_value()->add_values()->set_int_value(3);
  otlp_compat::AnyValue* kv = attrs->Add()->mutable_value();
  attrs->rbegin()->set_key("map");
  AddAttr(kv->mutable_kvlist_value()->mutable_values(), "x", "y");
  s->add_events()->set_name("e1");
  s->add_events()->set_name("e2");
  s->add_links();
  s->set_dropped_attributes_count(4);

  RecordMapper mapper = Make();
  MapResult m = mapper.MapTraces(req);
  ASSERT_EQ(m.rejected, 0) << m.first_error;
  ASSERT_EQ(m.records.size(), 1u);
  const v1::Span& span = m.records[0].span();
  EXPECT_EQ(span.trace_id(), req.resource_spans(0).scope_spans(0).spans(0).trace_id());
  EXPECT_EQ(span.span_id(), std::string("\0\0\0\0\0\0\0\x01", 8));
  EXPECT_EQ(span.parent_span_id(), std::string("\0\0\0\0\0\0\0\x09", 8));
  EXPECT_EQ(span.name(), "span-0");
  EXPECT_EQ(span.kind(), v1::Span::KIND_CONSUMER);
  EXPECT_EQ(span.start_time_unix_nano(), 1000u);
  EXPECT_EQ(span.end_time_unix_nano(), 2000u);
  EXPECT_EQ(span.status_code(), v1::Span::STATUS_ERROR);
  EXPECT_EQ(span.status_message(), "timeout");
  const auto& a = span.attributes();
  EXPECT_EQ(a.at("http.route"), "/pay");
  EXPECT_EQ(a.at("int"), "-7");
  EXPECT_EQ(a.at("double"), "0.25");
  EXPECT_EQ(a.at("bool"), "true");
  EXPECT_EQ(a.at("bytes"), "AP8=");
  EXPECT_EQ(a.at("array"), R"(["a\"b",3])");
  EXPECT_EQ(a.at("map"), R"({"x":"y"})");
  EXPECT_EQ(a.at("otel.scope.name"), "test-scope");
  EXPECT_EQ(a.at("otel.scope.version"), "2.0");
  EXPECT_EQ(a.at("otel.trace_state"), "k=v");
  EXPECT_EQ(a.at("otel.event_count"), "2");
  EXPECT_EQ(a.at("otel.link_count"), "1");
  EXPECT_EQ(a.at("otel.dropped_attributes_count"), "4");
  EXPECT_EQ(a.count("otel.dropped_events_count"), 0u);

  ASSERT_EQ(span.resource_ref(), 1u);
  const v1::Resource& r = interner.resources[1];
  EXPECT_EQ(r.node_id(), "node-1");
  EXPECT_EQ(r.hostname(), "host-1");
  EXPECT_EQ(r.region(), "eu-west");
  EXPECT_EQ(r.zone(), "eu-west-1a");
  EXPECT_EQ(r.service_name(), "checkout");
  EXPECT_EQ(r.container_id(), "c0ffee");
  EXPECT_EQ(r.labels().at("deployment.environment"), "staging");
  EXPECT_EQ(r.labels().at("env"), "prod");
  EXPECT_EQ(r.labels().count("service.name"), 0u);
}

TEST_F(MapperTest, OneResourcePerDistinctOtlpResource) {
  otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(2, "a");
  *req.add_resource_spans() = MakeTraceRequest(1, "b").resource_spans(0);
  *req.add_resource_spans() = MakeTraceRequest(1, "a").resource_spans(0);
  RecordMapper mapper = Make();
  MapResult m = mapper.MapTraces(req);
  ASSERT_EQ(m.records.size(), 4u);
  EXPECT_EQ(m.records[0].span().resource_ref(), m.records[1].span().resource_ref());
  EXPECT_NE(m.records[0].span().resource_ref(), m.records[2].span().resource_ref());
  EXPECT_EQ(m.records[0].span().resource_ref(), m.records[3].span().resource_ref());
  EXPECT_EQ(interner.resources.size(), 3u);  // node + a + b
}

TEST_F(MapperTest, ResourcesPastTheBoundFallBackToTheNode) {
  RecordMapper mapper = Make({.max_resources = 2});
  for (const char* service : {"a", "b", "c", "a"}) {
    MapResult m = mapper.MapTraces(MakeTraceRequest(1, service));
    ASSERT_EQ(m.records.size(), 1u);
    const v1::Span& span = m.records[0].span();
    if (std::string(service) == "c") {
      EXPECT_EQ(span.resource_ref(), 0u);
      EXPECT_EQ(span.attributes().at("resource.service.name"), "c");
    } else {
      EXPECT_NE(span.resource_ref(), 0u) << service;
      EXPECT_EQ(span.attributes().count("resource.service.name"), 0u);
    }
  }
  EXPECT_EQ(mapper.resources_overflowed(), 1u);
  EXPECT_EQ(interner.resources.size(), 3u);
}

TEST_F(MapperTest, AKnownResourceComesFromTheCacheWhateverItsAttributeOrder) {
  // Many attributes: the labels map of two equal resources is then very
  // likely to serialize in two different orders.
  constexpr int kAttrs = 40;
  auto request = [](bool reversed) {
    otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(1, "svc");
    auto* attrs = req.mutable_resource_spans(0)->mutable_resource()->mutable_attributes();
    for (int n = 0; n < kAttrs; ++n) {
      const int i = reversed ? kAttrs - 1 - n : n;
      AddAttr(attrs, "attr." + std::to_string(i), "value-" + std::to_string(i));
    }
    return req;
  };
  RecordMapper mapper = Make();
  std::set<uint32_t> refs;
  for (int round = 0; round < 6; ++round) {
    MapResult m = mapper.MapTraces(request(round % 2 == 1));
    ASSERT_EQ(m.records.size(), 1u);
    refs.insert(m.records[0].span().resource_ref());
  }
  EXPECT_EQ(refs, std::set<uint32_t>{1});
  EXPECT_EQ(interner.calls, 1);  // later requests never reach the batcher's table
  EXPECT_EQ(interner.resources.size(), 2u);
}

TEST_F(MapperTest, RecordsOfAResourceAboveMaxResourceBytesAreRejected) {
  otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(2, "huge");
  AddAttr(req.mutable_resource_spans(0)->mutable_resource()->mutable_attributes(), "blob", std::string(20000, 'b'));
  *req.add_resource_spans() = MakeTraceRequest(1, "small").resource_spans(0);
  RecordMapper mapper = Make({.max_resource_bytes = 16 << 10});
  MapResult m = mapper.MapTraces(req);
  EXPECT_EQ(m.rejected, 2);
  EXPECT_NE(m.first_error.find("resource of service 'huge' is"), std::string::npos) << m.first_error;
  EXPECT_NE(m.first_error.find("above max_resource_bytes 16384"), std::string::npos) << m.first_error;
  ASSERT_EQ(m.records.size(), 1u);
  EXPECT_EQ(interner.resources[m.records[0].span().resource_ref()].service_name(), "small");
  ASSERT_EQ(interner.resources.size(), 2u);  // the huge one was never interned

  otlp_compat::ExportLogsServiceRequest logs;
  otlp_compat::ResourceLogs* rl = logs.add_resource_logs();
  AddAttr(rl->mutable_resource()->mutable_attributes(), "blob", std::string(20000, 'b'));
  rl->add_scope_logs()->add_log_records();
  rl->add_scope_logs()->add_log_records();
  m = mapper.MapLogs(logs, 1);
  EXPECT_EQ(m.rejected, 2);
  EXPECT_TRUE(m.records.empty());
  EXPECT_NE(m.first_error.find("above max_resource_bytes"), std::string::npos) << m.first_error;
  EXPECT_EQ(mapper.resources_overflowed(), 0u);
}

TEST_F(MapperTest, WhatARequestMapsToIsBounded) {
  // Past max_resources, each record carries its resource's attributes: a
  // small request of many spans would map to many times its size.
  RecordMapper mapper = Make({.max_resources = 1, .max_mapped_bytes = 100 << 10});
  ASSERT_EQ(mapper.MapTraces(MakeTraceRequest(1, "first")).records.size(), 1u);
  otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(100, "second");
  AddAttr(req.mutable_resource_spans(0)->mutable_resource()->mutable_attributes(), "blob", std::string(8000, 'b'));
  MapResult m = mapper.MapTraces(req);
  EXPECT_EQ(mapper.resources_overflowed(), 1u);
  ASSERT_EQ(m.records.size(), 12u);  // 12 spans of ~8KB fit in 100KiB
  EXPECT_EQ(m.records[0].span().attributes().at("resource.blob").size(), 8000u);
  EXPECT_EQ(m.rejected, 88);
  EXPECT_NE(m.first_error.find("more than max_mapped_bytes (102400)"), std::string::npos) << m.first_error;
  size_t total = 0;
  for (const v1::Record& r : m.records) total += r.ByteSizeLong();
  EXPECT_LE(total, 100u << 10);
}

TEST_F(MapperTest, RejectsSpansWithBadIds) {
  struct Case {
    const char* name;
    std::function<void(otlp_compat::Span*)> mutate;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"short_trace_id", [](auto* s) { s->set_trace_id(std::string(15, 'x')); }, "trace_id must be 16 bytes"},
      {"zero_trace_id", [](auto* s) { s->set_trace_id(std::string(16, '\0')); }, "not all zero"},
      {"no_span_id", [](auto* s) { s->clear_span_id(); }, "span_id must be 8 bytes"},
      {"zero_span_id", [](auto* s) { s->set_span_id(std::string(8, '\0')); }, "span_id must be 8 bytes"},
      {"long_span_id", [](auto* s) { s->set_span_id(std::string(9, 'x')); }, "(got 9 bytes)"},
      {"bad_parent", [](auto* s) { s->set_parent_span_id("abc"); }, "parent_span_id must be empty or 8 bytes"},
  };
  for (const Case& c : cases) {
    otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(3);
    c.mutate(req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1));
    RecordMapper mapper = Make();
    MapResult m = mapper.MapTraces(req);
    EXPECT_EQ(m.rejected, 1) << c.name;
    ASSERT_EQ(m.records.size(), 2u) << c.name;
    EXPECT_EQ(m.records[0].span().name(), "span-0");
    EXPECT_EQ(m.records[1].span().name(), "span-2");
    EXPECT_NE(m.first_error.find(c.error), std::string::npos) << c.name << ": " << m.first_error;
    EXPECT_NE(m.first_error.find("span-1"), std::string::npos) << c.name << ": " << m.first_error;
  }
}

TEST_F(MapperTest, RejectsRecordsAboveMaxRecordBytes) {
  otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(2);
  AddAttr(req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->mutable_attributes(), "big",
          std::string(5000, 'x'));
  RecordMapper mapper = Make({.max_record_bytes = 4096});
  MapResult m = mapper.MapTraces(req);
  EXPECT_EQ(m.rejected, 1);
  ASSERT_EQ(m.records.size(), 1u);
  EXPECT_EQ(m.records[0].span().name(), "span-1");
  EXPECT_NE(m.first_error.find("above max_record_bytes 4096"), std::string::npos) << m.first_error;
}

TEST_F(MapperTest, RepairsInvalidUtf8) {
  otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(1, "svc\xff");
  otlp_compat::Span* s = req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0);
  s->set_name("bad\xc3");
  AddAttr(s->mutable_attributes(), "k\xfe", "v\xed\xa0\x80");  // a UTF-16 surrogate, not allowed in UTF-8
  RecordMapper mapper = Make();
  MapResult m = mapper.MapTraces(req);
  ASSERT_EQ(m.records.size(), 1u);
  const v1::Span& span = m.records[0].span();
  EXPECT_EQ(span.name(), "bad\xEF\xBF\xBD");
  EXPECT_EQ(span.attributes().at("k\xEF\xBF\xBD"), "v\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(interner.resources[span.resource_ref()].service_name(), "svc\xEF\xBF\xBD");
  // The record is a valid proto3 message again: it parses back.
  v1::Record back;
  EXPECT_TRUE(back.ParseFromString(m.records[0].SerializeAsString()));
}

TEST_F(MapperTest, MapsLogs) {
  otlp_compat::ExportLogsServiceRequest req;
  otlp_compat::ResourceLogs* rl = req.add_resource_logs();
  AddAttr(rl->mutable_resource()->mutable_attributes(), "service.name", "api");
  otlp_compat::ScopeLogs* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("logger");
  otlp_compat::LogRecord* l = sl->add_log_records();
  l->set_time_unix_nano(5);
  l->set_severity_number(18);  // ERROR2
  l->set_severity_text("E");
  l->mutable_body()->set_string_value("it broke");
  AddAttr(l->mutable_attributes(), "user", "u1");
  l->set_trace_id(std::string(16, '\x01'));
  l->set_span_id(std::string(8, '\x02'));
  otlp_compat::LogRecord* l2 = sl->add_log_records();  // no times; a map body
  AddAttr(l2->mutable_body()->mutable_kvlist_value()->mutable_values(), "a", "b");
  l2->set_severity_number(22);
  otlp_compat::LogRecord* l3 = sl->add_log_records();  // observed time only
  l3->set_observed_time_unix_nano(77);
  l3->set_severity_number(3);
  otlp_compat::LogRecord* bad = sl->add_log_records();
  bad->set_span_id("xyz");

  RecordMapper mapper = Make();
  MapResult m = mapper.MapLogs(req, /*now_unix_nanos=*/999);
  EXPECT_EQ(m.rejected, 1);
  EXPECT_NE(m.first_error.find("span_id must be empty or 8 bytes"), std::string::npos) << m.first_error;
  ASSERT_EQ(m.records.size(), 3u);
  const v1::LogRecord& r = m.records[0].log();
  EXPECT_EQ(r.time_unix_nano(), 5u);
  EXPECT_EQ(r.severity(), v1::SEVERITY_ERROR);
  EXPECT_EQ(r.message(), "it broke");
  EXPECT_EQ(r.source(), "otlp");
  EXPECT_EQ(r.fields().at("user"), "u1");
  EXPECT_EQ(r.fields().at("otel.severity_text"), "E");
  EXPECT_EQ(r.fields().at("otel.scope.name"), "logger");
  EXPECT_EQ(r.trace_id(), std::string(16, '\x01'));
  EXPECT_EQ(r.span_id(), std::string(8, '\x02'));
  EXPECT_EQ(interner.resources[r.resource_ref()].service_name(), "api");
  EXPECT_EQ(m.records[1].log().time_unix_nano(), 999u);
  EXPECT_EQ(m.records[1].log().message(), R"({"a":"b"})");
  EXPECT_EQ(m.records[1].log().severity(), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(m.records[2].log().time_unix_nano(), 77u);
  EXPECT_EQ(m.records[2].log().severity(), v1::SEVERITY_DEBUG);
}

TEST(Utf8Test, Base64AndHex) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foob"), "Zm9vYg==");
  EXPECT_EQ(Hex(std::string("\x00\xab\x10", 3)), "00ab10");
}

}  // namespace
}  // namespace custos::agent::otlp
