// Rules over every record kind, thresholds and their bound.
#include "policy/rules.h"

#include <gtest/gtest.h>

#include "custos/v1/records.pb.h"
#include "policy/compiler.h"
#include "policy/decide.h"

namespace custos::policy {
namespace {

constexpr int64_t kT0 = 1'795'000'000'000'000'000;  // 2026-11-18T11:06:40Z (a Wednesday)

std::shared_ptr<const Policy> MustCompile(const std::string& text) {
  CompileResult r = Compile({{"rules.policy", text}}, {1795000000});
  EXPECT_TRUE(r.policy) << r.diagnostics.Format(r.files);
  return r.policy;
}

v1::Resource Node() {
  v1::Resource res;
  res.set_node_id("n1");
  res.set_hostname("gpu-7");
  res.set_region("eu-central-1");
  res.set_systemd_unit("trainer@a.service");
  (*res.mutable_labels())["team"] = "vision";
  return res;
}

std::vector<Alert> Eval(RuleEngine& engine, int kind, const google::protobuf::Message& m, int64_t t,
                       const v1::Resource* res) {
  RecordView view;
  view.record = &m;
  view.resource = res;
  view.time_unix_nano = t;
  std::vector<Alert> out;
  engine.Evaluate(kind, view, out);
  return out;
}

TEST(Rules, EveryRecordKind) {
  auto policy = MustCompile(R"P(regions eu = [eu-central-1]
rule log-oom { on = log
  when = severity >= error and message matches "*Out of memory*" and resource.labels["team"] == "vision"
  severity = error
  message = "{resource.hostname}: {message} (pid {pid}, {severity})" }
rule metric-high { on = metric
  when = name == "node_load1" and value > 8.5 and type == gauge
  severity = warning
  message = "load {value} on {resource.node_id}" }
rule span-error { on = span
  when = status_code == error and attributes["http.route"] == "/predict" and duration_ms >= 100
  severity = warning
  message = "{name} failed after {duration_ms} ms: {status_message}" }
rule gpu-hot { on = gpu_sample
  when = temperature_celsius > 85 and memory_used_bytes > 1000
  severity = warning
  message = "{gpu_uuid} at {temperature_celsius} C" }
rule xid { on = gpu_event
  when = kind == "xid" and code in [79, 48]
  severity = critical
  message = "XID {code} on {gpu_uuid}"
  labels = { team = "infra" } }
rule loss { on = gap
  when = reason == spool_full and lost_records > 0
  severity = error
  message = "lost {lost_records} records: {reason}" }
rule weekday-access { on = access
  when = weekday == wed and hour == 11 and action in [read, list] and resource.region in [eu]
  severity = info
  message = "{principal.user} {action} {object} on {weekday} at {hour}h" }
)P");
  ASSERT_TRUE(policy);
  RuleEngine engine(policy);
  v1::Resource res = Node();

  v1::LogRecord log;
  log.set_severity(v1::SEVERITY_CRITICAL);
  log.set_message("kernel: Out of memory: Killed process 42");
  log.set_pid(42);
  auto alerts = Eval(engine, v1::Record::kLog, log, kT0, &res);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].message, "gpu-7: kernel: Out of memory: Killed process 42 (pid 42, critical)");
  EXPECT_EQ(alerts[0].rule, "log-oom");
  EXPECT_EQ(alerts[0].severity, "error");
  EXPECT_EQ(alerts[0].policy_version, policy->version);
  log.set_severity(v1::SEVERITY_WARNING);
  EXPECT_TRUE(Eval(engine, v1::Record::kLog, log, kT0, &res).empty());

  v1::MetricPoint metric;
  metric.set_name("node_load1");
  metric.set_type(v1::MetricPoint::TYPE_GAUGE);
  metric.set_value(9.25);
  alerts = Eval(engine, v1::Record::kMetric, metric, kT0, &res);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].message, "load 9.25 on n1");
  metric.set_value(8.5);
  EXPECT_TRUE(Eval(engine, v1::Record::kMetric, metric, kT0, &res).empty());

  v1::Span span;
  span.set_name("POST /predict");
  span.set_status_code(v1::Span::STATUS_ERROR);
  span.set_status_message("timeout");
  span.set_start_time_unix_nano(kT0);
  span.set_end_time_unix_nano(kT0 + 250'000'000);
  (*span.mutable_attributes())["http.route"] = "/predict";
  alerts = Eval(engine, v1::Record::kSpan, span, kT0, &res);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].message, "POST /predict failed after 250 ms: timeout");
  span.set_end_time_unix_nano(kT0 + 50'000'000);
  EXPECT_TRUE(Eval(engine, v1::Record::kSpan, span, kT0, &res).empty());

  v1::GpuSample sample;
  sample.set_gpu_uuid("GPU-1");
  sample.set_temperature_celsius(91);
  sample.set_memory_used_bytes(5000);
  alerts = Eval(engine, v1::Record::kGpuSample, sample, kT0, &res);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].message, "GPU-1 at 91 C");

  v1::GpuEvent event;
  event.set_kind("xid");
  event.set_code(79);
  event.set_gpu_uuid("GPU-1");
  alerts = Eval(engine, v1::Record::kGpuEvent, event, kT0, &res);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].message, "XID 79 on GPU-1");
  EXPECT_EQ(alerts[0].labels, (std::vector<std::pair<std::string, std::string>>{{"team", "infra"}}));
  event.set_code(13);
  EXPECT_TRUE(Eval(engine, v1::Record::kGpuEvent, event, kT0, &res).empty());

  v1::Gap gap;
  gap.set_reason(v1::Gap::REASON_SPOOL_FULL);
  gap.set_lost_records(17);
  alerts = Eval(engine, v1::Record::kGap, gap, kT0, &res);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].message, "lost 17 records: spool_full");

  v1::AccessEvent access;
  access.mutable_principal()->set_user("alice");
  access.set_action(v1::AccessEvent::ACTION_READ);
  access.set_object("/data/x");
  alerts = Eval(engine, v1::Record::kAccess, access, kT0, &res);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].message, "alice read /data/x on wed at 11h");
  EXPECT_TRUE(Eval(engine, v1::Record::kAccess, access, kT0 + 86400'000'000'000, &res).empty());  // Thursday
  res.set_region("us-east-1");
  EXPECT_TRUE(Eval(engine, v1::Record::kAccess, access, kT0, &res).empty());
}

TEST(Rules, ThresholdFiresOncePerBurstPerKey) {
  auto policy = MustCompile(R"P(rule burst { on = access
  when = verdict == deny
  at_least = 3
  within = 1m
  by = ["principal.user"]
  severity = warning
  message = "{count} denials for {principal.user}" }
)P");
  ASSERT_TRUE(policy);
  RuleEngine engine(policy);
  v1::AccessEvent a;
  a.mutable_principal()->set_user("mallory");
  auto deny = [&](int64_t t, const std::string& user) {
    a.mutable_principal()->set_user(user);
    RecordView view;
    view.record = &a;
    view.time_unix_nano = t;
    view.verdict = static_cast<int>(Decision::kDeny);
    std::vector<Alert> out;
    engine.Evaluate(v1::Record::kAccess, view, out);
    return out;
  };
  const int64_t s = 1'000'000'000;
  EXPECT_TRUE(deny(kT0, "mallory").empty());
  EXPECT_TRUE(deny(kT0 + 10 * s, "mallory").empty());
  EXPECT_TRUE(deny(kT0 + 11 * s, "eve").empty());  // another key
  auto fired = deny(kT0 + 20 * s, "mallory");
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].message, "3 denials for mallory");
  EXPECT_EQ(fired[0].count, 3u);
  // The count starts again; two more within the minute do not fire.
  EXPECT_TRUE(deny(kT0 + 21 * s, "mallory").empty());
  EXPECT_TRUE(deny(kT0 + 22 * s, "mallory").empty());
  // Old denials slide out of the window.
  EXPECT_TRUE(deny(kT0 + 200 * s, "mallory").empty());
  // An allowed access does not count.
  RecordView allowed;
  allowed.record = &a;
  allowed.time_unix_nano = kT0 + 201 * s;
  allowed.verdict = static_cast<int>(Decision::kAllow);
  std::vector<Alert> out;
  engine.Evaluate(v1::Record::kAccess, allowed, out);
  EXPECT_TRUE(out.empty());
}

TEST(Rules, KeysBeyondTheBoundAreCountedNotDropped) {
  auto policy = MustCompile(R"P(rule burst { on = log
  when = severity == error
  at_least = 2
  within = 1h
  by = ["comm"]
  severity = warning
  message = "{count} errors from {comm}" }
)P");
  ASSERT_TRUE(policy);
  RuleEngine engine(policy, /*max_keys=*/2);
  v1::LogRecord log;
  log.set_severity(v1::SEVERITY_ERROR);
  for (const char* comm : {"a", "b", "c", "d"}) {
    log.set_comm(comm);
    Eval(engine, v1::Record::kLog, log, kT0, nullptr);
  }
  EXPECT_EQ(engine.untracked_keys(), 2u);
  // Tracked keys still fire.
  log.set_comm("a");
  EXPECT_EQ(Eval(engine, v1::Record::kLog, log, kT0 + 1, nullptr).size(), 1u);
}

TEST(Rules, AccessRulesSeeTheDecisionAndGroups) {
  auto policy = MustCompile(R"P(regions eu = [eu-central-1]
dataset cust { paths = ["/data/cust/**"]
  classification = pii }
principal root { uids = [0] }
group admins = [root]
rule admin-pii { on = access
  when = principal in admins and dataset.classification == pii
  severity = warning
  message = "admin read {dataset.id} ({dataset.classification}): {verdict}" }
)P");
  ASSERT_TRUE(policy);
  RuleEngine engine(policy);
  AccessRequest req;
  req.uid = 0;
  req.action = Action::kRead;
  req.object = "/data/cust/a.csv";
  req.region = "eu-central-1";
  Verdict v = Decide(*policy, req);
  v1::AccessEvent a;
  RecordView view;
  view.record = &a;
  view.time_unix_nano = kT0;
  view.verdict = static_cast<int>(v.decision);
  const Dataset& ds = policy->datasets[static_cast<size_t>(v.dataset)];
  view.dataset_id = ds.id;
  view.dataset_classification = ds.classification;
  view.principals = v.principals;
  view.principal_count = v.principal_count;
  std::vector<Alert> out;
  engine.Evaluate(v1::Record::kAccess, view, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].message, "admin read cust (pii): deny");
  view.principal_count = 0;
  out.clear();
  engine.Evaluate(v1::Record::kAccess, view, out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace custos::policy
