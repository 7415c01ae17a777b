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

namespace custos::collector {
namespace {

// An SLO declared in the config pages through the collector: failing
// requests stored over ingest burn the budget, the burn-rate alert is stored
// and audited and opens an incident.
class SloCollectorTest : public CollectorTestBase {
 protected:
  void SetUp() override {
    CollectorTestBase::SetUp();
    StartCollector("[[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 0.999\n");
  }
};

TEST_F(SloCollectorTest, FailingRequestsPageOnBurnRate) {
  constexpr int64_t kMinute = 60'000'000'000LL;
  const int64_t now = Clock::Real().NowUnixNanos();
  v1::Batch b = NewBatch();
  v1::Resource* r = b.add_resources();
  r->set_node_id("n1");
  r->set_service_name("checkout");
  // The last 10 minutes: one request a second, one in ten failing (100x).
  for (int i = 0; i < 600; ++i) {
    v1::Span* s = b.add_records()->mutable_span();
    s->set_resource_ref(1);
    s->set_kind(v1::Span::KIND_SERVER);
    int64_t start = now - 11 * kMinute + i * 1'000'000'000LL;
    s->set_start_time_unix_nano(static_cast<uint64_t>(start));
    s->set_end_time_unix_nano(static_cast<uint64_t>(start + 20'000'000));
    if (i % 10 == 0) s->set_status_code(v1::Span::STATUS_ERROR);
  }
  Send(b);
  auto alerts = Records("alert", 2);  // the 1 h and the 6 h rule
  ASSERT_EQ(alerts.size(), 2u);
  for (const auto& a : alerts) {
    EXPECT_EQ(a.object, "rule:slo.burn");
    EXPECT_EQ(a.details.at("label.slo"), "checkout-availability");
    EXPECT_NE(a.details.at("message").find("burning its error budget 100.0x"), std::string::npos)
        << a.details.at("message");
  }
  EXPECT_EQ(collector_->metrics().Value("custos_collector_slo_burn_alerts_total"), 2);
}

class NewErrorsCollectorTest : public CollectorTestBase {
 protected:
  // A batch of checkout's log lines, `minutes_ago` old.
  v1::Batch Logs(int64_t minutes_ago, const std::vector<std::string>& lines) {
    constexpr int64_t kMinute = 60'000'000'000LL;
    v1::Batch b = NewBatch();
    v1::Resource* r = b.add_resources();
    r->set_node_id("n1");
    r->set_service_name("checkout");
    for (const std::string& line : lines) {
      v1::LogRecord* l = b.add_records()->mutable_log();
      l->set_resource_ref(1);
      l->set_time_unix_nano(static_cast<uint64_t>(Clock::Real().NowUnixNanos() - minutes_ago * kMinute));
      l->set_message(line);
    }
    return b;
  }
};

TEST_F(NewErrorsCollectorTest, LearnedStatementsOutliveARestart) {
  StartCollector("");
  // Two hours ago: checkout's first lines, in its warm-up.
  Send(Logs(120, {"INFO c.s.Cart#12 cart loaded", "ERROR c.s.Cart#40 cart 17 not found"}));
  collector_->Stop();
  collector_.reset();
  StartCollector("");
  // After the restart: the known statement is quiet, a new one alerts at
  // once (checkout's warm-up ended an hour ago, not an hour from now).
  Send(Logs(0, {"ERROR c.s.Cart#40 cart 99 not found", "ERROR c.s.Cart#61 price service timed out"}));
  auto alerts = Records("alert", 1);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].object, "rule:log.new-error-template");
  EXPECT_EQ(alerts[0].details.at("label.template"), "ERROR c.s.Cart#61");
}

}  // namespace
}  // namespace custos::collector

namespace custos::collector {
namespace {

TEST(SignalsConfig, IncidentsDriftAndSlosAreReadAndChecked) {
  auto file = ConfigFile::Parse(
      "[incidents]\nrca_delay = \"2m\"\nnew_error_warmup = \"30m\"\n"
      "[drift]\nmetrics = [\"model.*\"]\nwindow = \"1m\"\npsi_threshold = 0.3\n"
      "[[slo]]\nname = \"checkout\"\nservice = \"checkout\"\nobjective = 0.995\nlatency_ms = 250\n",
      "collector.toml");
  ASSERT_TRUE(file.ok());
  auto config = ReadCollectorConfig(*file);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->incidents.rca_delay_nanos, 120'000'000'000);
  EXPECT_EQ(config->new_error_templates.warmup_nanos, 1'800'000'000'000);
  EXPECT_EQ(config->drift.metrics, std::vector<std::string>{"model.*"});
  EXPECT_DOUBLE_EQ(config->drift.detector.psi_threshold, 0.3);
  ASSERT_EQ(config->slos.size(), 1u);
  EXPECT_DOUBLE_EQ(config->slos[0].objective, 0.995);
  EXPECT_DOUBLE_EQ(config->slos[0].latency_ms, 250);

  struct Bad {
    const char* toml;
    const char* error;
  } bad[] = {
      {"[[slo]]\nservice = \"checkout\"\n", "slo[0].name: an SLO needs a name"},
      {"[[slo]]\nname = \"x\"\n", "slo[0].service: an SLO needs the service.name"},
      {"[[slo]]\nname = \"x\"\nservice = \"y\"\nobjective = 1.5\n", "slo[0].objective: must be between"},
      {"[[slo]]\nname = \"x\"\nservice = \"y\"\nobjective = \"high\"\n", "slo[0].objective: expected a number"},
      {"[drift]\nks_threshold = 2\n", "drift.ks_threshold: must be between"},
      {"[drift]\nsustain = 0\n", "drift.sustain: must be between"},
      {"[drift]\nwindow = \"soon\"\n", "drift.window"},
      {"[incidents]\ngroup_window = 5\n", "incidents.group_window"},
      {"[incidents]\nrca_dely = \"1m\"\n", "incidents.rca_dely"},
  };
  for (const auto& b : bad) EXPECT_TRUE(ConfigRefused(b.toml, b.error));
}

}  // namespace
}  // namespace custos::collector
