// The policy stage inside the collector: verdicts go into the audit log with
// the events they judge, violations and rules raise stored and audited
// alerts, and a policy reload is atomic (a set that does not compile is
// refused, audited and alerted while the old set keeps deciding).
#include <gtest/gtest.h>

#include "collector/collector_testing.h"

namespace custos::collector {
namespace {

constexpr const char* kPolicyV1 = R"(regions eu = [eu-west-1, eu-central-1]
dataset patients {
  paths = ["/data/patients/**"]
  classification = pii
  home = eu-west-1
}
principal alice { users = ["alice"] }
principal bob { users = ["bob"] }
grant alice-reads { who = alice
  actions = [read]
  datasets = [patients] }
residency pii { regions = [eu] }
rule xid { on = gpu_event
  when = kind == "xid" and code == 79
  severity = critical
  message = "XID {code} on {gpu_uuid}" }
)";

class PolicyCollectorTest : public CollectorTestBase {
 protected:
  void SetUp() override {
    CollectorTestBase::SetUp();
    ASSERT_TRUE(MakeDirs(dir_ + "/policy.d").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/policy.d/site.policy", kPolicyV1).ok());
    StartCollector("[policy]\npaths = [\"" + dir_ + "/policy.d\"]\n");
  }

  static void AddAccess(v1::Batch& b, const std::string& user, int64_t t) {
    v1::AccessEvent* a = b.add_records()->mutable_access();
    a->set_time_unix_nano(static_cast<uint64_t>(t));
    a->set_action(v1::AccessEvent::ACTION_READ);
    a->set_object("/data/patients/p1.csv");
    a->set_outcome(v1::AccessEvent::OUTCOME_SUCCESS);
    a->mutable_principal()->set_user(user);
  }
};

TEST_F(PolicyCollectorTest, VerdictsAlertsAndAtomicReload) {
  const int64_t now = Clock::Real().NowUnixNanos();
  v1::Batch b = NewBatch();
  AddAccess(b, "alice", now);
  AddAccess(b, "bob", now + 1);
  v1::GpuEvent* xid = b.add_records()->mutable_gpu_event();
  xid->set_time_unix_nano(static_cast<uint64_t>(now + 2));
  xid->set_kind("xid");
  xid->set_code(79);
  xid->set_gpu_uuid("GPU-abc");
  Send(b);

  auto access = Records("access", 2);
  ASSERT_EQ(access.size(), 2u);
  const std::string v1_version = access[0].details["policy_version"];
  EXPECT_EQ(v1_version.substr(0, 7), "sha256:");
  EXPECT_EQ(access[0].details["verdict"], "allow");
  EXPECT_EQ(access[0].details["decided_by"], "grant:alice-reads,residency:pii");
  EXPECT_EQ(access[0].object, "dataset:patients");  // mapped by the policy
  EXPECT_EQ(access[0].details["classification"], "pii");
  EXPECT_EQ(access[1].details["verdict"], "deny");
  EXPECT_EQ(access[1].details["violations"], "no-grant");
  EXPECT_EQ(access[1].details["policy_version"], v1_version);

  auto alerts = Records("alert", 2);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].object, "rule:policy.violation");
  EXPECT_EQ(alerts[0].outcome, "warning");
  EXPECT_FALSE(alerts[0].payload_commitment.empty()) << "the message names bob: erasable payload";
  EXPECT_EQ(alerts[1].object, "rule:xid");
  EXPECT_EQ(alerts[1].outcome, "critical");
  EXPECT_EQ(alerts[1].details["message"], "XID 79 on GPU-abc");

  // A broken set is refused whole; the old one keeps deciding.
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/policy.d/site.policy",
                              std::string(kPolicyV1) + "grant bob-reads { who = bob\n  actions = [raed]\n  datasets = [patients] }\n")
                  .ok());
  collector_->Reload();
  auto reloads = Records("policy", 2);  // the load at start, then the refused reload
  ASSERT_EQ(reloads.size(), 2u);
  EXPECT_EQ(reloads[1].outcome, "refused");
  EXPECT_EQ(reloads[1].details["active_version"], v1_version);
  EXPECT_NE(reloads[1].details["diagnostics"].find("unknown action 'raed'"), std::string::npos)
      << reloads[1].details["diagnostics"];
  alerts = Records("alert", 3);
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[2].object, "rule:policy.reload-refused");

  b = NewBatch();
  AddAccess(b, "bob", now + 3);
  Send(b);
  access = Records("access", 3);
  ASSERT_EQ(access.size(), 3u);
  EXPECT_EQ(access[2].details["verdict"], "deny");
  EXPECT_EQ(access[2].details["policy_version"], v1_version);

  // The fixed set is picked up from the file change alone (no SIGHUP).
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/policy.d/site.policy",
                              std::string(kPolicyV1) + "grant bob-reads { who = bob\n  actions = [read]\n  datasets = [patients] }\n")
                  .ok());
  reloads = Records("policy", 3);
  ASSERT_EQ(reloads.size(), 3u);
  EXPECT_EQ(reloads[2].outcome, "ok");
  EXPECT_EQ(reloads[2].details["reason"], "files changed");
  const std::string v2_version = reloads[2].details["active_version"];
  EXPECT_NE(v2_version, v1_version);
  b = NewBatch();
  AddAccess(b, "bob", now + 4);
  Send(b);
  access = Records("access", 4);
  ASSERT_EQ(access.size(), 4u);
  EXPECT_EQ(access[3].details["verdict"], "allow");
  EXPECT_EQ(access[3].details["decided_by"], "grant:bob-reads,residency:pii");
  EXPECT_EQ(access[3].details["policy_version"], v2_version);

  audit::VerifierKey vkey = collector_->audit_key();
  collector_->Stop();
  auto db = store::Db::Open(dir_ + "/state/custos.db", false, true);
  ASSERT_TRUE(db.ok());
  auto data = audit::LoadAuditData(**db);
  ASSERT_TRUE(data.ok());
  audit::VerifyReport r = audit::VerifyAuditData(*data, {.log_keys = {vkey}});
  EXPECT_TRUE(r.ok()) << r.first_error;
  // The verdicts are on the stored access rows too.
  auto verdicts = (*db)->Prepare("SELECT user, verdict, violations, policy_version FROM access_events ORDER BY ts");
  ASSERT_TRUE(verdicts.ok());
  std::vector<std::string> rows_seen;
  while (*(*verdicts)->Step()) {
    rows_seen.push_back((*verdicts)->Text(0) + "|" + (*verdicts)->Text(1) + "|" + (*verdicts)->Text(2) + "|" +
                        ((*verdicts)->Text(3) == v1_version ? "v1" : (*verdicts)->Text(3) == v2_version ? "v2" : "?"));
  }
  EXPECT_EQ(rows_seen, (std::vector<std::string>{"alice|allow||v1", "bob|deny|no-grant|v1", "bob|deny|no-grant|v1",
                                                 "bob|allow||v2"}));
  // The alerts are stored for custosctl too.
  auto rows = (*db)->Prepare("SELECT rule, severity, message FROM alerts ORDER BY rowid");
  ASSERT_TRUE(rows.ok());
  std::vector<std::string> stored;
  while (*(*rows)->Step()) stored.push_back((*rows)->Text(0) + "|" + (*rows)->Text(1) + "|" + (*rows)->Text(2));
  ASSERT_EQ(stored.size(), 4u);
  EXPECT_EQ(stored[0], "policy.violation|warning|bob read patients on host-1 (eu-west-1): no-grant");
  EXPECT_EQ(stored[1], "xid|critical|XID 79 on GPU-abc");
  EXPECT_EQ(stored[2].substr(0, 36), "policy.reload-refused|error|the new ");
  EXPECT_EQ(stored[3], "policy.violation|warning|bob read patients on host-1 (eu-west-1): no-grant");
}

TEST(PolicyCollectorStart, ABrokenPolicyRefusesToStartAndSaysWhere) {
  char tmpl[] = "/tmp/custos_policy_start_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  ASSERT_TRUE(WriteFileAtomic(dir + "/bad.policy", "dataset x { classification = secret }\n").ok());
  MetricsRegistry metrics;
  auto engine = PolicyEngine::Open({dir}, metrics);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find(dir + "/bad.policy:1:30: error: unknown classification 'secret'"),
            std::string::npos)
      << engine.status().message();
}

}  // namespace
}  // namespace custos::collector

namespace custos::collector {
namespace {

TEST(AlertingConfig, TargetsAndInhibitRulesAreReadAndChecked) {
  auto file = ConfigFile::Parse(
      "[alerting]\nrepeat_interval = \"10m\"\n"
      "[[alerting.targets]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n"
      "[[alerting.inhibit]]\nsource = [\"alertname=xid\"]\ntarget = [\"alertname=~slow|hot\"]\nequal = [\"node\"]\n",
      "collector.toml");
  ASSERT_TRUE(file.ok());
  auto config = ReadCollectorConfig(*file);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->alerting.targets.size(), 1u);
  EXPECT_EQ(config->alerting.targets[0].kind, AlertTarget::Kind::kWebhook);
  EXPECT_EQ(config->alerting.repeat_interval_nanos, 600'000'000'000);
  ASSERT_EQ(config->alerting.inhibit.size(), 1u);
  EXPECT_EQ(config->alerting.inhibit[0].equal, std::vector<std::string>{"node"});
  EXPECT_EQ(config->alerting.inhibit[0].name, "alertname=xid");

  struct Bad {
    const char* toml;
    const char* error;
  } bad[] = {
      {"[alerting]\n[[alerting.targets]]\nkind = \"pager\"\nurl = \"http://x\"\n", "alerting.targets.kind must be"},
      {"[alerting]\n[[alerting.targets]]\nurl = \"ftp://x\"\n", "alerting.targets.url must be an http"},
      {"[alerting]\n[[alerting.inhibit]]\nsource = [\"alertname~x\"]\ntarget = [\"a=b\"]\n", "alerting.inhibit: matcher"},
      {"[alerting]\n[[alerting.inhibit]]\nsource = [\"a=b\"]\n", "needs source and target"},
  };
  for (const auto& b : bad) EXPECT_TRUE(ConfigRefused(b.toml, b.error));
}

}  // namespace
}  // namespace custos::collector
