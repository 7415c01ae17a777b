#include "collector/incidents/incident_tracker.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "collector/store/sqlite_store.h"

namespace custos::collector {
namespace {

constexpr int64_t kMin = 60'000'000'000LL;
constexpr int64_t kT0 = 1'700'000'000'000'000'000LL;  // in the past: a future alert time is clamped to now

policy::Alert MakeAlert(const std::string& rule, int64_t t, const std::string& severity = "warning") {
  policy::Alert a;
  a.rule = rule;
  a.severity = severity;
  a.message = rule + " fired";
  a.kind = "logs";
  a.time_unix_nano = t;
  a.labels = {{"service", "checkout"}};
  return a;
}

rca::RcaReport FakeReport() {
  rca::RcaReport r;
  r.entities = 3;
  rca::Candidate c;
  c.entity = "payments-db";
  c.score = 42;
  c.indicator = "T|self_p90";
  r.candidates.push_back(c);
  return r;
}

struct Fixture {
  std::unique_ptr<store::SqliteStore> store;
  store::Db* db = nullptr;
  MetricsRegistry metrics;
  std::atomic<int> analyses{0};

  Fixture() {
    char tmpl[] = "/tmp/custos_incidents_XXXXXX";
    auto s = store::SqliteStore::Open({.path = std::string(mkdtemp(tmpl)) + "/custos.db"});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(*s);
    db = &store->writer_db();
    EXPECT_TRUE(CreateIncidentTables(*db).ok());
  }

  // Stores an alert as the audit feed does (with its incident).
  int64_t Raise(IncidentTracker& t, const policy::Alert& a, std::vector<IncidentEvent>& events) {
    auto id = t.OnAlert(*db, a, events);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    auto st = db->Prepare(
        "INSERT INTO alerts(ts, resource, rule, severity, message, labels, record_kind, count, "
        "alert_node, incident, subject) VALUES(?1, 0, ?2, ?3, ?4, '{\"service\":\"checkout\"}', 'logs', 1, "
        "'node-1', ?5, nullif(?6, ''))");
    EXPECT_TRUE(st.ok());
    (*st)->Bind(1, a.time_unix_nano);
    (*st)->Bind(2, a.rule);
    (*st)->Bind(3, a.severity);
    (*st)->Bind(4, a.message);
    (*st)->Bind(5, *id);
    (*st)->Bind(6, a.subject);
    EXPECT_TRUE((*st)->Exec().ok());
    return *id;
  }

  std::string Text(const std::string& sql) {
    auto st = db->Prepare(sql);
    EXPECT_TRUE(st.ok()) << sql;
    auto row = (*st)->Step();
    return row.ok() && *row && !(*st)->IsNull(0) ? (*st)->Text(0) : "";
  }

  // Ticks until the worker's analyses are stored (bounded wait for the thread).
  std::vector<IncidentEvent> TickUntilAnalysed(IncidentTracker& t, int64_t now, size_t want) {
    std::vector<IncidentEvent> all;
    for (int i = 0; i < 500; ++i) {
      std::vector<IncidentEvent> events;
      EXPECT_TRUE(t.Tick(*db, now, events).ok());
      for (auto& e : events) all.push_back(std::move(e));
      size_t analysed = 0;
      for (const auto& e : all) analysed += e.kind == IncidentEvent::Kind::kAnalysed;
      if (analysed >= want) break;
      usleep(10'000);
    }
    return all;
  }
};

TEST(IncidentTracker, GroupsAlertsWithinTheWindowAndOpensANewIncidentAfter) {
  Fixture f;
  IncidentTracker t(
      {}, [](int64_t) { return Result<rca::RcaReport>(FakeReport()); }, f.metrics);
  std::vector<IncidentEvent> events;
  int64_t a = f.Raise(t, MakeAlert("errors.burst", kT0), events);
  int64_t b = f.Raise(t, MakeAlert("latency.slo", kT0 + 2 * kMin, "critical"), events);
  int64_t c = f.Raise(t, MakeAlert("errors.burst", kT0 + 20 * kMin), events);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  ASSERT_EQ(events.size(), 2u);  // two incidents opened
  EXPECT_EQ(events[0].kind, IncidentEvent::Kind::kOpened);
  EXPECT_EQ(f.Text("SELECT alerts || ' ' || severity FROM incidents WHERE id = " + std::to_string(a)), "2 critical");
  EXPECT_EQ(f.metrics.Value("custos_collector_incidents_opened_total"), 2);
}

TEST(IncidentTracker, AnAlertAboutAPersonTitlesItsIncidentWithoutThem) {
  Fixture f;
  IncidentTracker t(
      {}, [](int64_t) { return Result<rca::RcaReport>(FakeReport()); }, f.metrics);
  policy::Alert a = MakeAlert("access.violation", kT0);
  a.message = "alice read patients on host-1 (eu-west-1): residency";
  a.subject = "user:alice";
  a.labels = {{"verdict", "deny"}, {"violations", "residency"}, {"dataset", "patients"}};
  std::vector<IncidentEvent> events;
  f.Raise(t, a, events);
  ASSERT_EQ(events.size(), 1u);
  // The title goes into the audit chain, which cannot erase it.
  EXPECT_EQ(events[0].title, "access.violation: verdict=deny violations=residency dataset=patients");
  EXPECT_EQ(f.Text("SELECT title FROM incidents"), events[0].title);
}

TEST(IncidentTracker, AnalysesADueIncidentAndAnnotatesItsAlerts) {
  Fixture f;
  std::atomic<int64_t> analysed_onset{0};
  IncidentTracker t(
      {},
      [&](int64_t onset) {
        analysed_onset = onset;
        return Result<rca::RcaReport>(FakeReport());
      },
      f.metrics);
  t.Start();
  std::vector<IncidentEvent> events;
  policy::Alert about_alice = MakeAlert("errors.burst", kT0);
  about_alice.subject = "user:alice";
  int64_t id = f.Raise(t, about_alice, events);
  // Not due before rca_delay (5 min) has passed.
  EXPECT_TRUE(t.Tick(*f.db, kT0 + 4 * kMin, events).ok());
  EXPECT_EQ(f.Text("SELECT coalesce(rca_at, 'none') FROM incidents"), "none");
  auto all = f.TickUntilAnalysed(t, kT0 + 6 * kMin, 1);
  t.Stop();
  EXPECT_EQ(analysed_onset.load(), kT0);
  const IncidentEvent* analysed = nullptr;
  for (const auto& e : all)
    if (e.kind == IncidentEvent::Kind::kAnalysed) analysed = &e;
  ASSERT_NE(analysed, nullptr);
  EXPECT_EQ(analysed->id, id);
  ASSERT_EQ(analysed->alerts.size(), 1u);
  const policy::Alert& annotated = analysed->alerts[0].first;
  EXPECT_EQ(analysed->alerts[0].second, "node-1");
  EXPECT_EQ(annotated.rule, "errors.burst");
  EXPECT_EQ(annotated.subject, "user:alice");  // its outbox row stays erasable
  ASSERT_EQ(annotated.labels.size(), 1u);  // the same identity as the first delivery
  std::map<std::string, std::string> ann(annotated.annotations.begin(), annotated.annotations.end());
  EXPECT_EQ(ann["incident"], std::to_string(id));
  EXPECT_NE(ann["rca"].find("payments-db"), std::string::npos) << ann["rca"];
  EXPECT_EQ(ann["rca_top_entity"], "payments-db");
  EXPECT_NE(f.Text("SELECT rca_summary FROM incidents").find("payments-db"), std::string::npos);
  EXPECT_NE(f.Text("SELECT rca FROM incidents").find("\"entity\":\"payments-db\""), std::string::npos);
  // Analysed once only.
  std::vector<IncidentEvent> later;
  EXPECT_TRUE(t.Tick(*f.db, kT0 + 7 * kMin, later).ok());
  for (const auto& e : later) EXPECT_NE(e.kind, IncidentEvent::Kind::kAnalysed);
}

TEST(IncidentTracker, AFailedAnalysisIsRecordedNotRetriedForever) {
  Fixture f;
  IncidentTracker t(
      {}, [](int64_t) { return Result<rca::RcaReport>(Status(StatusCode::kUnavailable, "store busy")); }, f.metrics);
  t.Start();
  std::vector<IncidentEvent> events;
  f.Raise(t, MakeAlert("errors.burst", kT0), events);
  for (int i = 0; i < 500 && f.Text("SELECT coalesce(rca_at, '') FROM incidents").empty(); ++i) {
    EXPECT_TRUE(t.Tick(*f.db, kT0 + 6 * kMin, events).ok());
    usleep(10'000);
  }
  t.Stop();
  EXPECT_EQ(f.Text("SELECT rca_summary FROM incidents"), "analysis failed: UNAVAILABLE: store busy");
  EXPECT_EQ(f.metrics.Value("custos_collector_incident_analysis_failures_total"), 1);
}

TEST(IncidentTracker, ResolvesWhenQuietAndBoundsOpenIncidents) {
  Fixture f;
  IncidentOptions o;
  o.max_open = 2;
  o.rca_delay_nanos = 1000 * kMin;  // no analysis in this test
  IncidentTracker t(
      o, [](int64_t) { return Result<rca::RcaReport>(FakeReport()); }, f.metrics);
  std::vector<IncidentEvent> events;
  int64_t first = f.Raise(t, MakeAlert("a", kT0), events);
  f.Raise(t, MakeAlert("b", kT0 + 10 * kMin), events);
  EXPECT_EQ(f.Text("SELECT count(*) FROM incidents WHERE resolved IS NULL"), "2");
  // A third open incident resolves the oldest early (counted).
  f.Raise(t, MakeAlert("c", kT0 + 20 * kMin), events);
  EXPECT_EQ(f.Text("SELECT count(*) FROM incidents WHERE resolved IS NULL"), "2");
  EXPECT_EQ(f.Text("SELECT resolved IS NOT NULL FROM incidents WHERE id = " + std::to_string(first)), "1");
  EXPECT_EQ(f.metrics.Value("custos_collector_incidents_forced_resolves_total"), 1);
  // 15 minutes without a signal: resolved.
  events.clear();
  EXPECT_TRUE(t.Tick(*f.db, kT0 + 30 * kMin, events).ok());
  ASSERT_EQ(events.size(), 1u);  // b (last signal at 10 min); c is 10 minutes old
  EXPECT_EQ(events[0].kind, IncidentEvent::Kind::kResolved);
  EXPECT_EQ(f.Text("SELECT count(*) FROM incidents WHERE resolved IS NULL"), "1");
  // Retention takes incidents resolved before its cutoff; the open one stays.
  const std::string resolved_at = f.Text("SELECT max(resolved) FROM incidents");
  ASSERT_TRUE(f.store->DeleteOlderThan(std::stoll(resolved_at) + 1).ok());
  EXPECT_EQ(f.Text("SELECT count(*) FROM incidents"), "1");
  EXPECT_EQ(f.Text("SELECT count(*) FROM incidents WHERE resolved IS NULL"), "1");
  // Once it is resolved and old too, it stays as the newest: the next
  // incident's id follows it, never one the audit log already names.
  const std::string last = f.Text("SELECT max(id) FROM incidents");
  events.clear();
  EXPECT_TRUE(t.Tick(*f.db, kT0 + 60 * kMin, events).ok());
  ASSERT_TRUE(f.store->DeleteOlderThan(INT64_MAX).ok());
  EXPECT_EQ(f.Text("SELECT count(*) FROM incidents"), "1");
  EXPECT_GT(f.Raise(t, MakeAlert("d", kT0 + 70 * kMin), events), std::stoll(last));
}

}  // namespace
}  // namespace custos::collector
