#include "collector/incidents/new_error_templates.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "collector/store/sqlite_store.h"

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

// A real store file for what the detector keeps.
class NewErrorTemplatesStore : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_errtpl_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto store = store::SqliteStore::Open({.path = dir_ + "/custos.db"});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    db_ = &store_->writer_db();
  }
  void TearDown() override {
    store_.reset();
    (void)std::system(("rm -rf " + dir_).c_str());
  }

  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
  store::Db* db_ = nullptr;
  MetricsRegistry metrics_;
};

TEST_F(NewErrorTemplatesStore, WhatWasLearnedIsKeptEvenPastAFailedSave) {
  {
    NewErrorTemplates before({}, metrics_);
    ASSERT_TRUE(before.Load(*db_).ok());
    // The warm-up hour: learned, not alerted.
    EXPECT_TRUE(before.Observe(Logs({{0, "checkout", "ERROR c.s.Cart#40 cart 17 not found"},
                                     {1, "checkout", "ERROR coupon WINTER for alice expired"}}))
                    .empty());
    ASSERT_TRUE(before.Save(*db_).ok());
    // Learned after the last save: kept for the next, even past a failure.
    EXPECT_EQ(before.Observe(Logs({{70, "checkout", "ERROR c.s.Pay#9 card declined"}})).size(), 1u);
    ASSERT_TRUE(db_->Exec("DROP TABLE error_templates").ok());
    EXPECT_FALSE(before.Save(*db_).ok());
    ASSERT_TRUE(before.Load(*db_).ok());  // the table again, empty
    ASSERT_TRUE(before.Save(*db_).ok());
  }
  NewErrorTemplates after({}, metrics_);
  ASSERT_TRUE(after.Load(*db_).ok());
  EXPECT_EQ(after.templates(), 1u);  // the dropped table took the first two with it
  EXPECT_TRUE(after.Observe(Logs({{80, "checkout", "ERROR c.s.Pay#9 card declined again"}})).empty());
}

TEST_F(NewErrorTemplatesStore, ARestartedCollectorNeitherWarmsUpAgainNorRepeatsItself) {
  {
    NewErrorTemplates before({}, metrics_);
    ASSERT_TRUE(before.Load(*db_).ok());
    EXPECT_TRUE(before.Observe(Logs({{0, "checkout", "ERROR c.s.Cart#40 cart 17 not found"},
                                     {1, "checkout", "ERROR coupon WINTER for alice expired"},
                                     {2, "checkout", "ERROR coupon SPRING for bob expired"}}))
                    .empty());
    ASSERT_TRUE(before.Save(*db_).ok());
  }
  NewErrorTemplates after({}, metrics_);
  ASSERT_TRUE(after.Load(*db_).ok());
  EXPECT_EQ(after.templates(), 2u);
  // Ninety minutes in, after the restart: checkout's hour of warm-up is
  // behind it, the statements it knew stay known (by location, and by
  // words with other words), and a new one alerts at once.
  auto alerts = after.Observe(Logs({{90, "checkout", "ERROR c.s.Cart#40 cart 99 not found"},
                                    {91, "checkout", "ERROR coupon AUTUMN for carol expired"},
                                    {92, "checkout", "ERROR c.s.Cart#61 price service timed out"}}));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].labels[1].second, "ERROR c.s.Cart#61");
}

TEST_F(NewErrorTemplatesStore, RetentionForgetsStatementsNotSeenWithinIt) {
  {
    NewErrorTemplates before({}, metrics_);
    ASSERT_TRUE(before.Load(*db_).ok());
    EXPECT_TRUE(before.Observe(Logs({{0, "checkout", "ERROR c.s.Cart#40 cart 17 not found"},
                                     {1, "checkout", "ERROR coupon WINTER for alice expired"}}))
                    .empty());
    ASSERT_TRUE(before.Save(*db_).ok());
    // Both seen again later, by location and by other words.
    EXPECT_TRUE(before.Observe(Logs({{100, "checkout", "ERROR c.s.Cart#40 cart 18 not found"}})).empty());
    EXPECT_TRUE(before.Observe(Logs({{110, "checkout", "ERROR coupon SPRING for bob expired"}})).empty());
    ASSERT_TRUE(before.Save(*db_).ok());
  }
  // A retention that ends between the two sightings keeps both; one past
  // the first drops only it.
  ASSERT_TRUE(store_->DeleteOlderThan(kT0 + 50 * kMinute).ok());
  NewErrorTemplates kept({}, metrics_);
  ASSERT_TRUE(kept.Load(*db_).ok());
  EXPECT_EQ(kept.templates(), 2u);
  ASSERT_TRUE(store_->DeleteOlderThan(kT0 + 105 * kMinute).ok());
  NewErrorTemplates after({}, metrics_);
  ASSERT_TRUE(after.Load(*db_).ok());
  EXPECT_EQ(after.templates(), 1u);
  auto alerts = after.Observe(Logs({{120, "checkout", "ERROR c.s.Cart#40 cart 19 not found"},
                                    {121, "checkout", "ERROR coupon WINTER for carol expired"}}));
  ASSERT_EQ(alerts.size(), 1u);  // the forgotten one is news again
  EXPECT_EQ(alerts[0].labels[1].second, "ERROR c.s.Cart#40");
}

}  // namespace
}  // namespace custos::collector
