#include "collector/ctl/format.h"

#include "collector/api/http_api.h"

#include <gtest/gtest.h>

namespace custos::ctl {
namespace {

TEST(FormatTest, TableAlignsColumns) {
  EXPECT_EQ(RenderTable({{"A", "BB"}, {"ccc", "d"}}), "A    BB\nccc  d\n");
}

TEST(FormatTest, TimesAgesAndSizes) {
  EXPECT_EQ(FormatTime(1'764'168'754'123'000'000), "2025-11-26T14:52:34.123Z");
  EXPECT_EQ(FormatAge(3'500'000'000), "3s");
  EXPECT_EQ(FormatAge(252'000'000'000), "4m12s");
  EXPECT_EQ(FormatAge(7'500'000'000'000), "2h5m");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(12 * 1024 + 300), "12.3 KiB");
}

TEST(FormatTest, StatusShowsAgentsAndLoss) {
  auto status = nlohmann::json::parse(R"({
    "collector": {"version": "0.1.0", "started": 0, "now": 65000000000,
      "counters": {"custos_collector_frames_received_total": 10, "custos_collector_batches_stored_total": 9,
                   "custos_collector_gaps_reported_total": 1, "custos_collector_agent_lost_records_total": 20,
                   "custos_collector_frames_refused_total{reason=\"REFUSAL_MALFORMED\"}": 1},
      "records": {"metrics": 120, "logs": 0}},
    "agents": [{"agent_id": "0123456789abcdef", "hostname": "gpu-01", "connected": true,
                "last_seen": 63000000000, "lag_seconds": 0.5, "spool_batches": 2, "spool_bytes": 2048,
                "records": 120, "agent_records_dropped": 20, "lost_records": 20}]})");
  std::string text = RenderStatus(status);
  EXPECT_NE(text.find("collector 0.1.0, up 1m5s"), std::string::npos) << text;
  EXPECT_NE(text.find("metrics 120"), std::string::npos) << text;
  EXPECT_NE(text.find("1 refused frames"), std::string::npos) << text;
  EXPECT_NE(text.find("1 gaps reported by agents (20 records lost)"), std::string::npos) << text;
  EXPECT_NE(text.find("0123456789ab  gpu-01  connected  2s ago"), std::string::npos) << text;
  EXPECT_NE(text.find("2 batches / 2.0 KiB"), std::string::npos) << text;
}

TEST(FormatTest, EmptyQueryIsSaidPlainly) {
  auto result = nlohmann::json::parse(R"({"kind": "logs", "records": []})");
  EXPECT_EQ(RenderRecords(result), "no logs records match\n");
}

// Access, span and GPU records read as sentences: names, not enum numbers.
TEST(FormatTest, AccessSpansAndGpuRecordsAreReadable) {
  auto access = nlohmann::json::parse(R"({"kind": "access", "records": [
    {"ts": 1764168754000000000, "hostname": "gpu-7", "service_identity": "", "user": "alice", "uid": 1001,
     "action": "ACTION_READ", "object": "/data/imagenet/shard-0.tar", "dataset_id": "imagenet",
     "classification": "internal", "outcome": "OUTCOME_SUCCESS", "count": 12, "source": "fanotify",
     "executable": "/usr/bin/python3", "pid": 4242, "principal_unit": "train.service", "verdict": "deny",
     "violations": "no-grant"}]})");
  std::string text = RenderRecords(access);
  for (const char* want : {"PRINCIPAL", "alice", " read ", "imagenet (internal)", "success", "deny (no-grant)", "12", "fanotify",
                           "/usr/bin/python3[4242] train.service"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << " missing from\n" << text;
  }
  auto spans = nlohmann::json::parse(R"({"kind": "spans", "records": [
    {"ts": 1764168754000000000, "end_ts": 1764168754001500000, "hostname": "n1", "name": "GET /predict",
     "span_kind": "KIND_SERVER", "status_code": "STATUS_ERROR", "status_message": "timeout",
     "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331", "parent_span_id": ""}]})");
  text = RenderRecords(spans);
  for (const char* want : {"GET /predict", "server", "1.500 ms", "error: timeout", "b7ad6b7169203331"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << " missing from\n" << text;
  }
  auto events = nlohmann::json::parse(R"({"kind": "gpu_events", "records": [
    {"ts": 1764168754000000000, "hostname": "n1", "gpu_index": 3, "gpu_uuid": "GPU-abc", "event_kind": "xid",
     "code": 79, "description": "GPU has fallen off the bus"}]})");
  text = RenderRecords(events);
  for (const char* want : {"GPU-abc", "xid", "79", "fallen off the bus"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << " missing from\n" << text;
  }
}

TEST(TimeArgTest, AbsoluteRelativeAndBad) {
  const int64_t now = 1'764'168'754'000'000'000;
  EXPECT_EQ(*api::ParseTimeArg("1764168000", now), 1'764'168'000'000'000'000);
  EXPECT_EQ(*api::ParseTimeArg("2025-11-26T14:40:00Z", now), 1'764'168'000'000'000'000);
  EXPECT_EQ(*api::ParseTimeArg("15m", now), now - 900'000'000'000);
  EXPECT_EQ(*api::ParseTimeArg("now", now), now);
  for (const char* bad : {"", "1764168754123", "yesterday", "2025-13-45T99", "15 parsecs"}) {
    EXPECT_EQ(api::ParseTimeArg(bad, now).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace custos::ctl
