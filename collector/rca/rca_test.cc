#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <map>
#include <random>

#include "collector/rca/analyzer.h"
#include "collector/rca/log_features.h"
#include "collector/rca/log_template.h"
#include "collector/rca/scoring.h"
#include "collector/rca/trace_features.h"
#include "collector/store/sqlite_store.h"

namespace custos::rca {
namespace {

constexpr int64_t kMs = 1'000'000;

TEST(LogTemplate, Table) {
  struct Case {
    const char* name;
    const char* line;
    int severity;
    const char* want;
  } cases[] = {
      {"logback location", "16:42:22.382 INFO  t.s.TravelServiceImpl#532 TraceID: ab SpanID: cd [getRoute][id 7]", 0,
       "INFO t.s.TravelServiceImpl#532"},
      {"masked digits", "ERROR failed to charge card 4242 after 3 tries", 0,
       "ERROR failed to charge card <*> after <*> tries"},
      {"json severity", R"({"severity":"warning","message":"slow request 35ms"})", 0, "WARN slow request <*>"},
      {"record severity wins", "request done", 5, "ERROR request done"},
      {"no level", "plain text line", 0, "INFO plain text line"},
      {"ten tokens", "a b c d e f g h i j k l", 2, "INFO a b c d e f g h i j"},
  };
  for (const Case& c : cases) EXPECT_EQ(LogTemplate(ParseLogLine(c.line, c.severity)), c.want) << c.name;
}

SpanRow Span(const char* svc, const char* op, const char* id, const char* parent, int64_t start_ms, int64_t end_ms) {
  SpanRow s;
  s.service = svc;
  s.operation = op;
  s.span_id = id;
  s.parent_span_id = parent;
  s.trace_id = "t";
  s.start_unix_nanos = start_ms * kMs;
  s.end_unix_nanos = end_ms * kMs;
  return s;
}

TEST(TraceFeatures, ClientSpansCreditTheCalleeAndExclusiveTimeIsOwnWork) {
  // front (server 0-100) → front client span (10-90) → back server (20-80)
  std::vector<SpanRow> spans = {Span("front", "GET /", "1", "", 0, 100), Span("front", "call back", "2", "1", 10, 90),
                                Span("back", "Serve", "3", "2", 20, 80)};
  SeriesFrame f(0);
  CallGraph graph;
  EntryOperations entry;
  AddTraceBucket(0, spans, f, &graph, &entry);
  SeriesId id;
  ASSERT_TRUE(f.Find("back", "T|in|front", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 80);  // the client span's duration, at the callee
  ASSERT_TRUE(f.Find("front", "T|self_p90", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 20);  // 100 ms minus the 80 ms client span; the client span is not own work
  ASSERT_TRUE(f.Find("back", "T|netresp|front", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 10);  // client end 90 − server end 80
  ASSERT_TRUE(f.Find("front", "T|netreq|back", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 10);  // server start 20 − client start 10
  EXPECT_EQ(graph["front"], std::set<std::string>{"back"});
  EXPECT_EQ(entry["2"], "GET /");
  EXPECT_EQ(entry["3"], "Serve");
  EXPECT_TRUE(f.HasSource(0, Source::kTrace));
}

TEST(TraceFeatures, ParentCycleDoesNotLoop) {
  std::vector<SpanRow> spans = {Span("a", "x", "1", "2", 0, 10), Span("a", "y", "2", "1", 0, 10)};
  SeriesFrame f(0);
  EntryOperations entry;
  AddTraceBucket(0, spans, f, nullptr, &entry);
  EXPECT_EQ(entry.size(), 2u);
}

TEST(LogFeatures, EventsPerRequestJoinThroughTheSpan) {
  SeriesFrame f(0);
  EntryOperations entry = {{"s1", "POST /pay"}};
  f.Put(0, "pay", "T|ent|POST /pay", 4);
  AddLogBucket(0, {{"pay", "ERROR c.p.Pay#31 card declined", 0, "s1"}, {"pay", "ERROR c.p.Pay#31 declined", 0, "s1"}},
               f, &entry);
  AddShares(f);
  SeriesId id;
  ASSERT_TRUE(f.Find("pay", "L|evshare|POST /pay|ERROR c.p.Pay#31", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 0.5);
  ASSERT_TRUE(f.Find("pay", "L|err", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 2);
  ASSERT_TRUE(f.Find("pay", "L|tpl|ERROR c.p.Pay#31", &id));
  ASSERT_NE(f.Example(0, id), nullptr);
  EXPECT_EQ(*f.Example(0, id), "ERROR c.p.Pay#31 card declined");
}

TEST(RobustScore, SecondLargestOneSided) {
  std::vector<double> ref = {10, 11, 9, 10, 10, 11, 9};
  // median 10; IQR/1.349 = 1.48, MAD·1.4826 = 1.48; floor max(1, 1) → scale 1.48
  double med = 0, scale = 0;
  double z = RobustScore("T|dur_p90", ref, {40, 25, 10}, 2, &med, &scale);
  EXPECT_DOUBLE_EQ(med, 10);
  EXPECT_NEAR(scale, 1.4826, 1e-3);
  EXPECT_NEAR(z, 15 / 1.4826, 1e-3);  // the 2nd largest: one spike is not enough
  // Latency going down is not trouble.
  EXPECT_LT(RobustScore("T|dur_p90", ref, {1, 1}, 2), 0);
  // A success rate going down is.
  // (floor 10 % of the median: 10; z 5 and 6, the 2nd largest is 5)
  EXPECT_DOUBLE_EQ(RobustScore("M|PodSuccessRate(%)", {100, 100, 99, 100, 100}, {50, 40}, 2), 5);
}

TEST(RobustScore, AStatementEveryRequestWroteIsAsStrongGoneAsNew) {
  const std::vector<double> never(10, 0.0), always(10, 1.0), twice(10, 2.0);
  const std::string per_request = "L|evshare|/trips|INFO t.s.TravelServiceImpl#457";
  const double appeared = RobustScore(per_request, never, {1, 1}, 2);
  EXPECT_DOUBLE_EQ(appeared, 50);  // (1 − 0) / 0.02
  // Gone from every request: not 10, as a floor of 10 % of 1 made it.
  EXPECT_DOUBLE_EQ(RobustScore(per_request, always, {0, 0}, 2), appeared);
  // One of its two lines a request gone.
  EXPECT_DOUBLE_EQ(RobustScore(per_request, twice, {1, 1}, 2), appeared);
  // Between whole numbers (a branch some requests take), 10 % of the
  // distance to the nearest: 1.5 → 0.05.
  double scale = 0;
  RobustScore(per_request, std::vector<double>(10, 1.5), {1.5, 1.5}, 2, nullptr, &scale);
  EXPECT_DOUBLE_EQ(scale, 0.05);
  // A share of all log lines keeps 10 % of its value.
  RobustScore("L|share|INFO t.s.TravelServiceImpl#457", always, {0, 0}, 2, nullptr, &scale);
  EXPECT_DOUBLE_EQ(scale, 0.1);
}

TEST(RobustScore, CallsSkippedPerSpanScoreAsAShareOfRequests) {
  const std::string place_order = "T|op|PlaceOrder|kids";
  // Five calls on every request; one request in five skips three of them.
  double scale = 0;
  EXPECT_NEAR(RobustScore(place_order, std::vector<double>(10, 5.0), {4.4, 4.4}, 2, nullptr, &scale), 30, 1e-9);
  EXPECT_DOUBLE_EQ(scale, 0.02);
  // Every request skipping three of four calls reads as every request gone
  // another way, as strong as a statement every request stopped writing,
  // not 150.
  EXPECT_DOUBLE_EQ(RobustScore(place_order, std::vector<double>(10, 4.0), {1, 1}, 2), 50);
  // A varying call count keeps the reference's own spread.
  const std::vector<double> varying = {8, 10, 12, 9, 11, 10, 10, 9, 11};
  EXPECT_LT(RobustScore(place_order, varying, {9, 9}, 2), 1);
}

TEST(TraceFeatures, CallsPerSpanByFirstCallTellRoutesOfOneHandlerApart) {
  // One handler op serves two routes: a page (first call GetProduct, then
  // three more) and a checkout whose request failed after its first call.
  std::vector<SpanRow> spans = {
      Span("front", "Recv.", "1", "", 0, 100),       Span("front", "GetProduct", "2", "1", 1, 10),
      Span("front", "GetCart", "3", "1", 11, 20),    Span("front", "Convert", "4", "1", 21, 30),
      Span("front", "GetAds", "5", "1", 31, 40),     Span("front", "Recv.", "6", "", 0, 100),
      Span("front", "PlaceOrder", "7", "6", 1, 50)};
  SeriesFrame f(0);
  AddTraceBucket(0, spans, f, nullptr, nullptr);
  SeriesId id;
  ASSERT_TRUE(f.Find("front", "T|op|Recv.|kids", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 2.5);
  ASSERT_TRUE(f.Find("front", "T|op|Recv. (first call GetProduct)|kids", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 4);
  ASSERT_TRUE(f.Find("front", "T|op|Recv. (first call PlaceOrder)|kids", &id));
  EXPECT_DOUBLE_EQ(*f.Get(0, id), 1);
  // A bucket where the op's spans all begin with the same call has only
  // the op's own series.
  AddTraceBucket(1, {spans[5], spans[6]}, f, nullptr, nullptr);
  EXPECT_FALSE(f.Find("front", "T|op|Recv. (first call PlaceOrder)|kids", &id) && f.Get(1, id) != nullptr);
}

// A synthetic incident: front → mid → back. The fault is in `back`; its own
// time rises and the latency propagates upstream to mid and front.
struct Synthetic {
  SeriesFrame frame{0};
  CallGraph graph;
};

void AddMinute(Synthetic& s, int b, std::mt19937_64& rng, double back_extra_ms, double mid_net_ms, bool traces,
               bool metrics) {
  std::normal_distribution<double> jitter(0, 1);
  if (traces) {
    std::vector<SpanRow> spans;
    int64_t base = int64_t{b} * 60'000;
    for (int i = 0; i < 40; ++i) {
      int64_t t = base + i * 1000;
      // Network delay on mid delays everything crossing its interface.
      auto d = static_cast<int64_t>(mid_net_ms + std::fabs(jitter(rng)) * 0.2);
      auto back_ms = static_cast<int64_t>(5 + jitter(rng) + back_extra_ms);
      std::string n = std::to_string(b) + "-" + std::to_string(i);
      int64_t back_start = t + 4 + d, back_end = back_start + back_ms;
      int64_t mid_call_end = back_end + 1 + d, mid_end = mid_call_end + 1;
      int64_t front_call_end = mid_end + 1 + d;
      // The front end's own work varies from request to request (0-39 ms),
      // as the request mix of an entry service does.
      int64_t front_work = static_cast<int64_t>(rng() % 40);
      spans.push_back(Span("front", "GET /", ("f" + n).c_str(), "", t, front_call_end + 1 + front_work));
      spans.push_back(Span("front", "call mid", ("fc" + n).c_str(), ("f" + n).c_str(), t + 1, front_call_end));
      spans.push_back(Span("mid", "Mid", ("m" + n).c_str(), ("fc" + n).c_str(), t + 2, mid_end));
      spans.push_back(Span("mid", "call back", ("mc" + n).c_str(), ("m" + n).c_str(), t + 3, mid_call_end));
      spans.push_back(Span("back", "Back", ("b" + n).c_str(), ("mc" + n).c_str(), back_start, back_end));
    }
    AddTraceBucket(b, spans, s.frame, b >= 0 && b <= 2 ? &s.graph : nullptr, nullptr);
  }
  if (metrics) {
    s.frame.MarkSource(b, Source::kMetric);
    for (const char* svc : {"front", "mid", "back"}) {
      double cpu = 20 + jitter(rng) + (std::string(svc) == "back" && back_extra_ms > 0 ? 40 : 0);
      s.frame.Put(b, svc, "M|CpuUsageRate(%)", cpu);
    }
  }
}

Synthetic MakeIncident(double back_extra_ms, double mid_net_ms, bool traces, bool metrics) {
  Synthetic s;
  std::mt19937_64 rng(7);
  for (int b = -30; b <= 10; ++b) {
    bool fault = b >= 0 && b <= 4;
    AddMinute(s, b, rng, fault ? back_extra_ms : 0, fault ? mid_net_ms : 0, traces, metrics);
  }
  AddShares(s.frame);
  return s;
}

TEST(Rank, SlowServiceRanksFirstAndItsCallersBehind) {
  Synthetic s = MakeIncident(/*back_extra_ms=*/30, 0, true, true);
  RcaReport r = AnalyzeFrame(s.frame, s.graph, {});
  ASSERT_GE(r.candidates.size(), 3u);
  EXPECT_EQ(r.candidates[0].entity, "back");
  EXPECT_EQ(r.sources_in_window, (std::vector<std::string>{"metrics", "traces"}));
  EXPECT_NE(ReportText(r).find("1. back"), std::string::npos);
}

TEST(Report, KeptAsJsonAndReadBackTheSame) {
  Synthetic s = MakeIncident(30, 0, true, true);
  RcaReport r = AnalyzeFrame(s.frame, s.graph, {});
  ASSERT_FALSE(r.candidates.empty());
  RcaReport back = ReportFromJson(nlohmann::json::parse(ReportJson(r).dump()));
  EXPECT_EQ(ReportText(back), ReportText(r));
  EXPECT_EQ(ReportSummary(back, 3), ReportSummary(r, 3));
}

TEST(Rank, StillSensibleWithOnlyOneSource) {
  for (bool traces : {true, false}) {
    Synthetic s = MakeIncident(30, 0, traces, !traces);
    RcaReport r = AnalyzeFrame(s.frame, s.graph, {});
    ASSERT_FALSE(r.candidates.empty());
    EXPECT_EQ(r.candidates[0].entity, "back") << (traces ? "traces only" : "metrics only");
    EXPECT_FALSE(r.notes.empty());
  }
}

TEST(Rank, NetworkDelayIsAttributedToTheServiceWithAllEdgesSlow) {
  // Every call crossing mid's interface is delayed; front and back share
  // one edge each with mid, so mid collects the most edge evidence. (In this
  // three-service chain the front end's own latency rises by three delays
  // and may outrank it; the Nezha replay measures the ranking on real data.)
  Synthetic s = MakeIncident(0, /*mid_net_ms=*/25, true, false);
  std::map<std::string, double> resp;
  std::map<std::string, std::vector<std::string>> edges;
  for (const SeriesScore& ss : ScoreSeries(s.frame, {})) {
    if (ss.name == "X|resp") resp[ss.entity] = ss.score, edges[ss.entity] = ss.edges;
  }
  ASSERT_EQ(resp.size(), 3u);
  EXPECT_GT(resp["mid"], resp["front"]);
  EXPECT_GT(resp["mid"], resp["back"]);
  EXPECT_EQ(edges["mid"].size(), 2u);
  RcaReport r = AnalyzeFrame(s.frame, s.graph, {});
  auto rank = [&](const std::string& e) {
    for (size_t i = 0; i < r.candidates.size(); ++i)
      if (r.candidates[i].entity == e) return i;
    return r.candidates.size();
  };
  EXPECT_LT(rank("mid"), rank("back"));
}

TEST(Rank, EqualScoresPutTheCalleeFirst) {
  std::vector<SeriesScore> scores(2);
  scores[0].entity = "caller";
  scores[0].name = "L|err";
  scores[0].score = 50;
  scores[1].entity = "callee";
  scores[1].name = "L|err";
  scores[1].score = 50;
  scores.push_back(scores[0]);
  scores.back().name = "L|n";
  scores.back().score = 3;  // the caller would win on its 2nd series
  CallGraph graph = {{"caller", {"callee"}}};
  auto ranked = RankEntities(scores, graph);
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(ranked[0].entity, "callee");
  EXPECT_EQ(RankEntities(scores, {})[0].entity, "caller");
}

SeriesScore Scored(const std::string& entity, const std::string& name, double score) {
  SeriesScore s;
  s.entity = entity;
  s.name = name;
  s.score = score;
  return s;
}

// A framework's ERROR statement in a caller (one other services write too)
// goes mostly to a callee whose own log flow changed; a service's own ERROR
// statement, or a callee that is only slow, keeps the caller first.
TEST(Rank, CallerErrorsGoToACalleeWhoseLogFlowChanged) {
  const std::string framework = "L|evshare|/trips|ERROR o.a.c.c.C.[dispatcherServlet]#175";
  const CallGraph graph = {{"travel", {"route", "seat"}}};
  std::vector<SeriesScore> scores = {
      Scored("travel", framework, 20), Scored("travel", "T|dur_p99", 2),
      Scored("preserve", "L|evshare|/preserve|ERROR o.a.c.c.C.[dispatcherServlet]#175", 5),
      Scored("route", "L|evshare|/routes|INFO r.c.RouteController#53", 10),  // a statement no longer reached
      Scored("seat", "T|self_p99", 8)};                                       // slower only
  auto ranked = RankEntities(scores, graph);
  ASSERT_GE(ranked.size(), 2u);
  EXPECT_EQ(ranked[0].entity, "route");
  EXPECT_EQ(ranked[0].series.front().name, "X|errin");
  EXPECT_NEAR(ranked[0].score, 20.0 * 10 / 12, 1e-9);  // route's flow 10 against travel's other evidence 2
  ASSERT_EQ(ranked[0].series.front().edges.size(), 1u);
  EXPECT_NE(ranked[0].series.front().edges[0].find("travel→route"), std::string::npos);
  for (const EntityScore& e : ranked) {
    if (e.entity == "seat") {
      EXPECT_EQ(e.series.size(), 1u) << "a callee that is only slow takes nothing";
    }
  }

  ScoringOptions off;
  off.caller_errors_to_callees = false;
  EXPECT_EQ(RankEntities(scores, graph, off)[0].entity, "travel");

  // The caller's own statement (no other service writes it) stays its own.
  std::vector<SeriesScore> own = scores;
  own[0].name = "L|evshare|/trips|ERROR t.s.TravelServiceImpl#451";
  EXPECT_EQ(RankEntities(own, graph)[0].entity, "travel");
}

// An exception deep down comes back through a service that does not log it:
// the caller's framework ERROR goes to the service two calls below whose
// statements changed, not to the quiet one in between.
TEST(Rank, CallerErrorsReachAServiceBelowACalleeThatLogsNothing) {
  const CallGraph graph = {{"travel", {"basic"}}, {"basic", {"price"}}};
  std::vector<SeriesScore> scores = {
      Scored("travel", "L|evshare|/trips|ERROR o.a.c.c.C.[dispatcherServlet]#175", 20),
      Scored("travel", "T|dur_p99", 2),
      Scored("preserve", "L|evshare|/preserve|ERROR o.a.c.c.C.[dispatcherServlet]#175", 5),
      Scored("basic", "T|dur_p99", 1),
      Scored("price", "L|evshare|/prices|INFO p.c.PriceController#46", 10)};
  auto ranked = RankEntities(scores, graph);
  ASSERT_GE(ranked.size(), 1u);
  EXPECT_EQ(ranked[0].entity, "price");
  EXPECT_EQ(ranked[0].series.front().name, "X|errin");
  EXPECT_NEAR(ranked[0].score, 20.0 * 10 / 12, 1e-9);
}

// A service that served nothing around the onset (metrics only) goes after
// one that did; a systemd unit with metrics only (a noisy neighbour) keeps
// its place, and without any spans or logs nothing is reordered.
TEST(Rank, AnIdleServiceRanksAfterOnesThatServedRequests) {
  std::vector<SeriesScore> scores = {Scored("consign-price", "M|SyscallWrite", 27),
                                     Scored("travel2", "L|evshare|/trips|INFO t.s.TravelServiceImpl#372", 10),
                                     Scored("travel2", "M|CpuUsageRate(%)", 1)};
  auto ranked = RankEntities(scores, {});
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(ranked[0].entity, "travel2");
  EXPECT_EQ(ranked[1].entity, "consign-price");  // still listed, with its evidence
  ScoringOptions off;
  off.idle_services_last = false;
  EXPECT_EQ(RankEntities(scores, {}, off)[0].entity, "consign-price");

  std::vector<SeriesScore> unit = scores;
  unit[0].entity = "batch-job.service";
  EXPECT_EQ(RankEntities(unit, {})[0].entity, "batch-job.service");
  std::vector<SeriesScore> gpu = scores;
  gpu[0].entity = "gpu0@node-7";
  EXPECT_EQ(RankEntities(gpu, {})[0].entity, "gpu0@node-7");

  std::vector<SeriesScore> metrics_only = {Scored("consign-price", "M|SyscallWrite", 27),
                                           Scored("travel2", "M|CpuUsageRate(%)", 10)};
  EXPECT_EQ(RankEntities(metrics_only, {})[0].entity, "consign-price");
}

// A statement written once per request in every reference minute and in
// none after the onset, while the requests go on, is scored: its share has
// no value after the onset at all, and reads as 0 there.
TEST(Score, AStatementNoLongerWrittenIsScored) {
  SeriesFrame frame(0);
  const SeriesId share = frame.Intern("travel2", "L|evshare|/trips|INFO t.s.TravelServiceImpl#372");
  const SeriesId requests = frame.Intern("travel2", "T|ent|/trips");
  for (int b = -30; b <= 2; ++b) {
    frame.MarkSource(b, Source::kTrace);
    frame.MarkSource(b, Source::kLog);
    frame.Put(b, requests, 12);
    if (b < -2) frame.Put(b, share, 1.0);
  }
  bool found = false;
  for (const SeriesScore& s : ScoreSeries(frame, {})) {
    if (s.id != share) continue;
    found = true;
    EXPECT_NEAR(s.score, 50, 1e-9);  // (0 − 1) / the floor 0.02 of once per request
    EXPECT_EQ(s.post.size(), 3u);
  }
  EXPECT_TRUE(found);
}

TEST(Rank, ExcludedSeries) {
  EXPECT_TRUE(ExcludedSeries("M|PodClientLatencyP90(s)"));
  EXPECT_TRUE(ExcludedSeries("M|NodeCpuUsageRate(%)"));
  EXPECT_FALSE(ExcludedSeries("M|PodServerLatencyP90(s)"));
}

TEST(Rank, QuietIncidentHasNoStrongCandidate) {
  Synthetic s = MakeIncident(0, 0, true, true);
  RcaReport r = AnalyzeFrame(s.frame, s.graph, {});
  for (const Candidate& c : r.candidates) EXPECT_LT(c.score, 5) << c.entity << " " << c.indicator;
}

}  // namespace
}  // namespace custos::rca

namespace custos::rca {
namespace {

// The loader reads a busy store for about an hour and a sparse one as far
// as it must (real SQLite file, the store's own schema).
class LoaderTest : public ::testing::Test {
 protected:
  static constexpr int64_t kMinute = 60'000'000'000LL;
  const int64_t onset_ = int64_t{1'800'000'000} * 1'000'000'000LL;

  void SetUp() override {
    char tmpl[] = "/tmp/custos_rca_loader_XXXXXX";
    path_ = std::string(mkdtemp(tmpl)) + "/custos.db";
    auto store = store::SqliteStore::Open({.path = path_});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    db_ = &store_->writer_db();
    ASSERT_TRUE(db_->Exec("INSERT INTO resources(id, fingerprint, node_id, service_name) VALUES "
                          "(1, x'01', 'n1', 'front'), (2, x'02', 'n1', 'back')")
                    .ok());
  }

  // Minute `m` (relative to the onset): 20 requests front → back, back
  // taking `back_ms`.
  void AddMinute(int m, int back_ms) {
    auto st = db_->Prepare(
        "INSERT INTO spans(ts, resource, trace_id, span_id, parent_span_id, name, end_ts) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    ASSERT_TRUE(st.ok());
    for (int i = 0; i < 20; ++i) {
      int64_t t = onset_ + m * kMinute + i * 2'000'000'000LL;
      std::string id = std::to_string(m) + ":" + std::to_string(i), trace = "t" + id, f = "f" + id, c = "c" + id,
                  b = "b" + id;
      int64_t ms = 1'000'000, jitter = (i % 3) * ms;
      auto row = [&](int64_t start, int resource, const std::string& span, const std::string& parent, const char* name,
                     int64_t end) {
        (*st)->Bind(1, start);
        (*st)->Bind(2, int64_t{resource});
        (*st)->BindBlob(3, trace);
        (*st)->BindBlob(4, span);
        (*st)->BindBlob(5, parent);
        (*st)->Bind(6, std::string_view(name));
        (*st)->Bind(7, end);
        ASSERT_TRUE((*st)->Exec().ok());
      };
      int64_t back_end = t + 2 * ms + back_ms * ms + jitter;
      row(t, 1, f, "", "GET /", back_end + 2 * ms);
      row(t + ms, 1, c, f, "call back", back_end + ms);
      row(t + 2 * ms, 2, b, c, "Serve", back_end);
    }
  }

  std::string path_;
  std::unique_ptr<store::SqliteStore> store_;
  store::Db* db_ = nullptr;
};

TEST_F(LoaderTest, ABusyStoreIsReadForAboutAnHour) {
  ASSERT_TRUE(db_->Exec("BEGIN").ok());
  for (int m = -30 * 60; m <= 5; ++m) AddMinute(m, m >= 0 ? 40 : 5);
  ASSERT_TRUE(db_->Exec("COMMIT").ok());
  auto report = Analyze(*db_, {.load = {.onset_unix_nanos = onset_}});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->loaded.reference_from_unix_nanos, onset_ - 62 * kMinute);
  EXPECT_EQ(report->loaded.spans, (60 + 3) * 60u);  // an hour of reference and the incident's 3 minutes
  ASSERT_FALSE(report->candidates.empty());
  EXPECT_EQ(report->candidates[0].entity, "back");
}

TEST_F(LoaderTest, ASparseStoreIsReadAsFarAsItMust) {
  ASSERT_TRUE(db_->Exec("BEGIN").ok());
  for (int m = -20 * 60; m < -20 * 60 + 10; ++m) AddMinute(m, 5);  // ten minutes, twenty hours ago
  for (int m = 0; m <= 2; ++m) AddMinute(m, 40);
  ASSERT_TRUE(db_->Exec("COMMIT").ok());
  auto report = Analyze(*db_, {.load = {.onset_unix_nanos = onset_}});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->loaded.reference_from_unix_nanos, onset_ - 24 * 60 * kMinute);
  EXPECT_EQ(report->loaded.spans, 13 * 60u);
  ASSERT_FALSE(report->candidates.empty());
  EXPECT_EQ(report->candidates[0].entity, "back");
  EXPECT_NE(ReportText(*report).find("reference for traces and logs"), std::string::npos);
}

}  // namespace
}  // namespace custos::rca

#include "collector/rca/drain.h"

namespace custos::rca {
namespace {

TEST(Drain, JoinsLinesOfOneStatementAndKeepsOthersApart) {
  DrainParser d;
  auto a = d.Add("login failed for user alice");
  EXPECT_TRUE(a.created);
  auto b = d.Add("login failed for user bob");
  EXPECT_FALSE(b.created);
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.text, "login failed for user <*>");
  // As in Drain, the leading tokens route: a variable first word splits.
  EXPECT_TRUE(d.Add("alice logged out now").created);
  EXPECT_EQ(d.Add("request 42 took 17 ms").text, "request <*> took <*> ms");  // digits masked
  auto other = d.Add("login failed: token expired today");                    // same length and start, different words
  EXPECT_TRUE(other.created);
  EXPECT_NE(other.id, a.id);
  EXPECT_EQ(d.clusters(), 4u);
}

TEST(Drain, TheClusterBoundIsCounted) {
  DrainParser d({.depth = 4, .similarity = 0.5, .max_children = 100, .max_clusters = 2});
  d.Add("alpha beta gamma");
  d.Add("delta epsilon zeta");
  auto third = d.Add("eta theta iota");
  EXPECT_EQ(third.id, 0u);
  EXPECT_EQ(d.overflowed(), 1u);
}

}  // namespace
}  // namespace custos::rca
