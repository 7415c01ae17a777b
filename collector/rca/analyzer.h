// Root-cause analysis of one incident: reads the telemetry around its onset
// from the store (store_loader.h), scores every series (scoring.h) and
// returns the ranked candidate causes with their evidence.
//
//   auto report = rca::Analyze(db, {.load = {.onset_unix_nanos = t}});
//   std::cout << rca::ReportText(*report);
//
// Missing sources are not an error: the ranking uses what there is, and the
// report says which sources had data in the incident's window.
// Thread-safety: stateless; one store::Db per thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "collector/rca/scoring.h"
#include "collector/rca/store_loader.h"
#include "collector/store/sqlite_db.h"
#include "common/status.h"

namespace custos::rca {

struct Evidence {
  std::string series;              // "T|self_p90", "L|evshare|op|ERROR c.s.X#37", "X|resp", ...
  std::string source;              // metric, trace, log, event, edge
  std::string description;         // in words
  double score = 0;                // robust z
  double baseline = 0;             // reference median
  std::vector<double> values;      // in the incident's window
  std::string example;             // a log line, the slowest span, a GPU event
  std::vector<std::string> edges;  // for edge evidence
};

struct Candidate {
  std::string entity;
  double score = 0;
  std::string indicator;           // the winning series
  std::vector<Evidence> evidence;  // best first
};

struct RcaReport {
  int64_t onset_unix_nanos = 0;
  std::vector<Candidate> candidates;  // best first
  LoadStats loaded;
  size_t series = 0, entities = 0;
  std::vector<std::string> sources_in_window;  // which sources had data after the onset
  std::vector<std::string> notes;              // what limited the analysis
  double seconds = 0;                          // time to analyse
};

struct AnalyzeOptions {
  LoadOptions load;
  size_t max_candidates = 10;
  double min_score = 3;  // an entity whose best series moved less is not a candidate
  size_t evidence_per_candidate = 3;
};

Result<RcaReport> Analyze(store::Db& db, const AnalyzeOptions& options);

// Ranks a frame that is already filled (Analyze without the store).
RcaReport AnalyzeFrame(const SeriesFrame& frame, const CallGraph& graph, const AnalyzeOptions& options);

// "trace", "metric", ... and a description in words of a series name.
std::string SeriesSource(const std::string& name);
std::string DescribeSeries(const std::string& name);

std::string ReportText(const RcaReport& report);
nlohmann::json ReportJson(const RcaReport& report);
// Back from ReportJson (a report kept with an incident).
RcaReport ReportFromJson(const nlohmann::json& j);
// One line per top candidate, for an alert's annotations.
std::string ReportSummary(const RcaReport& report, size_t top);

}  // namespace custos::rca
