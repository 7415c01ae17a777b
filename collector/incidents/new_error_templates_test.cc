#include "collector/incidents/new_error_templates.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace custos::collector {
namespace {

constexpr int64_t kMinute = 60'000'000'000LL;
constexpr int64_t kT0 = 1'800'000'000'000'000'000LL;

v1::Batch Logs(const std::vector<std::tuple<int64_t, std::string, std::string>>& lines) {
  v1::Batch b;
  b.add_resources()->set_node_id("n1");
  for (const char* service : {"checkout", "payments"}) {
    v1::Resource* r = b.add_resources();
    r->set_node_id("n1");
    r->set_service_name(service);
  }
  for (const auto& [minute, service, message] : lines) {
    v1::LogRecord* l = b.add_records()->mutable_log();
    l->set_resource_ref(service == "checkout" ? 1 : 2);
    l->set_time_unix_nano(static_cast<uint64_t>(kT0 + minute * kMinute));
    l->set_message(message);
  }
  return b;
}

TEST(NewErrorTemplates, AlertsOnceOnAnErrorStatementNewAfterTheWarmup) {
  MetricsRegistry metrics;
  NewErrorTemplates t({}, metrics);
  // The first hour: learned, not alerted.
  EXPECT_TRUE(t.Observe(Logs({{0, "checkout", "ERROR c.s.Cart#40 cart 17 not found"},
                              {1, "checkout", "ERROR coupon WINTER for alice expired"},
                              {30, "checkout", "INFO c.s.Cart#12 cart 17 loaded"}}))
                  .empty());
  // Later: a known error (other numbers), an INFO line and another service's
  // first error (still warming up) are quiet; a new error statement is not.
  auto alerts = t.Observe(Logs({{90, "checkout", "ERROR c.s.Cart#40 cart 99 not found"},
                                {91, "checkout", "INFO c.s.Cart#77 something new"},
                                {92, "payments", "ERROR p.Charge#5 card declined"},
                                {93, "checkout", "ERROR c.s.Cart#61 price service timed out after 3000 ms"},
                                {94, "checkout", "ERROR c.s.Cart#61 price service timed out after 2900 ms"},
                                // Known by its words: the first was learned in the warm-up
                                {95, "checkout", "ERROR coupon SPRING for bob expired"}}));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rule, "log.new-error-template");
  EXPECT_NE(alerts[0].message.find("price service timed out after 3000 ms"), std::string::npos);
  EXPECT_EQ(alerts[0].labels[0], (std::pair<std::string, std::string>{"service", "checkout"}));
  EXPECT_EQ(alerts[0].labels[1].second, "ERROR c.s.Cart#61");
  EXPECT_EQ(metrics.Value("custos_collector_new_error_template_alerts_total"), 1);
}

TEST(NewErrorTemplates, LinesWithoutALocationAreKnownByTheirWords) {
  MetricsRegistry metrics;
  NewErrorTemplates t({.warmup_nanos = 0}, metrics);
  auto alerts = t.Observe(Logs({{0, "payments", "ERROR charge for alice declined by issuer"},
                                {1, "payments", "ERROR charge for bob declined by issuer"},
                                {2, "payments", "ERROR ledger write failed: disk full"}}));
  ASSERT_EQ(alerts.size(), 2u);  // the two statements, not three lines
  EXPECT_EQ(alerts[1].labels[1].second, "ERROR ledger write failed: disk full");
}

TEST(NewErrorTemplates, TheTemplateBoundIsCounted) {
  MetricsRegistry metrics;
  NewErrorTemplates t({.warmup_nanos = 0, .max_templates = 2}, metrics);
  auto alerts = t.Observe(Logs({{0, "checkout", "ERROR one"},
                                {1, "checkout", "ERROR two"},
                                {2, "checkout", "ERROR three"},
                                {3, "checkout", "ERROR three"}}));
  EXPECT_EQ(alerts.size(), 2u);
  EXPECT_EQ(metrics.Value("custos_collector_error_templates_untracked_total"), 2);
}

}  // namespace
}  // namespace custos::collector

namespace custos::collector {
namespace {

TEST(NewErrorTemplates, LevelsFromTextJsonAndSeverityAreAllSeen) {
  MetricsRegistry metrics;
  NewErrorTemplates t({.warmup_nanos = 0}, metrics);
  v1::Batch b = Logs({{0, "checkout", "   16:42:22.382 FATAL  c.s.Boot#9 cannot bind"},
                      {1, "checkout", R"({"severity":"error","message":"queue overflow"})"},
                      {2, "checkout", "INFO all good, no errors here"},
                      {3, "checkout", ""},
                      {4, "checkout", "plain line"}});
  v1::LogRecord* l = b.add_records()->mutable_log();
  l->set_resource_ref(1);
  l->set_time_unix_nano(static_cast<uint64_t>(kT0 + 5 * kMinute));
  l->set_severity(v1::SEVERITY_CRITICAL);
  l->set_message("disk gone");
  auto alerts = t.Observe(b);
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[0].labels[1].second, "FATAL c.s.Boot#9");
  EXPECT_EQ(alerts[1].labels[1].second, "ERROR queue overflow");
  EXPECT_EQ(alerts[2].labels[1].second, "FATAL disk gone");
}

}  // namespace
}  // namespace custos::collector

namespace custos::collector {
namespace {

TEST(NewErrorTemplates, WhatWasLearnedOutlivesARestart) {
  char tmpl[] = "/tmp/custos_errtpl_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto db = store::Db::Open(dir + "/custos.db", /*create=*/true);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  MetricsRegistry metrics;
  {
    NewErrorTemplates before({}, metrics);
    ASSERT_TRUE(before.Load(**db).ok());
    // The warm-up hour: learned, not alerted.
    EXPECT_TRUE(before.Observe(Logs({{0, "checkout", "ERROR c.s.Cart#40 cart 17 not found"},
                                     {1, "checkout", "ERROR coupon WINTER for alice expired"}}))
                    .empty());
    ASSERT_TRUE(before.Save(**db).ok());
    // Learned after the last save: kept for the next, even past a failure.
    EXPECT_EQ(before.Observe(Logs({{70, "checkout", "ERROR c.s.Pay#9 card declined"}})).size(), 1u);
    ASSERT_TRUE((*db)->Exec("DROP TABLE error_templates").ok());
    EXPECT_FALSE(before.Save(**db).ok());
    ASSERT_TRUE(before.Load(**db).ok());  // the table again (and nothing new to learn from it)
    ASSERT_TRUE(before.Save(**db).ok());
  }
  NewErrorTemplates after({}, metrics);
  ASSERT_TRUE(after.Load(**db).ok());
  EXPECT_EQ(after.templates(), 1u);  // the dropped table took the first two with it
  ASSERT_TRUE((*db)->Exec("DELETE FROM error_templates").ok());
  {
    NewErrorTemplates again({}, metrics);
    ASSERT_TRUE(again.Load(**db).ok());
    EXPECT_EQ(again.templates(), 0u);
  }
  (void)std::system(("rm -rf " + dir).c_str());
}

TEST(NewErrorTemplates, ARestartedCollectorNeitherWarmsUpAgainNorRepeatsItself) {
  char tmpl[] = "/tmp/custos_errtpl_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto db = store::Db::Open(dir + "/custos.db", /*create=*/true);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  MetricsRegistry metrics;
  {
    NewErrorTemplates before({}, metrics);
    ASSERT_TRUE(before.Load(**db).ok());
    EXPECT_TRUE(before.Observe(Logs({{0, "checkout", "ERROR c.s.Cart#40 cart 17 not found"},
                                     {1, "checkout", "ERROR coupon WINTER for alice expired"},
                                     {2, "checkout", "ERROR coupon SPRING for bob expired"}}))
                    .empty());
    ASSERT_TRUE(before.Save(**db).ok());
  }
  NewErrorTemplates after({}, metrics);
  ASSERT_TRUE(after.Load(**db).ok());
  EXPECT_EQ(after.templates(), 2u);
  // Ninety minutes in, after the restart: checkout's hour of warm-up is
  // behind it, the statements it knew stay known (by location, and by
  // words with other words), and a new one alerts at once.
  auto alerts = after.Observe(Logs({{90, "checkout", "ERROR c.s.Cart#40 cart 99 not found"},
                                    {91, "checkout", "ERROR coupon AUTUMN for carol expired"},
                                    {92, "checkout", "ERROR c.s.Cart#61 price service timed out"}}));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].labels[1].second, "ERROR c.s.Cart#61");
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace custos::collector
