// Alerts reach a real Alertmanager (the Debian package prometheus-alertmanager)
// from a durable outbox: a policy violation raised while Alertmanager is down
// opens an incident, is analysed, and is still delivered, once, with the
// analysis in its annotations, after the collector is killed with SIGKILL
// and restarted. Needs /usr/bin/prometheus-alertmanager (scripts/bootstrap.sh
// installs it).
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/files.h"
#include "tests/e2e/harness.h"

namespace custos::e2e {
namespace {

constexpr const char* kAlertmanager = "/usr/bin/prometheus-alertmanager";

// Alertmanager's current alerts (GET /api/v2/alerts), or an empty array.
nlohmann::json AlertmanagerAlerts(int port) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(std::chrono::seconds(2));
  auto res = cli.Get("/api/v2/alerts");
  if (!res || res->status != 200) return nlohmann::json::array();
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  return j.is_array() ? j : nlohmann::json::array();
}

TEST(AlertmanagerE2E, AViolationRaisedBeforeACrashArrivesOnce) {
  ASSERT_EQ(access(kAlertmanager, X_OK), 0) << kAlertmanager << " is missing: run scripts/bootstrap.sh";
  Cluster cluster("[sources.access]\nenabled = true\nfanotify = false\nsocket = \"ACCESS_SOCKET\"\n");
  const std::string socket_path = cluster.dir() + "/access.sock";
  // The agent's config names the socket inside the cluster directory.
  {
    auto text = ReadFile(cluster.dir() + "/agent.toml");
    ASSERT_TRUE(text.ok());
    std::string t = *text;
    t.replace(t.find("ACCESS_SOCKET"), 13, socket_path);
    ASSERT_TRUE(WriteFileAtomic(cluster.dir() + "/agent.toml", t).ok());
  }
  ASSERT_TRUE(MakeDirs(cluster.dir() + "/policy.d").ok());
  ASSERT_TRUE(WriteFileAtomic(cluster.dir() + "/policy.d/site.policy",
                              "regions all = [local]\n"
                              "dataset images { uris = [\"s3://images/**\"]\n  classification = internal }\n"
                              "principal trainer { services = [\"svc:trainer\"] }\n"
                              "grant trainer-reads { who = trainer\n  actions = [read]\n  datasets = [images] }\n")
                  .ok());
  const int am_port = FreePort();
  cluster.AppendCollectorConfig("[policy]\npaths = [\"" + cluster.dir() + "/policy.d\"]\n"
                                "[alerting]\n[[alerting.targets]]\nkind = \"alertmanager\"\n"
                                "url = \"http://127.0.0.1:" + std::to_string(am_port) + "\"\n"
                                "[incidents]\nrca_delay = \"1s\"\n");
  cluster.StartCollector();
  cluster.StartAgent();

  // A write that no grant allows: a policy violation, an alert.
  std::string reply;
  for (int i = 0; i < 100 && reply != "{\"ok\":true}"; ++i) {
    reply = SendAccessLine(socket_path,
                           R"({"action":"write","object":"s3://images/a.jpg","service_identity":"svc:trainer"})");
    if (reply != "{\"ok\":true}") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(reply, "{\"ok\":true}");
  // Alertmanager is not running: the delivery fails and the alert waits in the outbox.
  ASSERT_TRUE(cluster.WaitFor("SELECT count(*) FROM alert_outbox WHERE attempts >= 1", 1, 30))
      << cluster.ReadLog("collector");
  // The alert opened an incident, which was analysed; the alert waits again
  // in the outbox with the analysis in its annotations.
  ASSERT_TRUE(cluster.WaitFor("SELECT count(*) FROM incidents WHERE rca_at IS NOT NULL", 1, 30))
      << cluster.ReadLog("collector");
  ASSERT_TRUE(cluster.WaitFor("SELECT count(*) FROM alert_outbox WHERE alert LIKE '%\"incident\":\"1\"%'", 1, 30))
      << cluster.ReadLog("collector");
  cluster.KillCollector(9);

  Child alertmanager;
  ASSERT_TRUE(WriteFileAtomic(cluster.dir() + "/alertmanager.yml",
                              "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
                  .ok());
  alertmanager.Start({kAlertmanager, "--config.file=" + cluster.dir() + "/alertmanager.yml",
                      "--storage.path=" + cluster.dir() + "/alertmanager",
                      "--web.listen-address=127.0.0.1:" + std::to_string(am_port), "--cluster.listen-address="},
                     cluster.dir() + "/alertmanager.log");
  cluster.StartCollector();
  ASSERT_TRUE(cluster.WaitFor("SELECT count(*) = 0 FROM alert_outbox", 1, 60)) << cluster.ReadLog("collector");

  nlohmann::json alerts;
  for (int i = 0; i < 50; ++i) {
    alerts = AlertmanagerAlerts(am_port);
    if (!alerts.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(alerts.size(), 1u) << alerts.dump(2);
  const auto& a = alerts[0];
  EXPECT_EQ(a["labels"]["alertname"], "policy.violation");
  EXPECT_EQ(a["labels"]["severity"], "warning");
  EXPECT_EQ(a["labels"]["source"], "custos");
  EXPECT_EQ(a["labels"]["dataset"], "images");
  EXPECT_NE(a["annotations"]["summary"].get<std::string>().find("svc:trainer write images"), std::string::npos)
      << a.dump(2);
  EXPECT_NE(a["annotations"]["summary"].get<std::string>().find("no-grant"), std::string::npos);
  EXPECT_EQ(a["annotations"]["policy_version"].get<std::string>().substr(0, 7), "sha256:");
  EXPECT_EQ(a["status"]["state"], "active");
  // The incident and its root-cause analysis (here: too little history
  // before the onset to rank causes, and the analysis says so).
  EXPECT_EQ(a["annotations"]["incident"], "1") << a.dump(2);
  EXPECT_NE(a["annotations"].value("rca", "").find("not enough history"), std::string::npos) << a.dump(2);
  std::string db = cluster.dir() + "/collector/custos.db", text;
  EXPECT_EQ(cluster.RunCtl("incidents --db " + db, &text), 0) << text;
  EXPECT_NE(text.find("policy.violation"), std::string::npos) << text;
  EXPECT_EQ(cluster.RunCtl("rca 1 --db " + db, &text), 0) << text;
  EXPECT_NE(text.find("Incident 1"), std::string::npos) << text;
  // Bad requests get a clear error and a non-zero exit.
  struct Bad {
    std::string args, error;
  } bad[] = {{"rca 999 --db " + db, "no incident 999"},
             {"rca abc --db " + db, "not an incident id: abc"},
             {"rca --at yesterday-ish --db " + db, "rca: --at:"},
             {"rca 1 --at 5m --db " + db, "give exactly one of INCIDENT or --at"},
             {"rca 1 --db " + cluster.dir() + "/missing.db", "rca:"}};
  for (const Bad& b : bad) {
    EXPECT_NE(cluster.RunCtl(b.args, &text), 0) << b.args;
    EXPECT_NE(text.find(b.error), std::string::npos) << b.args << ": " << text;
  }
  EXPECT_GE(cluster.QueryInt("SELECT count(*) FROM alerts WHERE incident = 1"), 1);

  // The alert is on the audit trail, which still verifies after the SIGKILL.
  EXPECT_GE(cluster.QueryInt("SELECT count(*) FROM alerts WHERE rule = 'policy.violation'"), 1);
  std::string out;
  EXPECT_EQ(cluster.VerifyAudit(&out), 0) << out;
  alertmanager.Kill(15);
}

}  // namespace
}  // namespace custos::e2e
