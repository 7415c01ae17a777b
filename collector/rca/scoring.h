// Scores every series of a frame around an onset and ranks the entities.
//
// A series' score is a robust z of its values after the onset against its
// reference values: z = (x − median) / scale with
// scale = max(IQR/1.349, 1.4826·MAD, floor), the floor depending on the kind
// of series (a count's Poisson noise, 10 % of a share but 0.02 at least,
// 10 % of log events or calls per request's distance to a whole number,
// 10 % of a latency, …), taken one-sided where only one direction means
// trouble (latency up, success rate down). The series' score is the k-th
// largest z over the post buckets (k = 2: a one-minute spike is not a
// cause); calls per span, read as a share of requests, score 50 at most.
//
// Per-edge series (response and request gaps, client-observed latency, edge
// metrics) are attributed to both ends: an entity's score for an edge kind is
// Σ max(0, z) / (its edges of that kind + 1), because a slow service makes all
// of its edges anomalous while a healthy neighbour shares one edge with it.
// A second pass explains away: each edge's z is split between its two ends
// in proportion to their first-pass scores, so a leaf whose only edge leads
// to the culprit no longer scores half of that edge.
//
// Entities rank by their best series, then their 2nd and 3rd best, then
// name; where two adjacent entities score the same and the second is a
// callee of the first, the callee goes first (failures propagate upstream).
// bench/rca/prototype/FINDINGS.md records how each choice was made.
#pragma once

#include <string>
#include <vector>

#include "collector/rca/series_frame.h"
#include "collector/rca/trace_features.h"

namespace custos::rca {

struct Window {
  int first = 0, last = 0;  // buckets, inclusive
};

enum class ReferenceMode {
  kAround,  // every bucket with data of the source except the incident's (after-the-fact analysis)
  kBefore,  // only buckets before the incident (what is known at the onset)
};

struct ScoringOptions {
  Window metric_post{1, 4};   // metric samples summarise the minute before them
  int metric_reference = 60;  // the last 60 metric buckets before the onset
  Window trace_post{0, 2};    // traces, logs and events
  Window reference_exclude{-2, 5};
  ReferenceMode reference = ReferenceMode::kAround;
  int min_reference = 5;             // values needed to score a series
  int k = 2;                         // series score = k-th largest post z
  bool edge_explaining_away = true;  // split each edge by its ends' pass-1 scores
  // Split a caller's ERROR-log series with its anomalous callees (see
  // RankEntities); callees count as anomalous from this score up.
  bool caller_errors_to_callees = true;
  double anomalous_callee_score = 3;
  // Rank services that did no work around the onset (no spans, no log
  // lines, no edges: only metrics) after those that did, when any did: a
  // service that served no requests is not where requests failed, however
  // its memory or syscalls moved. Nodes, GPUs and systemd units are not
  // affected (a noisy neighbour shows in metrics only).
  bool idle_services_last = true;
};

struct SeriesScore {
  SeriesId id = 0;
  std::string entity, name;  // name "X|<kind>" for an edge attribution
  double score = 0;
  double median = 0, scale = 0;
  std::vector<std::pair<int, double>> post;  // (bucket, value)
  std::vector<std::string> edges;            // for X|: "caller→callee z=…", best first
};

struct EntityScore {
  std::string entity;
  double score = 0;
  std::vector<SeriesScore> series;  // best first
};

// Scores the series (edges attributed) of `frame`.
std::vector<SeriesScore> ScoreSeries(const SeriesFrame& frame, const ScoringOptions& options);

// Ranks entities; `graph` is the call graph of the incident's buckets.
//
// A caller's ERROR log lines are often the symptom of a failing callee: an
// exception there comes back as an error the caller logs (Train-Ticket's
// services log Tomcat's ERROR when a callee answers 500). So, with
// options.caller_errors_to_callees, each ERROR-log series of a caller whose
// statement other services write too (a framework's report of an exception
// that escaped, not the service's own code) is split like an edge with those
// services below it in the call graph (callees, their callees, …) whose own
// log flow changed (a non-ERROR log series scoring anomalous_callee_score or
// more: an exception skips the statements after it): the caller's share is
// in proportion to its best other series, each such callee's to its
// log-flow score, as series "X|errin". A callee that is only slow or busy takes nothing: a service's
// own ERROR statement stays its own evidence unless a callee's code visibly
// took another path.
std::vector<EntityScore> RankEntities(std::vector<SeriesScore> scores, const CallGraph& graph,
                                      const ScoringOptions& options = {});

// The k-th largest robust z of `post` against `reference` for a series
// `name` (exposed for tests and the baseline).
double RobustScore(const std::string& name, std::vector<double> reference, const std::vector<double>& post, int k,
                   double* median = nullptr, double* scale = nullptr);

// The series names that are not used for ranking (client-side latency
// measures the callee; node-wide metrics belong to no service).
bool ExcludedSeries(const std::string& name);

}  // namespace custos::rca
