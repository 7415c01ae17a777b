// Drift inside the collector: model scores reported as metrics by two
// services over real CURVE ingest; the stable one raises nothing, the one
// whose scores shift raises exactly one drift alert, stored, audited and
// naming the quantiles that moved; the alert opens an incident.
#include <random>

#include "collector/collector_testing.h"

namespace custos::collector {
namespace {

class DriftCollectorTest : public CollectorTestBase {
 protected:
  void SetUp() override {
    CollectorTestBase::SetUp();
    StartCollector(
        "[drift]\nmetrics = [\"model.*\"]\nwindow = \"1m\"\nreference_windows = 3\nsustain = 2\nclear = 2\n"
        "min_samples = 100\n");
  }

  int64_t Count(const std::string& sql) {
    auto db = store::Db::Open(dir_ + "/state/custos.db", false, true);
    if (!db.ok()) return -1;
    auto st = (*db)->Prepare(sql);
    if (!st.ok()) return -1;
    auto row = (*st)->Step();
    return row.ok() && *row ? (*st)->Int(0) : -1;
  }
};

TEST_F(DriftCollectorTest, OnlyTheShiftedStreamRaisesOneAlert) {
  constexpr int64_t kMinute = 60'000'000'000LL;
  // Old data in its own windows: whole minutes, far in the past.
  const int64_t t0 = (Clock::Real().NowUnixNanos() / kMinute - 60) * kMinute;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> score(0.3, 0.05);
  for (int minute = 0; minute < 12; ++minute) {
    v1::Batch b = NewBatch();
    for (const char* service : {"fraud-api", "ranker"}) {
      v1::Resource* r = b.add_resources();
      r->set_node_id("n1");
      r->set_service_name(service);
    }
    for (int i = 0; i < 300; ++i) {
      int64_t t = t0 + minute * kMinute + i * (kMinute / 300);
      for (uint32_t ref : {1u, 2u}) {
        double shift = ref == 2 && minute >= 6 ? 0.1 : 0.0;  // ranker's scores move up by 2 sd
        v1::MetricPoint* m = b.add_records()->mutable_metric();
        m->set_name("model.score");
        m->set_type(v1::MetricPoint::TYPE_GAUGE);
        m->set_resource_ref(ref);
        m->set_time_unix_nano(static_cast<uint64_t>(t));
        m->set_value(score(rng) + shift);
      }
    }
    Send(b);
  }
  auto raised = Records("drift", 1);
  ASSERT_EQ(raised.size(), 1u);
  EXPECT_EQ(raised[0].action, "raise");
  EXPECT_EQ(raised[0].object, "stream:model.score@ranker");
  EXPECT_NE(raised[0].details.at("message").find("p50"), std::string::npos) << raised[0].details.at("message");
  // Stored as an alert with its stream, and joined to an incident.
  auto alerts = Records("alert", 1);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].object, "rule:drift");
  EXPECT_EQ(alerts[0].details.at("label.stream"), "model.score@ranker");
  EXPECT_EQ(Count("SELECT count(*) FROM alerts WHERE rule = 'drift' AND incident IS NOT NULL"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM alerts WHERE labels LIKE '%fraud-api%'"), 0);
  EXPECT_EQ(collector_->metrics().Value("custos_collector_drift_alerts_total"), 1);
}

}  // namespace
}  // namespace custos::collector
