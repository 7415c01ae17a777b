// The collector's drift stage: feeds the metric points of declared streams
// (model features, predictions, scores, or any telemetry series named in
// [drift] metrics) from every stored batch into a DriftDetector, one stream
// per (metric, service) — the service, else the systemd unit, else the node —
// and turns the detector's events into alerts (drift raised) and audit
// entries (drift raised and resolved).
//
// Gauges and counters feed their value; histograms feed their buckets.
// Timestamps are the records' own, so replayed or delayed data is judged in
// its own windows; records older than a stream's open window are refused by
// the detector and counted (custos_collector_drift_records_refused_total).
//
// Thread-safety: Observe() and Tick() on the store's writer thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/drift/drift_detector.h"
#include "common/metrics.h"
#include "common/status.h"
#include "custos/v1/transport.pb.h"
#include "policy/rules.h"

namespace custos::drift {

struct DriftMonitorOptions {
  std::vector<std::string> metrics;  // metric names or globs ("model.*"); none: drift is off
  DetectorConfig detector;
};

struct DriftOutput {
  std::vector<policy::Alert> alerts;   // drift raised: stored, audited, joined to incidents
  std::vector<DriftEvent> events;      // raised and resolved, for the audit log
  std::vector<policy::Alert> refresh;  // drifts still holding (each minute) or cleared (resolved = true):
                                       // delivered only, to keep Alertmanager current
};

class DriftMonitor {
 public:
  static Result<std::unique_ptr<DriftMonitor>> Create(DriftMonitorOptions options, MetricsRegistry& metrics);

  void Observe(const v1::Batch& batch, DriftOutput& out);
  void Tick(int64_t now_unix_nanos, DriftOutput& out);

 private:
  DriftMonitor(DriftMonitorOptions options, DriftDetector detector, std::shared_ptr<std::vector<DriftEvent>> events,
               MetricsRegistry& metrics);
  bool Declared(const std::string& metric) const;
  void Collect(int64_t now, DriftOutput& out);

  const DriftMonitorOptions options_;
  DriftDetector detector_;
  std::shared_ptr<std::vector<DriftEvent>> events_;  // filled by the detector's callback
  struct Active {
    policy::Alert alert;
    int64_t last_sent = 0;
  };
  std::map<std::string, Active> drifted_;  // stream → its alert, while drifted
  Counter& refused_;
  Counter& raised_;
  Counter& resolved_;
};

}  // namespace custos::drift
