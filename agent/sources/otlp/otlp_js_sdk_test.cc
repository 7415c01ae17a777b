// The otlp source against the real OpenTelemetry JavaScript SDK: js/send_spans.js
// exports a parent and a child span (protobuf and JSON, plain and gzip; the
// SDK sends chunked bodies) to a source on port 0, and the test reads them
// back from the spool.
//
// Needs node and agent/sources/otlp/js/node_modules (scripts/bootstrap.sh runs
// `npm ci` there); the test fails, with what to do, when either is missing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/sources/otlp/otlp_testing.h"
#include "agent/sources/otlp/record_mapper.h"

namespace custos::agent::otlp {
namespace {

std::string JsDir() {
  const char* root = std::getenv("CUSTOS_SOURCE_DIR");
  if (root != nullptr && *root != '\0') return std::string(root) + "/agent/sources/otlp/js";
  return std::filesystem::path(__FILE__).parent_path() / "js";  // run outside ctest
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult run;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) run.output.append(buf, n);
  int status = pclose(p);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// The ids send_spans.js printed (its last line of output).
nlohmann::json Ids(const std::string& output) {
  size_t start = output.rfind("{\"traceId\"");
  if (start == std::string::npos) return nullptr;
  return nlohmann::json::parse(output.substr(start, output.find('\n', start) - start), nullptr, false);
}

class OtlpJsSdkTest : public ::testing::TestWithParam<const char*> {};

TEST_P(OtlpJsSdkTest, SpansFromTheOpenTelemetrySdkLandInTheSpool) {
  const std::string protocol = GetParam();
  const std::string js = JsDir();
  ASSERT_EQ(RunCommand("command -v node").exit_code, 0)
      << "node is not installed: the OpenTelemetry JS SDK test needs Node.js >= 14 (apt-get install nodejs npm)";
  ASSERT_TRUE(std::filesystem::exists(js + "/node_modules/@opentelemetry/sdk-trace-base"))
      << js << "/node_modules is missing: run `cd " << js << " && npm ci` (scripts/bootstrap.sh does it)";

  Harness h;
  auto src = h.StartSource();
  const std::string url = "http://127.0.0.1:" + std::to_string(src->port()) + "/v1/traces";
  CommandResult run = RunCommand("timeout 60 node " + js + "/send_spans.js " + url + " " + protocol);
  ASSERT_EQ(run.exit_code, 0) << "send_spans.js failed:\n" << run.output;
  nlohmann::json ids = Ids(run.output);
  ASSERT_TRUE(ids.is_object()) << run.output;

  Harness::Spooled spooled = h.Read();
  ASSERT_EQ(spooled.records.size(), 2u) << run.output;
  const v1::Span* parent = nullptr;
  const v1::Span* child = nullptr;
  const v1::Resource* resource = nullptr;
  for (size_t i = 0; i < spooled.records.size(); ++i) {
    ASSERT_TRUE(spooled.records[i].has_span());
    const v1::Span& s = spooled.records[i].span();
    if (s.name() == "GET /checkout") parent = &s;
    if (s.name() == "charge card") child = &s, resource = &spooled.resources[i];
  }
  ASSERT_NE(parent, nullptr);
  ASSERT_NE(child, nullptr);

  EXPECT_EQ(Hex(parent->trace_id()), ids["traceId"].get<std::string>());
  EXPECT_EQ(child->trace_id(), parent->trace_id());
  EXPECT_EQ(Hex(parent->span_id()), ids["parentSpanId"].get<std::string>());
  EXPECT_EQ(Hex(child->span_id()), ids["childSpanId"].get<std::string>());
  EXPECT_EQ(child->parent_span_id(), parent->span_id());
  EXPECT_TRUE(parent->parent_span_id().empty());

  EXPECT_EQ(parent->kind(), v1::Span::KIND_SERVER);
  EXPECT_EQ(child->kind(), v1::Span::KIND_CLIENT);
  EXPECT_GT(parent->start_time_unix_nano(), 1'600'000'000'000'000'000u);
  EXPECT_LT(parent->start_time_unix_nano(), parent->end_time_unix_nano());
  EXPECT_LE(child->start_time_unix_nano(), child->end_time_unix_nano());
  EXPECT_LE(parent->start_time_unix_nano(), child->start_time_unix_nano());

  EXPECT_EQ(child->status_code(), v1::Span::STATUS_ERROR);
  EXPECT_EQ(child->status_message(), "card declined");
  EXPECT_EQ(parent->status_code(), v1::Span::STATUS_ERROR);

  const auto& a = child->attributes();
  EXPECT_EQ(a.at("payment.provider"), "acme");
  EXPECT_EQ(a.at("payment.amount"), "12.5");
  EXPECT_EQ(a.at("payment.retry"), "true");
  EXPECT_EQ(a.at("payment.attempts"), "3");
  EXPECT_EQ(a.at("payment.tags"), R"(["card","visa"])");
  EXPECT_EQ(a.at("otel.event_count"), "1");
  EXPECT_EQ(a.at("otel.scope.name"), "custos-test-tracer");
  EXPECT_EQ(a.at("otel.scope.version"), "0.1.0");
  EXPECT_EQ(parent->attributes().at("http.response.status_code"), "500");

  EXPECT_EQ(resource->service_name(), "custos-otlp-test");
  EXPECT_EQ(resource->labels().at("service.version"), "1.2.3");
  EXPECT_EQ(resource->labels().at("deployment.environment"), "test");
  EXPECT_EQ(resource->labels().at("telemetry.sdk.language"), "nodejs");
  EXPECT_EQ(resource->node_id(), "node-1");
  EXPECT_EQ(parent->resource_ref(), child->resource_ref());

  // One export request carried both spans.
  EXPECT_EQ(h.metrics.Value("custos_otlp_requests_total", {{"signal", "traces"}, {"code", "200"}}), 1);
  src->Stop();
}

INSTANTIATE_TEST_SUITE_P(Exporters, OtlpJsSdkTest, ::testing::Values("proto", "json", "proto-gzip", "json-gzip"));

}  // namespace
}  // namespace custos::agent::otlp
