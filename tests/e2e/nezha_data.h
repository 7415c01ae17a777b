// Reads the Nezha RCA dataset (shared/datasets/nezha-dev; format in its
// README) and turns it into custos records, as an agent on those nodes
// would have sent them:
//   - spans (trace/*.csv.gz) → Span, resource service.name = the pod's
//     service (pod name without its two hash suffixes), label k8s.pod.name;
//   - logs (log/*.csv.gz) → LogRecord with the application's line (the
//     container runtime's JSON wrapper removed, as a container log parser
//     does) and its trace and span ids;
//   - per-pod metric rows (metric/<pod>_metric.csv.gz) → one gauge
//     MetricPoint per column, stamped at the row's time with start = 60 s
//     before (each row summarises the minute before it). The Node* columns
//     are not sent: the rows do not say which node they describe. Where the
//     TimeStamp column disagrees with the Time column by more than an hour
//     (2022-08-22's adservice file is 2·10⁸ s off), Time is used and the row
//     counted (ReplayCounts::retimed_rows);
//   - Online Boutique edge latency (metric/source_50 and destination_50) →
//     gauges EdgeLatencyP50Src(s) / EdgeLatencyP50Dst(s) at the callee with
//     peer.service = the caller.
// construct_data metric files are not read (they cover the kept-aside
// cases' minutes, and one day's are shifted to 2028; see FINDINGS.md §2).
//
// The onset of a case is the start of the collection window of its first
// file: midnight + (HH:MM − 1 min) + the day's phase (the second of the
// minute at which the data's collector cut its files, estimated from the
// spans as the phase that puts the most spans into their own file).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "custos/v1/records.pb.h"

namespace custos::nezha {

struct Case {
  std::string system;  // "hipster" or "ts"
  std::string day, inject_time, pod, service, type;
  int minute = 0;                // HH:MM of the first file, minutes since midnight
  int64_t onset_unix_nanos = 0;  // set by SetOnsets()
  std::string indicator_label;   // from root_cause_<system>.json ("" when unlabelled)
};

struct Day {
  std::string name;  // 2023-01-29
  std::string system;
  int64_t midnight_unix = 0;
  double phase_seconds = 0;
  std::vector<Case> cases;
};

// The pod's service: the name without its two hash suffixes.
std::string ServiceOfPod(const std::string& pod);

// The days of the dataset under `root`, with their cases and labels.
Result<std::vector<Day>> ListDays(const std::string& root);

// What to send. Empty sets mean everything.
struct Selection {
  std::set<int> trace_minutes;                             // HH:MM of rca_data trace/log files to send
  bool baseline = true;                                    // construct_data traces and logs
  std::vector<std::pair<int64_t, int64_t>> metric_ranges;  // [from, to) unix seconds; empty = all rows
};

// Receives records in chunks; `resource_ref` gives the ref of a resource
// (as Batcher::InternResource does).
struct RecordSink {
  std::function<uint32_t(const v1::Resource&)> resource_ref;
  std::function<Status(std::vector<v1::Record>&&)> add;
};

struct ReplayCounts {
  uint64_t spans = 0, logs = 0, metric_points = 0, bad_rows = 0;
  uint64_t retimed_rows = 0;  // metric rows whose TimeStamp disagreed with their Time column (taken from Time)
};

// Sends one day's data; estimates the day's phase from its spans and sets
// the cases' onsets.
Result<ReplayCounts> ReplayDay(const std::string& root, Day& day, const Selection& selection, RecordSink& sink);

// The Nezha indicator a custos series stands for: "CpuUsageRate(%)",
// "NetworkP90(ms)", "log:<template>" or the series itself.
std::string IndicatorOf(const std::string& series);
// Whether an indicator matches a label (a log label "A_B" matches a template
// naming A or B).
bool IndicatorMatches(const std::string& indicator, const std::string& label);

}  // namespace custos::nezha
