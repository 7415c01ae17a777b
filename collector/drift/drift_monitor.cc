#include "collector/drift/drift_monitor.h"

#include "common/clock.h"
#include "common/log.h"
#include "policy/policy.h"
#include "schemas/record_refs.h"

namespace custos::drift {

Result<std::unique_ptr<DriftMonitor>> DriftMonitor::Create(DriftMonitorOptions options, MetricsRegistry& metrics) {
  auto events = std::make_shared<std::vector<DriftEvent>>();
  CUSTOS_ASSIGN_OR_RETURN(
      DriftDetector detector,
      DriftDetector::Create(options.detector, [events](const DriftEvent& e) { events->push_back(e); }));
  return std::unique_ptr<DriftMonitor>(new DriftMonitor(std::move(options), std::move(detector), events, metrics));
}

DriftMonitor::DriftMonitor(DriftMonitorOptions options, DriftDetector detector,
                           std::shared_ptr<std::vector<DriftEvent>> events, MetricsRegistry& m)
    : options_(std::move(options)),
      detector_(std::move(detector)),
      events_(std::move(events)),
      refused_(m.GetCounter("custos_collector_drift_records_refused_total",
                            "Points of drift streams the detector refused (late, not finite, past max_streams)")),
      raised_(m.GetCounter("custos_collector_drift_alerts_total", "Sustained drifts raised as alerts")),
      resolved_(m.GetCounter("custos_collector_drift_resolved_total", "Drifts that cleared")) {}

bool DriftMonitor::Declared(const std::string& metric) const {
  for (const std::string& pattern : options_.metrics)
    if (policy::GlobMatch(pattern, metric)) return true;
  return false;
}

void DriftMonitor::Observe(const v1::Batch& batch, DriftOutput& out) {
  if (options_.metrics.empty()) return;
  for (const v1::Record& r : batch.records()) {
    if (!r.has_metric() || !Declared(r.metric().name())) continue;
    const v1::MetricPoint& m = r.metric();
    std::string stream = m.name() + "@" + EntityOf(batch, m.resource_ref());
    const auto t = static_cast<int64_t>(m.time_unix_nano());
    Status s;
    if (m.type() == v1::MetricPoint::TYPE_HISTOGRAM) {
      const v1::HistogramValue& h = m.histogram();
      s = detector_.RecordHistogram(stream, t, {h.bounds().data(), static_cast<size_t>(h.bounds_size())},
                                    {h.bucket_counts().data(), static_cast<size_t>(h.bucket_counts_size())});
    } else {
      s = detector_.Record(stream, t, m.value());
    }
    if (!s.ok()) refused_.Increment();
  }
  Collect(Clock::Real().NowUnixNanos(), out);
}

void DriftMonitor::Tick(int64_t now, DriftOutput& out) {
  if (options_.metrics.empty()) return;
  detector_.Tick(now);
  Collect(now, out);
  constexpr int64_t kRefreshNanos = 60'000'000'000LL;  // Alertmanager resolves what it stops hearing of
  for (auto& [stream, active] : drifted_) {
    if (now - active.last_sent < kRefreshNanos) continue;
    active.last_sent = now;
    out.refresh.push_back(active.alert);
  }
}

void DriftMonitor::Collect(int64_t now, DriftOutput& out) {
  for (DriftEvent& e : *events_) {
    if (e.kind == DriftEventKind::kRaised) {
      raised_.Increment();
      policy::Alert a;
      a.rule = "drift";
      a.severity = "warning";
      a.message = e.message;
      a.kind = "metrics";
      a.time_unix_nano = e.window_end_unix_nanos;
      size_t at = e.stream.rfind('@');
      a.labels = {{"stream", e.stream}, {"metric", e.stream.substr(0, at)}};
      if (at != std::string::npos) a.labels.emplace_back("entity", e.stream.substr(at + 1));
      drifted_[e.stream] = {a, now};
      out.alerts.push_back(std::move(a));
    } else {
      resolved_.Increment();
      log::Info("drift", "drift cleared", {{"stream", e.stream}});
      auto it = drifted_.find(e.stream);
      if (it != drifted_.end()) {
        policy::Alert cleared = it->second.alert;
        cleared.resolved = true;
        cleared.message = e.message;
        out.refresh.push_back(std::move(cleared));
        drifted_.erase(it);
      }
    }
    out.events.push_back(std::move(e));
  }
  events_->clear();
}

}  // namespace custos::drift
