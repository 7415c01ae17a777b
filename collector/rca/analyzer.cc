#include "collector/rca/analyzer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/time_format.h"

namespace custos::rca {
namespace {

bool StartsWith(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

std::string Rest(const std::string& name, size_t prefix) { return name.size() > prefix ? name.substr(prefix) : ""; }

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(v) >= 100 ? "%.0f" : "%.3g", v);
  return buf;
}

}  // namespace

std::string SeriesSource(const std::string& name) {
  if (StartsWith(name, "X|") || StartsWith(name, "E|")) return "edge";
  switch (SourceOf(name)) {
    case Source::kTrace:
      return "trace";
    case Source::kLog:
      return "log";
    case Source::kEvent:
      return "event";
    default:
      return "metric";
  }
}

std::string DescribeSeries(const std::string& n) {
  static const std::pair<const char*, const char*> kFixed[] = {
      {"T|n_span", "spans"},
      {"T|n_entry", "requests served"},
      {"T|err", "spans with error status"},
      {"T|dur_p50", "request latency p50 (ms)"},
      {"T|dur_p90", "request latency p90 (ms)"},
      {"T|dur_p99", "request latency p99 (ms)"},
      {"T|self_p90", "own (exclusive) span time p90 (ms)"},
      {"T|self_p99", "own (exclusive) span time p99 (ms)"},
      {"T|self_mean", "own (exclusive) span time mean (ms)"},
      {"L|n", "log lines"},
      {"L|err", "ERROR log lines"},
      {"L|warn", "WARN log lines"},
      {"L|exc", "log lines mentioning an error or exception"},
      {"L|errshare", "share of ERROR log lines"},
      {"A|denied", "access denials"},
      {"X|resp", "response gaps on its calls (network or queueing)"},
      {"X|req", "request gaps on its calls (network or queueing)"},
      {"X|in", "latency its callers observe"},
      {"X|errin", "ERROR log lines of its callers"}};
  for (const auto& [k, v] : kFixed)
    if (n == k) return v;
  if (StartsWith(n, "M|")) return "metric " + Rest(n, 2);
  if (StartsWith(n, "E|")) return "edge metric " + Rest(n, 2);
  if (StartsWith(n, "X|e:")) return "edge metric " + Rest(n, 4) + " on its calls";
  if (StartsWith(n, "G|")) return "GPU " + Rest(n, 2) + " events";
  if (StartsWith(n, "T|ent|")) return "requests of " + Rest(n, 6);
  if (StartsWith(n, "T|opshare|")) return "share of spans that are " + Rest(n, 10);
  if (StartsWith(n, "T|netresp|")) return "response gap seen by " + Rest(n, 10) + " (ms)";
  if (StartsWith(n, "T|netreq|")) return "request gap to " + Rest(n, 9) + " (ms)";
  if (StartsWith(n, "T|in|")) return "latency seen by caller " + Rest(n, 5) + " (ms)";
  if (StartsWith(n, "T|op|")) {
    std::string rest = Rest(n, 5);
    size_t bar = rest.rfind('|');
    std::string op = rest.substr(0, bar), what = rest.substr(bar + 1);
    if (what == "cnt") return "spans of " + op;
    if (what == "kids") return "calls made per " + op;
    return "own time p90 of " + op + " (ms)";
  }
  if (StartsWith(n, "L|tpl|")) return "log lines \"" + Rest(n, 6) + "\"";
  if (StartsWith(n, "L|share|")) return "share of log lines \"" + Rest(n, 8) + "\"";
  if (StartsWith(n, "L|ev|") || StartsWith(n, "L|evshare|")) {
    bool share = StartsWith(n, "L|evshare|");
    std::string rest = Rest(n, share ? 10 : 5);
    size_t bar = rest.find('|');
    return std::string(share ? "per request of " : "in requests of ") + rest.substr(0, bar) + ": log \"" +
           rest.substr(bar + 1) + "\"";
  }
  return n;
}

RcaReport AnalyzeFrame(const SeriesFrame& frame, const CallGraph& graph, const AnalyzeOptions& o) {
  RcaReport report;
  report.onset_unix_nanos = frame.anchor();
  report.series = frame.series_count();
  static const std::pair<Source, const char*> kSources[] = {
      {Source::kMetric, "metrics"}, {Source::kTrace, "traces"}, {Source::kLog, "logs"}, {Source::kEvent, "events"}};
  const ScoringOptions& s = o.load.scoring;
  for (const auto& [src, label] : kSources) {
    Window w = src == Source::kMetric ? s.metric_post : s.trace_post;
    bool any = false;
    for (int b = w.first; b <= w.last; ++b) any = any || frame.HasSource(b, src);
    if (any) report.sources_in_window.push_back(label);
  }
  for (const char* needed : {"metrics", "traces", "logs"}) {
    if (std::find(report.sources_in_window.begin(), report.sources_in_window.end(), needed) ==
        report.sources_in_window.end())
      report.notes.push_back(std::string("no ") + needed + " in the incident's window: ranked without them");
  }
  std::vector<EntityScore> ranked = RankEntities(ScoreSeries(frame, s), graph, s);
  report.entities = ranked.size();
  for (size_t i = 0; i < ranked.size() && i < o.max_candidates && ranked[i].score >= o.min_score; ++i) {
    const EntityScore& e = ranked[i];
    Candidate c;
    c.entity = e.entity;
    c.score = e.score;
    c.indicator = e.series.front().name;
    for (size_t j = 0; j < e.series.size() && j < o.evidence_per_candidate; ++j) {
      const SeriesScore& ss = e.series[j];
      Evidence ev;
      ev.series = ss.name;
      ev.source = SeriesSource(ss.name);
      ev.description = DescribeSeries(ss.name);
      ev.score = ss.score;
      ev.baseline = ss.median;
      ev.edges = ss.edges;
      for (const auto& [b, v] : ss.post) {
        ev.values.push_back(v);
        if (const std::string* ex = frame.Example(b, ss.id);
            ex != nullptr && ev.example.empty() && !StartsWith(ss.name, "X|"))
          ev.example = *ex;
      }
      c.evidence.push_back(std::move(ev));
    }
    report.candidates.push_back(std::move(c));
  }
  return report;
}

Result<RcaReport> Analyze(store::Db& db, const AnalyzeOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  SeriesFrame frame(o.load.onset_unix_nanos);
  CallGraph graph;
  CUSTOS_ASSIGN_OR_RETURN(LoadStats stats, LoadFrame(db, o.load, frame, graph));
  RcaReport report = AnalyzeFrame(frame, graph, o);
  report.loaded = stats;
  if (stats.spans_left_out > 0)
    report.notes.push_back("max_spans reached: spans beyond " + std::to_string(stats.spans) + " were not read");
  if (stats.logs_left_out > 0)
    report.notes.push_back("max_logs reached: log lines beyond " + std::to_string(stats.logs) + " were not read");
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

std::string ReportSummary(const RcaReport& r, size_t top) {
  std::string out;
  for (size_t i = 0; i < r.candidates.size() && i < top; ++i) {
    const Candidate& c = r.candidates[i];
    if (!out.empty()) out += "; ";
    out += std::to_string(i + 1) + ". " + c.entity + " (" + DescribeSeries(c.indicator) + ", z " + Fixed(c.score) + ")";
  }
  if (!out.empty()) return out;
  if (r.entities == 0)
    return "no candidate: not enough history before the onset to compare with (5 minutes of data needed)";
  return "no candidate: nothing moved beyond its usual range after the onset";
}

std::string ReportText(const RcaReport& r) {
  std::string out = "Root-cause analysis, onset " + FormatUtc(r.onset_unix_nanos) + "\n";
  out += "  sources in the incident's window: ";
  for (size_t i = 0; i < r.sources_in_window.size(); ++i) out += (i ? ", " : "") + r.sources_in_window[i];
  if (r.sources_in_window.empty()) out += "none";
  out += "\n  read: " + std::to_string(r.loaded.metric_points) + " metric points, " + std::to_string(r.loaded.spans) +
         " spans, " + std::to_string(r.loaded.logs) + " log lines, " + std::to_string(r.loaded.gpu_events) +
         " GPU events, " + std::to_string(r.loaded.denials) + " denials; " + std::to_string(r.entities) +
         " entities scored\n";
  if (r.loaded.reference_to_unix_nanos > r.loaded.reference_from_unix_nanos)
    out += "  reference for traces and logs: " + FormatUtc(r.loaded.reference_from_unix_nanos) + " to " +
           FormatUtc(r.loaded.reference_to_unix_nanos) + " (the incident's minutes left out)\n";
  for (const std::string& n : r.notes) out += "  note: " + n + "\n";
  if (r.candidates.empty() && r.entities == 0)
    out += "\n  Not enough history to compare with: a series needs 5 minutes of reference data around the onset.\n";
  else if (r.candidates.empty())
    out += "\n  No series moved beyond its reference after the onset.\n";
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    const Candidate& c = r.candidates[i];
    out += "\n" + std::to_string(i + 1) + ". " + c.entity + "  score " + Fixed(c.score) + "\n";
    for (const Evidence& e : c.evidence) {
      out += "     " + e.source + ": " + e.description + "  z " + Fixed(e.score);
      if (!StartsWith(e.series, "X|")) {
        out += "  (usual " + Fixed(e.baseline) + ", now";
        for (double v : e.values) out += " " + Fixed(v);
        out += ")";
      }
      out += "\n";
      for (const std::string& edge : e.edges) out += "         " + edge + "\n";
      if (!e.example.empty()) out += "         e.g. " + e.example + "\n";
    }
  }
  return out;
}

RcaReport ReportFromJson(const nlohmann::json& j) {
  RcaReport r;
  if (!j.is_object()) return r;
  r.onset_unix_nanos = j.value("onset_unix_nano", int64_t{0});
  r.sources_in_window = j.value("sources_in_window", std::vector<std::string>{});
  r.notes = j.value("notes", std::vector<std::string>{});
  r.entities = j.value("entities_scored", size_t{0});
  r.seconds = j.value("seconds", 0.0);
  const nlohmann::json read = j.value("read", nlohmann::json::object());
  r.loaded.metric_points = read.value("metric_points", uint64_t{0});
  r.loaded.spans = read.value("spans", uint64_t{0});
  r.loaded.logs = read.value("logs", uint64_t{0});
  r.loaded.gpu_events = read.value("gpu_events", uint64_t{0});
  r.loaded.denials = read.value("denials", uint64_t{0});
  for (const auto& cj : j.value("candidates", nlohmann::json::array())) {
    Candidate c;
    c.entity = cj.value("entity", "");
    c.score = cj.value("score", 0.0);
    c.indicator = cj.value("indicator", "");
    for (const auto& ej : cj.value("evidence", nlohmann::json::array())) {
      Evidence e;
      e.series = ej.value("series", "");
      e.source = ej.value("source", "");
      e.description = ej.value("description", "");
      e.score = ej.value("z", 0.0);
      e.baseline = ej.value("baseline", 0.0);
      e.values = ej.value("values", std::vector<double>{});
      e.example = ej.value("example", "");
      e.edges = ej.value("edges", std::vector<std::string>{});
      c.evidence.push_back(std::move(e));
    }
    r.candidates.push_back(std::move(c));
  }
  return r;
}

nlohmann::json ReportJson(const RcaReport& r) {
  nlohmann::json j;
  j["onset"] = FormatUtc(r.onset_unix_nanos);
  j["onset_unix_nano"] = r.onset_unix_nanos;
  j["sources_in_window"] = r.sources_in_window;
  j["notes"] = r.notes;
  j["read"] = {{"metric_points", r.loaded.metric_points},
               {"spans", r.loaded.spans},
               {"logs", r.loaded.logs},
               {"gpu_events", r.loaded.gpu_events},
               {"denials", r.loaded.denials},
               {"spans_left_out", r.loaded.spans_left_out},
               {"logs_left_out", r.loaded.logs_left_out},
               {"reference_from", FormatUtc(r.loaded.reference_from_unix_nanos)},
               {"reference_to", FormatUtc(r.loaded.reference_to_unix_nanos)}};
  j["entities_scored"] = r.entities;
  j["seconds"] = r.seconds;
  j["candidates"] = nlohmann::json::array();
  for (const Candidate& c : r.candidates) {
    nlohmann::json cj = {{"entity", c.entity}, {"score", c.score}, {"indicator", c.indicator}};
    cj["evidence"] = nlohmann::json::array();
    for (const Evidence& e : c.evidence) {
      nlohmann::json ej = {{"series", e.series}, {"source", e.source},     {"description", e.description},
                           {"z", e.score},       {"baseline", e.baseline}, {"values", e.values}};
      if (!e.example.empty()) ej["example"] = e.example;
      if (!e.edges.empty()) ej["edges"] = e.edges;
      cj["evidence"].push_back(std::move(ej));
    }
    j["candidates"].push_back(std::move(cj));
  }
  return j;
}

}  // namespace custos::rca
