// custos-collector's assembly: ingest (ZeroMQ + CURVE + ZAP) → store (SQLite)
// and the HTTP API. Reads collector.toml (deploy/collector.toml documents
// every key).
//
// Thread-safe: Start/Stop from one thread; StatusLine() from any.
#pragma once

#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "collector/api/http_api.h"
#include "collector/audit/audit_log.h"
#include "collector/alerting/alert_outbox.h"
#include "collector/audit_feed.h"
#include "collector/drift/drift_monitor.h"
#include "collector/incidents/incident_tracker.h"
#include "collector/slo/slo_tracker.h"
#include "collector/policy_engine.h"
#include "collector/ingest/allow_list.h"
#include "collector/ingest/ingest_server.h"
#include "collector/store/sqlite_store.h"
#include "common/config.h"
#include "common/metrics.h"

namespace custos::collector {

struct CollectorConfig {
  std::string state_dir = "/var/lib/custos/collector";
  std::string secret_key_file = "/etc/custos/collector/collector.key";
  std::string enrolled_dir = "/etc/custos/collector/agents";
  ingest::IngestOptions ingest;
  store::SqliteOptions store;
  api::ApiOptions api;
  bool api_enabled = true;
  // [audit]
  std::string audit_key_file;  // default <state>/audit.key, created on first start
  std::string audit_previous_key_file;  // set for one start to rotate from that key
  audit::AuditLogOptions audit;
  // [policy]: policy files or directories of *.policy; none: no verdicts.
  std::vector<std::string> policy_paths;
  // [alerting]: where alerts are delivered (none: stored and audited only).
  AlertingOptions alerting;
  // [incidents]: grouping, resolution and root-cause analysis of alerts.
  IncidentOptions incidents;
  NewErrorTemplateOptions new_error_templates;  // [incidents] new_error_warmup, max_error_templates
  // [drift]: streams watched for distribution shift.
  drift::DriftMonitorOptions drift;
  // [[slo]]: objectives over the spans a service serves, alerted on burn rate.
  std::vector<slo::SloConfig> slos;
};

Result<CollectorConfig> ReadCollectorConfig(ConfigFile& file);

class Collector {
 public:
  static Result<std::unique_ptr<Collector>> Create(const CollectorConfig& config);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  Status Start();
  void Stop();
  // Re-reads the enrolment directory and the policy (SIGHUP).
  void Reload();
  std::string StatusLine() const;
  MetricsRegistry& metrics() { return metrics_; }
  std::string ingest_endpoint() const { return ingest_->endpoint(); }
  int api_port() const { return api_ ? api_->port() : 0; }
  const audit::VerifierKey& audit_key() const { return audit_->verifier(); }

 private:
  explicit Collector(CollectorConfig config) : config_(std::move(config)) {}
  void RunEraseRequests();  // writer thread
  void ReloadPolicyIfAsked();  // writer thread
  void RunIncidents();         // writer thread
  void RunDrift();             // writer thread
  // Writer thread: alerts that still hold, or cleared, to the outbox only
  // (node "collector": the collector computed them).
  void DeliverRefreshes(const std::vector<policy::Alert>& alerts);
  // Writer thread: updated alerts (annotations, refreshes) to the outbox in one transaction.
  void DeliverUpdates(const std::vector<std::pair<policy::Alert, std::string>>& alerts);

  CollectorConfig config_;
  MetricsRegistry metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<PolicyEngine> policy_;  // null when no policy is configured
  std::unique_ptr<AlertOutbox> outbox_;
  std::unique_ptr<Silences> silences_;
  std::unique_ptr<AuditFeed> audit_feed_;
  std::unique_ptr<IncidentTracker> incidents_;
  std::unique_ptr<drift::DriftMonitor> drift_;
  std::unique_ptr<slo::SloTracker> slos_;
  std::unique_ptr<NewErrorTemplates> new_errors_;
  int64_t next_incident_tick_ = 0;  // writer thread: monotonic time of the next incident and drift tick
  // Erasure requests, run on the writer thread (which owns the connection).
  struct EraseRequest {
    std::string subject, actor;
    std::promise<Result<nlohmann::json>> done;  // what was erased, for the API's answer
  };
  std::mutex erase_mu_;
  std::deque<std::unique_ptr<EraseRequest>> erase_requests_;  // guarded by erase_mu_
  std::unique_ptr<ingest::AllowList> allow_list_;
  std::unique_ptr<ingest::IngestServer> ingest_;
  std::unique_ptr<api::HttpApi> api_;
  bool started_ = false;
};

}  // namespace custos::collector
