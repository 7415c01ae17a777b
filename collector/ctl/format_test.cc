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
