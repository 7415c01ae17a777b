#include "collector/rca/scoring.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "common/systemd_unit.h"

namespace custos::rca {
namespace {

enum class Group {
  kCpu,
  kMemory,
  kSyscalls,
  kNetworkBytes,
  kWorkload,
  kSuccess,
  kLatencySeconds,
  kClientLatency,
  kNode,
  kOtherMetric,
  kEdgeMetric,
  kEdgeAttributed,
  kTraceCount,
  kTraceShare,
  kTraceDuration,
  kTraceSelf,
  kTraceIn,
  kTraceEdge,
  kTraceKids,
  kTraceErrors,
  kLogCount,
  kLogTemplate,
  kLogErrors,
  kLogShare,
  kLogEventShare,
  kGpuFault,
  kAccessDenied,
};

bool StartsWith(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }
bool EndsWith(const std::string& s, std::string_view p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

Group MetricGroup(const std::string& metric) {
  std::string m = Lower(metric);
  auto has = [&](std::string_view w) { return m.find(w) != std::string::npos; };
  if (StartsWith(m, "node")) return Group::kNode;
  if (has("clientlatency") || has("client_latency") || has("client.latency")) return Group::kClientLatency;
  if (has("cpu")) return Group::kCpu;
  if (has("memory")) return Group::kMemory;
  if (has("syscall")) return Group::kSyscalls;
  if (has("network") || has("bytes")) return Group::kNetworkBytes;
  if (has("workload")) return Group::kWorkload;
  if (has("success")) return Group::kSuccess;
  if (has("latency") || has("duration")) return Group::kLatencySeconds;
  return Group::kOtherMetric;
}

Group GroupOf(const std::string& name) {
  if (StartsWith(name, "X|")) return Group::kEdgeAttributed;
  if (StartsWith(name, "M|")) return MetricGroup(name.substr(2));
  if (StartsWith(name, "E|")) return Group::kEdgeMetric;
  if (StartsWith(name, "G|")) return Group::kGpuFault;
  if (StartsWith(name, "A|")) return Group::kAccessDenied;
  if (StartsWith(name, "T|")) {
    if (StartsWith(name, "T|opshare|")) return Group::kTraceShare;
    if (StartsWith(name, "T|op|")) {
      if (EndsWith(name, "|kids")) return Group::kTraceKids;
      if (EndsWith(name, "|self90")) return Group::kTraceSelf;
      return Group::kTraceCount;
    }
    if (StartsWith(name, "T|in|")) return Group::kTraceIn;
    if (StartsWith(name, "T|netresp|") || StartsWith(name, "T|netreq|")) return Group::kTraceEdge;
    if (StartsWith(name, "T|dur")) return Group::kTraceDuration;
    if (StartsWith(name, "T|self")) return Group::kTraceSelf;
    if (name == "T|err") return Group::kTraceErrors;
    return Group::kTraceCount;
  }
  if (StartsWith(name, "L|evshare|")) return Group::kLogEventShare;
  if (StartsWith(name, "L|share|") || name == "L|errshare") return Group::kLogShare;
  if (StartsWith(name, "L|tpl|") || StartsWith(name, "L|ev|")) return Group::kLogTemplate;
  if (name == "L|n") return Group::kLogCount;
  return Group::kLogErrors;
}

bool IsCount(Group g) {
  return g == Group::kTraceCount || g == Group::kTraceErrors || g == Group::kLogCount || g == Group::kLogTemplate ||
         g == Group::kLogErrors || g == Group::kAccessDenied;
}
bool IsShare(Group g) { return g == Group::kTraceShare || g == Group::kLogShare || g == Group::kLogEventShare; }

// +1: only an increase is anomalous; -1: only a decrease; 0: both.
int Direction(Group g) {
  switch (g) {
    case Group::kCpu:
    case Group::kMemory:
    case Group::kLatencySeconds:
    case Group::kClientLatency:
    case Group::kEdgeMetric:
    case Group::kTraceDuration:
    case Group::kTraceSelf:
    case Group::kTraceIn:
    case Group::kTraceEdge:
    case Group::kTraceErrors:
    case Group::kLogErrors:
    case Group::kGpuFault:
    case Group::kAccessDenied:
      return 1;
    case Group::kSuccess:
      return -1;
    default:
      return 0;
  }
}

// The floor of a share: 10 % of it, kMinShareFloor at least.
constexpr double kMinShareFloor = 0.02;
double ShareFloor(double m) { return std::max(kMinShareFloor, 0.1 * m); }
// The highest z of a share near 0, every request having changed: 50.
constexpr double kAllRequestsZ = 1 / kMinShareFloor;

// 10 % of the distance to the nearest whole number, kMinShareFloor at least.
double WholeNumberFloor(double m) { return ShareFloor(std::fabs(m - std::round(m))); }

// The noise floor of the scale, in the series' unit (FINDINGS.md §3.3).
double Floor(Group g, const std::string& name, double median) {
  double m = std::fabs(median);
  if (IsCount(g)) return std::max(1.0, std::sqrt(m));
  // Log events per request of an operation, and calls made per span of an
  // operation: a statement written, or a call made, a whole number of times
  // on every request (its code path) moves only by the requests that take
  // another path, so the floor is 10 % of the distance to the nearest whole
  // number, like a share's near 0: a statement that every request wrote and
  // none writes any more is as strong as a new one, and so is a call that
  // every request made and some no longer make (an exception skipping it).
  if (g == Group::kLogEventShare || g == Group::kTraceKids) return WholeNumberFloor(m);
  if (IsShare(g)) return ShareFloor(m);
  switch (g) {
    case Group::kCpu:
      return std::max(name.find('%') != std::string::npos ? 1.0 : 10.0, 0.1 * m);  // % or millicores
    case Group::kMemory:
      return std::max(1.0, 0.02 * m);
    case Group::kSyscalls:
      return std::max(10.0, 0.1 * m);
    case Group::kNetworkBytes:
      return std::max(1000.0, 0.1 * m);
    case Group::kWorkload:
      return std::max(0.5, 0.1 * m);
    case Group::kSuccess:
      return std::max(1.0, 0.1 * m);
    case Group::kLatencySeconds:
    case Group::kClientLatency:
    case Group::kEdgeMetric:
      return std::max(0.005, 0.1 * m);
    case Group::kTraceDuration:
    case Group::kTraceSelf:
    case Group::kTraceIn:
    case Group::kTraceEdge:
      return std::max(1.0, 0.1 * m);
    case Group::kGpuFault:
      return 0.1;  // one XID or double-bit error is news
    default:
      return std::max(1e-3, 0.1 * m);
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return SortedQuantile(v, 0.5);
}

// (kind, caller, callee) of a per-edge series.
bool EdgeOf(const std::string& entity, const std::string& name, std::string* kind, std::string* a, std::string* b) {
  auto tail = [&](size_t n) { return name.substr(n); };
  if (StartsWith(name, "T|netresp|")) return *kind = "resp", *a = tail(10), *b = entity, true;
  if (StartsWith(name, "T|netreq|")) return *kind = "req", *a = entity, *b = tail(9), true;
  if (StartsWith(name, "T|in|")) return *kind = "in", *a = tail(5), *b = entity, true;
  if (StartsWith(name, "E|")) {  // E|<metric>|<peer>
    size_t bar = name.rfind('|');
    return *kind = "e:" + name.substr(2, bar - 2), *a = name.substr(bar + 1), *b = entity, true;
  }
  return false;
}

}  // namespace

bool ExcludedSeries(const std::string& name) {
  Group g = GroupOf(name);
  return g == Group::kNode || g == Group::kClientLatency;
}

double RobustScore(const std::string& name, std::vector<double> ref, const std::vector<double>& post, int k,
                   double* median_out, double* scale_out) {
  std::sort(ref.begin(), ref.end());
  double med = SortedQuantile(ref, 0.5);
  std::vector<double> dev;
  dev.reserve(ref.size());
  for (double x : ref) dev.push_back(std::fabs(x - med));
  double mad = 1.4826 * Median(std::move(dev));
  double iqr = (SortedQuantile(ref, 0.75) - SortedQuantile(ref, 0.25)) / 1.349;
  Group g = GroupOf(name);
  double scale = std::max({iqr, mad, Floor(g, name, med)});
  int dir = Direction(g);
  std::vector<double> zs;
  for (double x : post) {
    double z = (x - med) / scale;
    zs.push_back(dir == 1 ? z : dir == -1 ? -z : std::fabs(z));
  }
  std::sort(zs.rbegin(), zs.rend());
  if (median_out) *median_out = med;
  if (scale_out) *scale_out = scale;
  if (zs.empty()) return 0;
  double z = zs[std::min<size_t>(static_cast<size_t>(k), zs.size()) - 1];
  // Calls per span move by the calls each diverted request no longer (or
  // newly) makes, often several: read as a share of requests, they change
  // at most as much as a share can, so that an operation that makes many
  // calls does not outweigh a statement that every request stopped writing.
  return g == Group::kTraceKids ? std::min(z, kAllRequestsZ) : z;
}

namespace {

struct Windows {
  std::vector<int> post, ref;
};

// Post and reference buckets of each source family.
Windows WindowsFor(Source src, const SeriesFrame& f, const ScoringOptions& o) {
  Windows w;
  if (src == Source::kMetric) {
    for (int b : f.Buckets(Source::kMetric)) {
      if (b >= o.metric_post.first && b <= o.metric_post.last) w.post.push_back(b);
      if (b < 0) w.ref.push_back(b);
    }
    if (w.ref.size() > static_cast<size_t>(o.metric_reference))
      w.ref.erase(w.ref.begin(), w.ref.end() - o.metric_reference);
    return w;
  }
  // Events are sparse: every bucket with any data counts (as a zero).
  std::set<int> with_data;
  if (src == Source::kEvent) {
    for (int s = 0; s < kSourceCount; ++s) with_data.insert(f.Buckets(Source(s)).begin(), f.Buckets(Source(s)).end());
  }
  const std::set<int>& buckets = src == Source::kEvent ? with_data : f.Buckets(src);
  for (int b : buckets) {
    if (b >= o.trace_post.first && b <= o.trace_post.last) w.post.push_back(b);
    bool excluded = b >= o.reference_exclude.first && b <= o.reference_exclude.last;
    bool allowed = o.reference == ReferenceMode::kAround || b < o.reference_exclude.first;
    if (!excluded && allowed) w.ref.push_back(b);
  }
  return w;
}

// The share's denominator, which must exist in a bucket for a missing share
// to read as 0 there.
std::string ShareDenominator(const std::string& name) {
  if (StartsWith(name, "T|opshare|")) return "T|n_span";
  if (StartsWith(name, "L|evshare|")) {
    std::string rest = name.substr(10);
    return "T|ent|" + rest.substr(0, rest.find('|'));
  }
  return "L|n";
}

std::vector<SeriesScore> AttributeEdges(std::vector<SeriesScore> scores, bool explain_away) {
  std::vector<SeriesScore> out;
  struct Edge {
    std::string kind, a, b, desc;
    double z;  // max(0, z)
  };
  std::vector<Edge> edges;
  for (SeriesScore& s : scores) {
    Edge e;
    if (!EdgeOf(s.entity, s.name, &e.kind, &e.a, &e.b)) {
      out.push_back(std::move(s));
      continue;
    }
    char text[64];
    std::snprintf(text, sizeof text, " %s z=%.1f", e.kind.c_str(), s.score);
    e.desc = e.a + "→" + e.b + text;
    e.z = std::max(0.0, s.score);
    edges.push_back(std::move(e));
  }
  using Key = std::pair<std::string, std::string>;  // (entity, kind)
  std::map<Key, size_t> degree;
  for (const Edge& e : edges) ++degree[{e.a, e.kind}], ++degree[{e.b, e.kind}];
  // Pass 1: each edge credited in full to both ends.
  std::map<Key, double> first;
  for (const Edge& e : edges) first[{e.a, e.kind}] += e.z, first[{e.b, e.kind}] += e.z;
  for (auto& [key, sum] : first) sum /= static_cast<double>(degree[key] + 1);
  // Pass 2 (explaining away): an edge is split between its ends in
  // proportion to how anomalous each end's edges are overall, so the end
  // that explains many anomalous edges takes most of each.
  std::map<Key, std::vector<std::pair<double, std::string>>> credit;
  for (const Edge& e : edges) {
    double sa = first[{e.a, e.kind}], sb = first[{e.b, e.kind}];
    double share_a = !explain_away || sa + sb <= 0 ? 0.5 : sa / (sa + sb);
    double za = explain_away ? e.z * share_a : e.z, zb = explain_away ? e.z * (1 - share_a) : e.z;
    credit[{e.a, e.kind}].push_back({za, e.desc});
    credit[{e.b, e.kind}].push_back({zb, e.desc});
  }
  for (auto& [key, list] : credit) {
    SeriesScore s;
    s.entity = key.first;
    s.name = "X|" + key.second;
    double sum = 0;
    for (const auto& c : list) sum += c.first;
    s.score = sum / static_cast<double>(degree[key] + 1);
    std::sort(list.rbegin(), list.rend());
    for (size_t i = 0; i < list.size() && i < 5; ++i) s.edges.push_back(list[i].second);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::vector<SeriesScore> ScoreSeries(const SeriesFrame& f, const ScoringOptions& o) {
  Windows win[kSourceCount];
  for (int s = 0; s < kSourceCount; ++s) win[s] = WindowsFor(Source(s), f, o);
  std::vector<SeriesScore> out;
  std::set<SeriesId> seen;
  for (int s = 0; s < kSourceCount; ++s) {
    const Windows& w = win[s];
    auto score_series = [&](SeriesId id) {
      const std::string& name = f.name(id);
      if (SourceOf(name) != Source(s) || seen.count(id) || ExcludedSeries(name)) return;
      seen.insert(id);
      Group g = GroupOf(name);
      SeriesId den_id = 0;
      bool has_den = IsShare(g) && f.Find(f.entity(id), ShareDenominator(name), &den_id);
      auto value_at = [&](int bb, double* v) {
        if (const double* p = f.Get(bb, id)) return *v = *p, true;
        if (IsCount(g) || g == Group::kGpuFault) return *v = 0, true;  // absent in a bucket with data
        if (has_den && f.Get(bb, den_id) != nullptr) return *v = 0, true;
        return false;
      };
      std::vector<double> ref, post;
      SeriesScore score;
      double v;
      for (int rb : w.ref)
        if (value_at(rb, &v)) ref.push_back(v);
      for (int pb : w.post)
        if (value_at(pb, &v)) post.push_back(v), score.post.push_back({pb, v});
      if (ref.size() < static_cast<size_t>(o.min_reference) || post.empty()) return;
      int k = g == Group::kGpuFault ? 1 : o.k;
      score.id = id;
      score.entity = f.entity(id);
      score.name = name;
      score.score = RobustScore(name, std::move(ref), post, k, &score.median, &score.scale);
      out.push_back(std::move(score));
    };
    for (int b : w.post) f.ForEachValue(b, [&](SeriesId id, double) { score_series(id); });
    // A count with no value after the onset where its source had data is a
    // zero: a service that stopped serving (no spans, no logs) is scored too.
    // So is a share whose denominator is still there: a statement no longer
    // written while its requests go on (an exception skipping it).
    if (!w.post.empty()) {
      for (SeriesId id = 0; id < f.series_count(); ++id) {
        const Group g = GroupOf(f.name(id));
        if (!seen.count(id) && (IsCount(g) || IsShare(g))) score_series(id);
      }
    }
  }
  return AttributeEdges(std::move(out), o.edge_explaining_away);
}

namespace {

bool IsErrorLogSeries(const std::string& name) {
  return StartsWith(name, "L|") && (name.find("|ERROR") != std::string::npos ||
                                    name.find("|FATAL") != std::string::npos || name == "L|err" ||
                                    name == "L|errshare");
}

// The statement of a log series: its last '|' part ("ERROR o.a.c.c.C…#175").
std::string LogStatement(const std::string& name) { return name.substr(name.rfind('|') + 1); }

// Spans or log lines of the entity: it was doing work around the onset.
bool ServedRequests(const std::string& name) { return StartsWith(name, "T|") || StartsWith(name, "L|"); }

// A service (named by its telemetry), not a node, a GPU or a systemd unit:
// the entities that may be idle while requests fail elsewhere.
bool IsServiceEntity(const std::string& entity) {
  if (StartsWith(entity, "node:")) return false;
  if (StartsWith(entity, "gpu") && entity.find('@') != std::string::npos) return false;
  return !IsSystemdUnitName(entity);
}

// See RankEntities: callers' ERROR-log evidence shared with anomalous callees.
void ShareCallerErrors(std::map<std::string, EntityScore>& by_entity, const CallGraph& graph,
                       double anomalous) {
  // own: best score of any series but ERROR logs; flow: of the log series
  // among them (statements written more or less often, or no more).
  std::map<std::string, double> own, flow;
  for (const auto& [name, e] : by_entity) {
    double best = 0, best_flow = 0;
    for (const SeriesScore& s : e.series) {
      if (IsErrorLogSeries(s.name)) continue;
      best = std::max(best, s.score);
      if (StartsWith(s.name, "L|")) best_flow = std::max(best_flow, s.score);
    }
    own[name] = best;
    flow[name] = best_flow;
  }
  // An ERROR statement written by several services is their framework
  // reporting an exception that escaped (from their own code or a callee's);
  // one only a service writes is its own code's, and stays its evidence.
  std::map<std::string, std::set<std::string>> writers;  // statement -> entities
  for (const auto& [name, e] : by_entity)
    for (const SeriesScore& s : e.series)
      if (IsErrorLogSeries(s.name)) writers[LogStatement(s.name)].insert(name);
  std::map<std::string, SeriesScore> credit;  // callee -> its X|errin
  for (auto& [caller, e] : by_entity) {
    auto callees = graph.find(caller);
    if (callees == graph.end()) continue;
    const bool shared = std::any_of(e.series.begin(), e.series.end(), [&](const SeriesScore& s) {
      return IsErrorLogSeries(s.name) && s.score > 0 && writers[LogStatement(s.name)].size() >= 2;
    });
    if (!shared) continue;  // nothing of this caller's to split
    // Every service below the caller: an exception deep down comes back
    // through services that may not log it themselves.
    std::set<std::string> reach = callees->second;
    std::vector<std::string> todo(reach.begin(), reach.end());
    while (!todo.empty()) {
      auto it = graph.find(todo.back());
      todo.pop_back();
      if (it == graph.end()) continue;
      for (const std::string& m : it->second)
        if (m != caller && reach.insert(m).second) todo.push_back(m);
    }
    std::vector<std::string> sick;
    double total = own[caller];
    for (const std::string& c : reach) {
      if (c == caller || !by_entity.count(c) || flow[c] < anomalous) continue;
      sick.push_back(c);
      total += flow[c];
    }
    if (sick.empty() || total <= 0) continue;
    for (SeriesScore& s : e.series) {
      if (!IsErrorLogSeries(s.name) || s.score <= 0 || writers[LogStatement(s.name)].size() < 2) continue;
      const double z = s.score;
      s.score = z * own[caller] / total;
      for (const std::string& c : sick) {
        const double share = z * flow[c] / total;
        SeriesScore& x = credit[c];
        if (share <= x.score) continue;
        x.entity = c;
        x.name = "X|errin";
        x.score = share;
        x.edges = {caller + "→" + c + ": " + s.name.substr(2) + " z=" + std::to_string(static_cast<int>(z))};
      }
    }
  }
  for (auto& [c, x] : credit) by_entity[c].series.push_back(std::move(x));
}

}  // namespace

std::vector<EntityScore> RankEntities(std::vector<SeriesScore> scores, const CallGraph& graph,
                                      const ScoringOptions& options) {
  std::map<std::string, EntityScore> by_entity;
  for (SeriesScore& s : scores) {
    EntityScore& e = by_entity[s.entity];
    e.entity = s.entity;
    e.series.push_back(std::move(s));
  }
  if (options.caller_errors_to_callees) ShareCallerErrors(by_entity, graph, options.anomalous_callee_score);
  std::vector<EntityScore> order;
  for (auto& [name, e] : by_entity) {
    std::sort(e.series.begin(), e.series.end(), [](const SeriesScore& a, const SeriesScore& b) {
      return std::tie(b.score, a.name) < std::tie(a.score, b.name);
    });
    e.score = e.series.front().score;
    order.push_back(std::move(e));
  }
  auto nth = [](const EntityScore& e, size_t i) { return i < e.series.size() ? e.series[i].score : -1e9; };
  // Idle services (see ScoringOptions::idle_services_last) go after the rest.
  bool any_requests = false;
  for (const EntityScore& e : order)
    for (const SeriesScore& s : e.series) any_requests = any_requests || ServedRequests(s.name);
  std::map<std::string, int> idle;
  for (const EntityScore& e : order) {
    bool served = std::any_of(e.series.begin(), e.series.end(), [](const SeriesScore& s) {
      return ServedRequests(s.name) || StartsWith(s.name, "X|") || StartsWith(s.name, "E|");
    });
    idle[e.entity] = options.idle_services_last && any_requests && !served && IsServiceEntity(e.entity) ? 1 : 0;
  }
  std::sort(order.begin(), order.end(), [&](const EntityScore& a, const EntityScore& b) {
    return std::make_tuple(idle[a.entity], -a.score, -nth(a, 1), -nth(a, 2), a.entity) <
           std::make_tuple(idle[b.entity], -b.score, -nth(b, 1), -nth(b, 2), b.entity);
  });
  // Equal scores: a callee before its caller (failures propagate upstream).
  // Bounded: each pass only moves callees up past callers.
  for (size_t pass = 0, changed = 1; changed && pass < order.size(); ++pass) {
    changed = 0;
    for (size_t i = 0; i + 1 < order.size(); ++i) {
      auto callees = graph.find(order[i].entity);
      if (std::fabs(order[i].score - order[i + 1].score) < 1e-9 && callees != graph.end() &&
          callees->second.count(order[i + 1].entity)) {
        std::swap(order[i], order[i + 1]);
        changed = 1;
      }
    }
  }
  return order;
}

}  // namespace custos::rca
