#include "collector/slo/slo_tracker.h"

#include <gtest/gtest.h>

namespace custos::slo {
namespace {

constexpr int64_t kMinute = 60'000'000'000LL;
constexpr int64_t kT0 = 1'800'000'000LL * 1'000'000'000LL / kMinute * kMinute;

// One minute of `requests` entry spans of `service`, `bad` of them errors
// (or, with slow_ms > 0, slow instead).
v1::Batch Minute(int64_t minute, int requests, int bad, const std::string& service = "checkout", double slow_ms = 0) {
  v1::Batch b;
  b.add_resources()->set_node_id("n1");
  v1::Resource* r = b.add_resources();
  r->set_node_id("n1");
  r->set_service_name(service);
  for (int i = 0; i < requests; ++i) {
    v1::Span* s = b.add_records()->mutable_span();
    s->set_resource_ref(1);
    s->set_kind(v1::Span::KIND_SERVER);
    int64_t start = kT0 + minute * kMinute + i * (kMinute / requests);
    double ms = i < bad && slow_ms > 0 ? slow_ms : 20;
    s->set_start_time_unix_nano(static_cast<uint64_t>(start));
    s->set_end_time_unix_nano(static_cast<uint64_t>(start + static_cast<int64_t>(ms * 1e6)));
    if (i < bad && slow_ms <= 0) s->set_status_code(v1::Span::STATUS_ERROR);
    // A client span inside the service is not a request of its own.
    v1::Span* c = b.add_records()->mutable_span();
    *c = *s;
    c->set_kind(v1::Span::KIND_CLIENT);
    c->set_parent_span_id("p");
    c->set_status_code(v1::Span::STATUS_ERROR);
  }
  return b;
}

struct Raised {
  std::map<std::string, std::vector<int64_t>> alerts;  // severity → minutes it was raised at
  int refreshed = 0, resolved = 0;
};

// Feeds minutes [from, to) with `bad` errors per 1,000 and evaluates after each.
void Feed(SloTracker& t, Raised& run, int64_t from, int64_t to, int bad, double slow_ms = 0) {
  for (int64_t m = from; m < to; ++m) {
    t.Observe(Minute(m, 1000, bad, "checkout", slow_ms));
    t.Observe(Minute(m, 1000, 500, "other"));  // another service's failures do not count
    SloTracker::Signals s = t.Evaluate(kT0 + (m + 1) * kMinute);
    for (const policy::Alert& a : s.raised) run.alerts[a.severity].push_back(m);
    for (const policy::Alert& a : s.refresh) (a.resolved ? run.resolved : run.refreshed)++;
  }
}

TEST(SloTracker, ASustainedBurnPagesOnceAndABriefSpikeDoesNot) {
  MetricsRegistry metrics;
  SloTracker t({{.name = "checkout-availability", .service = "checkout", .objective = 0.999}}, metrics);
  Raised run;
  Feed(t, run, 0, 120, 0);     // two quiet hours (0.05 % would be 0.5x; none here)
  Feed(t, run, 120, 121, 50);  // one minute at 5 %: 10x over 5 minutes, 0.8x over the hour
  Feed(t, run, 121, 180, 0);
  EXPECT_TRUE(run.alerts.empty()) << "a one-minute spike paged";
  EXPECT_NEAR(t.BurnRate(0, kT0 + 121 * kMinute, 60 * kMinute), 50.0 / 60, 1e-9);

  Feed(t, run, 180, 230, 50);  // 5 % errors for 50 minutes: 50x
  ASSERT_EQ(run.alerts["critical"].size(), 1u);
  // 14.4x over the hour needs 14.4/50 of it: the 18th minute of the burn.
  EXPECT_EQ(run.alerts["critical"][0], 180 + 17);
  ASSERT_EQ(run.alerts["error"].size(), 1u);  // 6x over 6 h and 30 min
  EXPECT_GT(run.alerts["error"][0], 180);
  // While a page holds it is delivered again each minute; when it stops
  // holding it is delivered once more, resolved.
  EXPECT_GT(run.refreshed, 20);
  EXPECT_EQ(run.resolved, 0);
  // Back to normal: the page stops holding, and a new burn pages again.
  Feed(t, run, 230, 300, 0);
  EXPECT_EQ(run.resolved, 2);  // the critical and the error page
  Feed(t, run, 300, 330, 50);
  EXPECT_EQ(run.alerts["critical"].size(), 2u);
  EXPECT_EQ(metrics.Value("custos_collector_slo_burn_alerts_total"), 4);
}

TEST(SloTracker, TooFewRequestsNeverPage) {
  MetricsRegistry metrics;
  SloTracker t({{.name = "admin", .service = "checkout", .objective = 0.999}}, metrics);
  int pages = 0;
  for (int64_t m = 0; m < 120; ++m) {
    // Three requests an hour, one of them failing: a 333x "burn" on 3 requests.
    if (m % 20 == 0) t.Observe(Minute(m, 1, m == 60 ? 1 : 0));
    pages += static_cast<int>(t.Evaluate(kT0 + (m + 1) * kMinute).raised.size());
  }
  EXPECT_EQ(pages, 0);
  EXPECT_GT(t.BurnRate(0, kT0 + 61 * kMinute, 60 * kMinute), 100);
}

TEST(SloTracker, SlowRequestsBurnALatencySlo) {
  MetricsRegistry metrics;
  SloTracker t({{.name = "checkout-latency", .service = "checkout", .objective = 0.99, .latency_ms = 300}}, metrics);
  Raised run;
  Feed(t, run, 0, 60, 0);
  Feed(t, run, 60, 80, 500, /*slow_ms=*/900);  // half the requests slower than 300 ms: 50x
  ASSERT_EQ(run.alerts["critical"].size(), 1u);
  EXPECT_NEAR(t.BurnRate(0, kT0 + 80 * kMinute, 5 * kMinute), 50, 1e-9);
  // Requests within the objective's latency are good.
  MetricsRegistry m2;
  SloTracker fast({{.name = "x", .service = "checkout", .objective = 0.99, .latency_ms = 1000}}, m2);
  fast.Observe(Minute(0, 100, 100, "checkout", 900));
  EXPECT_EQ(fast.BurnRate(0, kT0 + kMinute, 5 * kMinute), 0);
}

}  // namespace
}  // namespace custos::slo
