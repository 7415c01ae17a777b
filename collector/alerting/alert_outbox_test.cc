// The alert outbox against a real HTTP receiver: retries with back-off until
// a 2xx, Alertmanager's webhook JSON, repeats not queued twice, the bound.
#include "collector/alerting/alert_outbox.h"
#include "common/time_format.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "collector/store/sqlite_store.h"
#include "common/clock.h"

namespace custos::collector {
namespace {

policy::Alert MakeAlert(const std::string& rule, const std::string& message) {
  policy::Alert a;
  a.rule = rule;
  a.severity = "critical";
  a.message = message;
  a.labels = {{"team", "infra"}};
  a.kind = "gpu_event";
  a.time_unix_nano = Clock::Real().NowUnixNanos();
  a.policy_version = "sha256:abc";
  return a;
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_outbox_XXXXXX";
    path_ = std::string(mkdtemp(tmpl)) + "/custos.db";
    auto store = store::SqliteStore::Open({.path = path_});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    ASSERT_TRUE(CreateOutboxTable(store_->writer_db()).ok());
    server_.Post("/hooks/custos", [this](const httplib::Request& req, httplib::Response& res) {
      if (++requests_ <= failures_) {
        res.status = 503;
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      bodies_.push_back(req.body);
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib's stop() is a no-op until the server runs: a test that never
    // calls it would otherwise hang in TearDown on a loaded machine.
    for (int i = 0; i < 10'000 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_TRUE(server_.is_running());
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  int64_t Pending() {
    auto stmt = store_->writer_db().Prepare("SELECT count(*) FROM alert_outbox");
    return *(*stmt)->Step() ? (*stmt)->Int(0) : -1;
  }

  std::string path_;
  std::unique_ptr<store::SqliteStore> store_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  int failures_ = 0;
  std::mutex mu_;
  std::vector<std::string> bodies_;
};

TEST_F(OutboxTest, RetriesUntilTheWebhookAcceptsThenForgets) {
  failures_ = 2;
  MetricsRegistry metrics;
  AlertingOptions options;
  options.targets = {{AlertTarget::Kind::kWebhook, "http://127.0.0.1:" + std::to_string(port_) + "/hooks/custos"}};
  AlertOutbox outbox(path_, options, metrics);
  store::Db& db = store_->writer_db();
  ASSERT_TRUE(db.Exec("BEGIN").ok());
  ASSERT_TRUE(outbox.Enqueue(db, MakeAlert("xid", "XID 79 on GPU-1"), "node-1").ok());
  ASSERT_TRUE(outbox.Enqueue(db, MakeAlert("xid", "XID 79 on GPU-1"), "node-1").ok());  // a repeat
  ASSERT_TRUE(outbox.Enqueue(db, MakeAlert("xid", "XID 79 on GPU-2"), "node-2").ok());
  ASSERT_TRUE(db.Exec("COMMIT").ok());
  EXPECT_EQ(Pending(), 2);
  EXPECT_EQ(metrics.Value("custos_collector_alerts_repeats_total"), 1);
  ASSERT_TRUE(outbox.Start().ok());
  for (int i = 0; i < 100 && Pending() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  outbox.Stop();
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(metrics.Value("custos_collector_alert_delivery_failures_total"), 2);
  EXPECT_EQ(metrics.Value("custos_collector_alerts_delivered_total"), 2);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(bodies_.size(), 1u);
  auto j = nlohmann::json::parse(bodies_[0]);
  EXPECT_EQ(j["version"], "4");
  EXPECT_EQ(j["status"], "firing");
  ASSERT_EQ(j["alerts"].size(), 2u);
  const auto& a = j["alerts"][0];
  EXPECT_EQ(a["status"], "firing");
  EXPECT_EQ(a["labels"]["alertname"], "xid");
  EXPECT_EQ(a["labels"]["severity"], "critical");
  EXPECT_EQ(a["labels"]["node"], "node-1");
  EXPECT_EQ(a["labels"]["team"], "infra");
  EXPECT_EQ(a["annotations"]["summary"], "XID 79 on GPU-1");
  EXPECT_EQ(a["fingerprint"].get<std::string>().size(), 16u);
  EXPECT_NE(a["fingerprint"], j["alerts"][1]["fingerprint"]);
  EXPECT_LT(a["startsAt"].get<std::string>(), a["endsAt"].get<std::string>());
}

TEST_F(OutboxTest, TheBoundIsCountedNotSilent) {
  MetricsRegistry metrics;
  AlertingOptions options;
  options.max_outbox = 1;
  options.targets = {{AlertTarget::Kind::kAlertmanager, "http://127.0.0.1:1"}};
  AlertOutbox outbox(path_, options, metrics);
  store::Db& db = store_->writer_db();
  ASSERT_TRUE(outbox.Enqueue(db, MakeAlert("a", "first"), "n").ok());
  ASSERT_TRUE(outbox.Enqueue(db, MakeAlert("b", "second"), "n").ok());
  EXPECT_EQ(Pending(), 1);
  EXPECT_EQ(metrics.Value("custos_collector_alerts_outbox_full_total"), 1);
}

TEST(AlertPayload, LabelsAnnotationsAndAStableFingerprint) {
  AlertingOptions options;
  policy::Alert a = MakeAlert("policy.violation", "bob read cust on h1 (eu-west-1): no-grant");
  a.labels = {{"dataset", "cust"}, {"verdict", "deny"}};
  AlertPayload p1 = BuildAlertPayload(a, "n1", options);
  a.message = "another message, same labels";
  AlertPayload p2 = BuildAlertPayload(a, "n1", options);
  EXPECT_EQ(p1.fingerprint, p2.fingerprint);
  EXPECT_NE(p1.fingerprint, BuildAlertPayload(a, "n2", options).fingerprint);
  auto j = nlohmann::json::parse(p1.json);
  EXPECT_EQ(j["labels"]["alertname"], "policy.violation");
  EXPECT_EQ(j["labels"]["dataset"], "cust");
  EXPECT_EQ(j["annotations"]["policy_version"], "sha256:abc");
  EXPECT_EQ(j["generatorURL"], "http://127.0.0.1:7080/api/v1/query?kind=alerts&name=policy.violation");
}

TEST(AlertPayload, AResolvedAlertEndsNowAndAnnotationsAreAdded) {
  AlertingOptions options;
  policy::Alert a = MakeAlert("slo.burn", "checkout is burning its budget");
  a.time_unix_nano = Clock::Real().NowUnixNanos() - 600'000'000'000LL;  // the episode began 10 min ago
  a.annotations = {{"incident", "7"}};
  auto firing = nlohmann::json::parse(BuildAlertPayload(a, "collector", options).json);
  a.resolved = true;
  AlertPayload resolved = BuildAlertPayload(a, "collector", options);
  auto j = nlohmann::json::parse(resolved.json);
  // Same alert (labels, start), ending now instead of resolve_after from now.
  EXPECT_EQ(resolved.fingerprint, BuildAlertPayload(MakeAlert("slo.burn", "x"), "collector", options).fingerprint);
  EXPECT_EQ(j["startsAt"], firing["startsAt"]);
  EXPECT_LT(j["endsAt"].get<std::string>(), firing["endsAt"].get<std::string>());
  EXPECT_LE(j["endsAt"].get<std::string>(), FormatUtc(Clock::Real().NowUnixNanos(), 3));
  EXPECT_EQ(j["annotations"]["incident"], "7");
}

}  // namespace
}  // namespace custos::collector
