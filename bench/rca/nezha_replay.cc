// RCA accuracy on the Nezha data, through custos's real ingest path.
//
//   nezha_replay [--data DIR] [--reference around|before] [--verbose] [--json FILE]
//   nezha_replay --db STORE --explain '2023-01-29 09:49'   # one case, why it ranked so
//
// --db re-scores a store kept from an earlier replay (CUSTOS_KEEP_TEST_DIRS=1
// keeps it). With --explain, NEZHA_EXPLAIN_SERIES=TEXT also lists every
// series whose name has TEXT, and NEZHA_EXPLAIN_RAW='ENTITY|SERIES' one
// series' value in every trace minute.
//
// Replays every day of the dataset (tests/e2e/nezha_cluster.h), then runs
// custos's root-cause analysis (collector/rca) on the stored data at each
// case's onset, and prints AC@1/3/5 per system at service and indicator
// level, beside the same figures for a simple baseline from the same run
// (each service scored by the largest robust z of any of its metric
// columns), the time to analyse one incident and the peak RSS.
// Prints one summary line last; see bench/README.md.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

#include "collector/rca/analyzer.h"
#include "collector/rca/scoring.h"
#include "tests/e2e/nezha_cluster.h"

namespace {

using namespace custos;

struct Ranks {
  std::vector<int> service, indicator;  // 0 = not found
  int labelled = 0;
};

double Ac(const std::vector<int>& ranks, int k) {
  if (ranks.empty()) return 0;
  int hit = 0;
  for (int r : ranks) hit += r > 0 && r <= k;
  return 100.0 * hit / static_cast<double>(ranks.size());
}

// The baseline: per service, the largest |x − median| / max(1.4826·MAD,
// 1 % of |median|, 1e-6) of any metric column over the metric post window,
// against the metric reference window.
std::vector<std::string> BaselineRanking(const rca::SeriesFrame& f, const rca::ScoringOptions& o) {
  std::vector<int> ref, post;
  for (int b : f.Buckets(rca::Source::kMetric)) {
    if (b < 0) ref.push_back(b);
    if (b >= o.metric_post.first && b <= o.metric_post.last) post.push_back(b);
  }
  if (ref.size() > static_cast<size_t>(o.metric_reference)) ref.erase(ref.begin(), ref.end() - o.metric_reference);
  std::map<std::string, double> best;
  for (rca::SeriesId id = 0; id < f.series_count(); ++id) {
    if (f.name(id).rfind("M|", 0) != 0) continue;
    std::vector<double> r, p;
    for (int b : ref)
      if (const double* v = f.Get(b, id)) r.push_back(*v);
    for (int b : post)
      if (const double* v = f.Get(b, id)) p.push_back(*v);
    if (r.size() < static_cast<size_t>(o.min_reference) || p.empty()) continue;
    std::sort(r.begin(), r.end());
    double med = rca::SortedQuantile(r, 0.5);
    std::vector<double> dev;
    for (double x : r) dev.push_back(std::fabs(x - med));
    std::sort(dev.begin(), dev.end());
    double scale = std::max({1.4826 * rca::SortedQuantile(dev, 0.5), 0.01 * std::fabs(med), 1e-6});
    double z = 0;
    for (double x : p) z = std::max(z, std::fabs(x - med) / scale);
    double& b = best[f.entity(id)];
    b = std::max(b, z);
  }
  std::vector<std::pair<double, std::string>> order;
  for (auto& [svc, z] : best) order.push_back({-z, svc});
  std::sort(order.begin(), order.end());
  std::vector<std::string> out;
  for (auto& [z, svc] : order) out.push_back(svc);
  return out;
}

// (service, indicator) pairs ranked by their best series score.
int IndicatorRank(const std::vector<rca::SeriesScore>& scores, const nezha::Case& c) {
  std::map<std::pair<std::string, std::string>, double> best;
  for (const rca::SeriesScore& s : scores) {
    auto key = std::make_pair(s.entity, nezha::IndicatorOf(s.name));
    auto it = best.find(key);
    if (it == best.end() || s.score > it->second) best[key] = s.score;
  }
  std::vector<std::tuple<double, std::string, std::string>> order;
  for (auto& [k, v] : best) order.push_back({-v, k.first, k.second});
  std::sort(order.begin(), order.end());
  for (size_t i = 0; i < order.size(); ++i)
    if (std::get<1>(order[i]) == c.service && nezha::IndicatorMatches(std::get<2>(order[i]), c.indicator_label))
      return static_cast<int>(i + 1);
  return 0;
}

template <typename T>
int RankOf(const std::vector<T>& order, const std::string& service) {
  for (size_t i = 0; i < order.size(); ++i) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (order[i] == service) return static_cast<int>(i + 1);
    } else {
      if (order[i].entity == service) return static_cast<int>(i + 1);
    }
  }
  return 0;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The top entities and the labelled one, each with its best series: what
// the ranking rested on.
void Explain(const std::vector<rca::EntityScore>& ranked, const std::string& truth) {
  if (const char* want = std::getenv("NEZHA_EXPLAIN_SERIES")) {  // every series whose name has this
    for (const rca::EntityScore& e : ranked)
      for (const rca::SeriesScore& s : e.series)
        if (s.name.find(want) != std::string::npos)
          for (size_t k = 0; k < std::max<size_t>(1, s.edges.size()); ++k)
            std::fprintf(stderr, "    %s %s %.2f %s\n", e.entity.c_str(), s.name.c_str(), s.score,
                         k < s.edges.size() ? s.edges[k].c_str() : "");
  }
  for (size_t i = 0; i < ranked.size(); ++i) {
    const rca::EntityScore& e = ranked[i];
    if (i >= 8 && e.entity != truth) continue;
    std::fprintf(stderr, "%s#%zu %s %.2f\n", e.entity == truth ? "* " : "  ", i + 1, e.entity.c_str(), e.score);
    for (size_t j = 0; j < e.series.size() && j < (e.entity == truth ? 10u : 4u); ++j) {
      const rca::SeriesScore& s = e.series[j];
      std::string post;
      for (const auto& [bucket, v] : s.post) post += " " + std::to_string(bucket) + ":" + std::to_string(v).substr(0, 8);
      std::fprintf(stderr, "      %7.2f %s (median %.4g, scale %.3g)%s%s%s\n", s.score, s.name.substr(0, 90).c_str(),
                   s.median, s.scale, post.c_str(), s.edges.empty() ? "" : " | ",
                   s.edges.empty() ? "" : s.edges[0].c_str());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = "../shared/datasets/nezha-dev", json_path, reference = "around", db_path;
  std::string explain;  // "YYYY-MM-DD HH:MM": analyse only that case and print why it ranked so
  bool verbose = false, explain_edges = true, caller_errors = true, idle_last = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--data" && i + 1 < argc)
      root = argv[++i];
    else if (a == "--json" && i + 1 < argc)
      json_path = argv[++i];
    else if (a == "--reference" && i + 1 < argc)
      reference = argv[++i];
    else if (a == "--verbose")
      verbose = true;
    else if (a == "--no-explain-edges")
      explain_edges = false;
    else if (a == "--no-idle-last")
      idle_last = false;
    else if (a == "--no-caller-errors")
      caller_errors = false;
    else if (a == "--explain" && i + 1 < argc)
      explain = argv[++i];
    else if (a == "--db" && i + 1 < argc)
      db_path = argv[++i];  // analyse a store replayed before
    else {
      std::fprintf(stderr,
                   "usage: nezha_replay [--data DIR] [--db STORE] [--reference around|before] [--no-explain-edges] "
                   "[--no-caller-errors] [--no-idle-last] [--verbose] [--json FILE] [--explain 'DAY HH:MM']\n");
      return 2;
    }
  }
  auto days = nezha::ListDays(root);
  if (!days.ok()) {
    std::fprintf(stderr, "nezha_replay: %s\n", days.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<e2e::Cluster> cluster;
  if (db_path.empty()) {
    cluster = nezha::ReplayCluster();
    auto t0 = std::chrono::steady_clock::now();
    auto counts = nezha::Replay(*cluster, root, *days, {}, 1800);
    if (!counts.ok()) {
      std::fprintf(stderr, "nezha_replay: %s\n", counts.status().ToString().c_str());
      return 1;
    }
    double ingest_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(
        stderr,
        "replayed %lu spans, %lu log lines, %lu metric points (%lu bad rows, %lu metric rows retimed) in %.0f s\n",
        static_cast<unsigned long>(counts->spans), static_cast<unsigned long>(counts->logs),
        static_cast<unsigned long>(counts->metric_points), static_cast<unsigned long>(counts->bad_rows),
        static_cast<unsigned long>(counts->retimed_rows), ingest_s);
    cluster->KillAgent(SIGTERM);
    cluster->KillCollector(SIGTERM);
    db_path = cluster->dir() + "/collector/custos.db";
  } else {
    // Only the cases' onsets are needed: read the data, send nothing.
    nezha::RecordSink discard{[](const v1::Resource&) { return 0u; },
                              [](std::vector<v1::Record>&&) { return Status::Ok(); }};
    for (nezha::Day& day : *days) {
      auto n = nezha::ReplayDay(root, day, {}, discard);
      if (!n.ok()) {
        std::fprintf(stderr, "nezha_replay: %s\n", n.status().ToString().c_str());
        return 1;
      }
    }
  }
  auto db = store::Db::Open(db_path, false, true);
  if (!db.ok()) {
    std::fprintf(stderr, "nezha_replay: %s\n", db.status().ToString().c_str());
    return 1;
  }
  rca::AnalyzeOptions options;
  options.load.scoring.edge_explaining_away = explain_edges;
  options.load.scoring.caller_errors_to_callees = caller_errors;
  options.load.scoring.idle_services_last = idle_last;
  options.load.scoring.reference = reference == "before" ? rca::ReferenceMode::kBefore : rca::ReferenceMode::kAround;
  std::map<std::string, Ranks> ours, base;
  std::vector<double> seconds;
  nlohmann::json cases = nlohmann::json::array();
  for (const nezha::Day& day : *days) {
    for (const nezha::Case& c : day.cases) {
      if (!explain.empty() && c.day + " " + c.inject_time.substr(11, 5) != explain) continue;
      auto start = std::chrono::steady_clock::now();
      options.load.onset_unix_nanos = c.onset_unix_nanos;
      rca::SeriesFrame frame(c.onset_unix_nanos);
      rca::CallGraph graph;
      auto loaded = rca::LoadFrame(**db, options.load, frame, graph);
      if (!loaded.ok()) {
        std::fprintf(stderr, "nezha_replay: %s\n", loaded.status().ToString().c_str());
        return 1;
      }
      std::vector<rca::SeriesScore> scores = rca::ScoreSeries(frame, options.load.scoring);
      std::vector<rca::EntityScore> ranked = rca::RankEntities(scores, graph, options.load.scoring);
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      int r = RankOf(ranked, c.service);
      int br = RankOf(BaselineRanking(frame, options.load.scoring), c.service);
      ours[c.system].service.push_back(r);
      base[c.system].service.push_back(br);
      if (!c.indicator_label.empty()) {
        ours[c.system].indicator.push_back(IndicatorRank(scores, c));
        ++ours[c.system].labelled;
      }
      nlohmann::json top = nlohmann::json::array();
      for (size_t i = 0; i < ranked.size() && i < 5; ++i)
        top.push_back({{"entity", ranked[i].entity}, {"score", ranked[i].score}, {"series", ranked[i].series[0].name}});
      cases.push_back({{"day", c.day},
                       {"inject_time", c.inject_time},
                       {"service", c.service},
                       {"type", c.type},
                       {"rank", r},
                       {"baseline_rank", br},
                       {"seconds", seconds.back()},
                       {"top", top}});
      if (!explain.empty()) Explain(ranked, c.service);
      if (const char* raw = std::getenv("NEZHA_EXPLAIN_RAW"); raw != nullptr && !explain.empty()) {
        std::string want = raw;  // ENTITY|SERIES: its value in every trace bucket
        rca::SeriesId id;
        if (frame.Find(want.substr(0, want.find('|')), want.substr(want.find('|') + 1), &id))
          for (int bucket : frame.Buckets(rca::Source::kTrace))
            if (const double* v = frame.Get(bucket, id)) std::fprintf(stderr, " %d:%.3g", bucket, *v);
        std::fprintf(stderr, "\n");
      }
      if (verbose || !explain.empty()) {
        std::fprintf(stderr, "  %s %s %-14s %-28s rank %-3d base %-3d | %s %.1f %s\n", c.day.c_str(),
                     c.inject_time.substr(11, 5).c_str(), c.type.c_str(), c.service.c_str(), r, br,
                     ranked.empty() ? "-" : ranked[0].entity.c_str(), ranked.empty() ? 0 : ranked[0].score,
                     ranked.empty() ? "" : ranked[0].series[0].name.substr(0, 60).c_str());
      }
    }
  }
  if (!explain.empty() && seconds.empty()) {
    std::fprintf(stderr,
                 "nezha_replay: no case at '%s' (give the day and the minute of its inject_time, "
                 "as in '2023-01-29 09:49')\n",
                 explain.c_str());
    return 2;
  }
  if (!json_path.empty()) std::ofstream(json_path) << cases.dump(1) << "\n";
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::string line = "nezha_replay (development set, reference " + reference + "):";
  for (const char* system : {"hipster", "ts"}) {
    const Ranks& o = ours[system];
    const Ranks& b = base[system];
    char buf[400];
    std::snprintf(
        buf, sizeof buf,
        " %s n=%zu service AC@1/3/5 %.1f/%.1f/%.1f (baseline %.1f/%.1f/%.1f), indicator %.1f/%.1f/%.1f (n=%d);", system,
        o.service.size(), Ac(o.service, 1), Ac(o.service, 3), Ac(o.service, 5), Ac(b.service, 1), Ac(b.service, 3),
        Ac(b.service, 5), Ac(o.indicator, 1), Ac(o.indicator, 3), Ac(o.indicator, 5), o.labelled);
    line += buf;
  }
  char tail[200];
  std::snprintf(tail, sizeof tail, " analysis median %.2f s/incident (max %.2f), peak RSS %ld MiB\n", Median(seconds),
                seconds.empty() ? 0 : *std::max_element(seconds.begin(), seconds.end()), ru.ru_maxrss / 1024);
  line += tail;
  std::fputs(line.c_str(), stdout);
  return 0;
}
