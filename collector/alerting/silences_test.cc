#include "collector/alerting/silences.h"

#include <gtest/gtest.h>

#include "collector/alerting/alert_outbox.h"
#include "collector/store/sqlite_store.h"
#include "common/clock.h"

namespace custos::collector {
namespace {

constexpr int64_t kNow = 1'795'000'000'000'000'000;
constexpr int64_t kHour = 3'600'000'000'000;

TEST(Matcher, ParsesAndMatchesLikeAlertmanager) {
  const std::map<std::string, std::string> labels = {{"alertname", "gpu-xid-critical"}, {"node", "gpu-7"}};
  struct Case {
    const char* text;
    bool matches;
  } cases[] = {
      {"alertname=gpu-xid-critical", true}, {"alertname=other", false}, {"node!=gpu-7", false},
      {"node!=gpu-8", true},                {"node=~gpu-[0-9]+", true}, {"node=~gpu", false},  // anchored
      {"node!~gpu-.*", false},              {"team=", true},            {"team!=", false},
  };
  for (const auto& c : cases) {
    auto m = ParseMatcher(c.text);
    ASSERT_TRUE(m.ok()) << c.text << ": " << m.status().ToString();
    EXPECT_EQ(m->Matches(labels), c.matches) << c.text;
    EXPECT_EQ(m->ToString(), c.text);
  }
  for (const char* bad : {"=x", "alertname", "node=~[unclosed"}) {
    EXPECT_FALSE(ParseMatcher(bad).ok()) << bad;
  }
}

TEST(Silences, AddMatchExpireAndSurviveARestart) {
  char tmpl[] = "/tmp/custos_silences_XXXXXX";
  std::string path = std::string(mkdtemp(tmpl)) + "/custos.db";
  ASSERT_TRUE(store::SqliteStore::Open({.path = path}).ok());
  auto s = Silences::Open(path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::vector<Matcher> ms = {*ParseMatcher("alertname=gpu-xid-critical"), *ParseMatcher("node=~gpu-.*")};
  EXPECT_FALSE((*s)->Add(ms, kNow, kNow + kHour, "alice", "").ok()) << "a comment is required";
  EXPECT_FALSE((*s)->Add({}, kNow, kNow + kHour, "alice", "x").ok()) << "a matcher is required";
  auto added = (*s)->Add(ms, kNow, kNow + kHour, "alice", "node 7 in repair");
  ASSERT_TRUE(added.ok());
  const std::map<std::string, std::string> hit = {{"alertname", "gpu-xid-critical"}, {"node", "gpu-7"}};
  const std::map<std::string, std::string> miss = {{"alertname", "gpu-xid-critical"}, {"node", "cpu-1"}};
  EXPECT_EQ((*s)->Match(hit, kNow + 1), added->id);
  EXPECT_EQ((*s)->Match(miss, kNow + 1), 0);
  EXPECT_EQ((*s)->Match(hit, kNow + kHour), 0) << "ended";
  EXPECT_EQ((*s)->Match(hit, kNow - 1), 0) << "not started";

  auto reopened = Silences::Open(path);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Match(hit, kNow + 1), added->id);
  ASSERT_TRUE((*reopened)->Expire(added->id, kNow + 10, "bob").ok());
  EXPECT_EQ((*reopened)->Match(hit, kNow + 11), 0);
  EXPECT_EQ((*reopened)->Expire(added->id, kNow + 12, "bob").status().code(), StatusCode::kNotFound);
  auto list = (*reopened)->List(kNow + 20);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].ToJson(kNow + 20)["state"], "expired");
}

TEST(Silences, ASilencedAlertIsNotQueued) {
  char tmpl[] = "/tmp/custos_silenced_XXXXXX";
  std::string path = std::string(mkdtemp(tmpl)) + "/custos.db";
  auto store = store::SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(CreateOutboxTable((*store)->writer_db()).ok());
  auto silences = Silences::Open(path);
  ASSERT_TRUE(silences.ok());
  int64_t now = Clock::Real().NowUnixNanos();
  auto added = (*silences)->Add({*ParseMatcher("alertname=xid")}, now - kHour, now + kHour, "alice", "repair");
  ASSERT_TRUE(added.ok());
  MetricsRegistry metrics;
  AlertingOptions options;
  options.targets = {{AlertTarget::Kind::kAlertmanager, "http://127.0.0.1:1"}};
  AlertOutbox outbox(path, options, metrics);
  outbox.SetSilences(silences->get());
  policy::Alert a;
  a.rule = "xid";
  a.severity = "critical";
  a.time_unix_nano = now;
  auto why = outbox.Enqueue((*store)->writer_db(), a, "gpu-7");
  ASSERT_TRUE(why.ok());
  EXPECT_EQ(*why, "silence:" + std::to_string(added->id));
  a.rule = "other";
  why = outbox.Enqueue((*store)->writer_db(), a, "gpu-7");
  ASSERT_TRUE(why.ok());
  EXPECT_EQ(*why, "");
  EXPECT_EQ(metrics.Value("custos_collector_alerts_silenced_total"), 1);
  auto count = (*store)->writer_db().Prepare("SELECT count(*) FROM alert_outbox");
  ASSERT_TRUE(*(*count)->Step());
  EXPECT_EQ((*count)->Int(0), 1);
}

}  // namespace
}  // namespace custos::collector

namespace custos::collector {
namespace {

TEST(Inhibition, AnActiveCauseMutesItsSymptomsOnTheSameNode) {
  char tmpl[] = "/tmp/custos_inhibit_XXXXXX";
  std::string path = std::string(mkdtemp(tmpl)) + "/custos.db";
  auto store = store::SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(CreateOutboxTable((*store)->writer_db()).ok());
  MetricsRegistry metrics;
  AlertingOptions options;
  options.targets = {{AlertTarget::Kind::kAlertmanager, "http://127.0.0.1:1"}};
  options.inhibit = {{{*ParseMatcher("alertname=xid")}, {*ParseMatcher("alertname=~slow|hot")}, {"node"}, "alertname=xid"}};
  AlertOutbox outbox(path, options, metrics);
  auto enqueue = [&](const std::string& rule, const std::string& node) {
    policy::Alert a;
    a.rule = rule;
    a.severity = "warning";
    a.time_unix_nano = Clock::Real().NowUnixNanos();
    auto why = outbox.Enqueue((*store)->writer_db(), a, node);
    EXPECT_TRUE(why.ok());
    return why.ok() ? *why : "error";
  };
  EXPECT_EQ(enqueue("slow", "n1"), "") << "no cause yet";
  EXPECT_EQ(enqueue("xid", "n1"), "") << "the cause itself is sent";
  EXPECT_EQ(enqueue("hot", "n1"), "inhibited:alertname=xid");
  EXPECT_EQ(enqueue("hot", "n2"), "") << "another node";
  EXPECT_EQ(enqueue("other", "n1"), "") << "not a target";
  EXPECT_EQ(metrics.Value("custos_collector_alerts_inhibited_total"), 1);
}

}  // namespace
}  // namespace custos::collector
