#include "collector/collector.h"

#include <unistd.h>

#include "collector/audit/note_key.h"
#include "collector/erasure.h"
#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/files.h"
#include "common/log.h"
#include "common/time_format.h"

namespace custos::collector {

Result<CollectorConfig> ReadCollectorConfig(ConfigFile& file) {
  CollectorConfig c;
  c.state_dir = file.Section("state").String("dir", c.state_dir);

  ConfigSection ingest = file.Section("ingest");
  c.ingest.bind = ingest.String("listen", c.ingest.bind);
  c.secret_key_file = SecretPath(ingest.String("key", ""), "collector.key", c.secret_key_file);
  c.enrolled_dir = ingest.String("enrolled_dir", c.enrolled_dir);
  c.ingest.limits.max_batch_bytes = ingest.Bytes("max_batch_size", c.ingest.limits.max_batch_bytes);
  c.ingest.queue_batches = static_cast<size_t>(ingest.Int("queue_batches", 512, 1, 1'000'000));
  c.ingest.max_txn_records = static_cast<size_t>(ingest.Int("max_transaction_records", 50'000, 1, 10'000'000));

  ConfigSection store = file.Section("store");
  c.store.path = store.String("path", c.state_dir + "/custos.db");
  std::string sync = store.String("synchronous", "full");
  c.ingest.retention_nanos = store.Duration("retention", c.ingest.retention_nanos);

  ConfigSection audit = file.Section("audit");
  c.audit_key_file = SecretPath(audit.String("key", ""), "audit.key", c.state_dir + "/audit.key");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  c.audit.origin = audit.String("origin", std::string("custos.audit/") + host);
  c.audit.heartbeat_nanos = audit.Duration("heartbeat", c.audit.heartbeat_nanos);
  c.audit_previous_key_file = audit.String("previous_key", "");

  c.policy_paths = file.Section("policy").StringList("paths");

  ConfigSection alerting = file.Section("alerting");
  c.alerting.repeat_interval_nanos = alerting.Duration("repeat_interval", c.alerting.repeat_interval_nanos);
  c.alerting.resolve_after_nanos = alerting.Duration("resolve_after", c.alerting.resolve_after_nanos);
  c.alerting.max_outbox = static_cast<size_t>(alerting.Int("max_outbox", 100'000, 1, 100'000'000));
  c.alerting.external_url = alerting.String("external_url", c.alerting.external_url);
  std::vector<std::pair<std::string, std::string>> targets;
  for (ConfigSection& t : alerting.SectionList("targets")) {
    targets.emplace_back(t.String("kind", "alertmanager"), t.String("url", ""));
  }
  struct InhibitText {
    std::vector<std::string> source, target, equal;
  };
  std::vector<InhibitText> inhibits;
  for (ConfigSection& i : alerting.SectionList("inhibit")) {
    inhibits.push_back({i.StringList("source"), i.StringList("target"), i.StringList("equal")});
  }

  ConfigSection incidents = file.Section("incidents");
  c.incidents.group_window_nanos = incidents.Duration("group_window", c.incidents.group_window_nanos);
  c.incidents.resolve_after_nanos = incidents.Duration("resolve_after", c.incidents.resolve_after_nanos);
  c.incidents.rca_delay_nanos = incidents.Duration("rca_delay", c.incidents.rca_delay_nanos);
  c.incidents.max_open = static_cast<size_t>(incidents.Int("max_open", 1000, 1, 1'000'000));
  c.new_error_templates.warmup_nanos = incidents.Duration("new_error_warmup", c.new_error_templates.warmup_nanos);
  c.new_error_templates.max_templates =
      static_cast<size_t>(incidents.Int("max_error_templates", 100'000, 1, 100'000'000));

  ConfigSection drift = file.Section("drift");
  c.drift.metrics = drift.StringList("metrics");
  drift::DetectorConfig& d = c.drift.detector;
  d.window_nanos = drift.Duration("window", d.window_nanos);
  d.reference_windows = static_cast<int>(drift.Int("reference_windows", d.reference_windows, 1, 1000));
  d.sustain = static_cast<int>(drift.Int("sustain", d.sustain, 1, 1000));
  d.clear = static_cast<int>(drift.Int("clear", d.clear, 1, 1000));
  d.psi_threshold = drift.Double("psi_threshold", d.psi_threshold, 0, 100);
  d.ks_threshold = drift.Double("ks_threshold", d.ks_threshold, 0, 1);
  d.ks_max_p_value = drift.Double("ks_max_p_value", d.ks_max_p_value, 0, 1);
  d.min_samples = drift.Double("min_samples", d.min_samples, 1, 1e12);
  d.max_streams = static_cast<size_t>(drift.Int("max_streams", 10'000, 1, 10'000'000));

  for (ConfigSection& s : file.Root().SectionList("slo")) {
    slo::SloConfig slo;
    slo.name = s.String("name", "");
    slo.service = s.String("service", "");
    slo.objective = s.Double("objective", 0.999, 0.5, 0.999999);
    slo.latency_ms = s.Double("latency_ms", 0, 0, 3.6e6);
    slo.min_requests = static_cast<uint64_t>(s.Int("min_requests", 30, 0, 1'000'000'000));
    if (slo.name.empty()) s.AddError("name", "an SLO needs a name");
    if (slo.service.empty()) s.AddError("service", "an SLO needs the service.name of its spans");
    c.slos.push_back(std::move(slo));
  }

  ConfigSection api = file.Section("api");
  c.api_enabled = api.Bool("enabled", true);
  std::string listen = api.String("listen", "127.0.0.1:7080");
  CUSTOS_RETURN_IF_ERROR(file.Finish());

  if (sync != "full" && sync != "normal") {
    return InvalidArgument(file.path() + ": store.synchronous must be \"full\" or \"normal\", got \"" + sync + "\"");
  }
  c.store.synchronous_full = sync == "full";
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || listen.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
      colon + 1 == listen.size()) {
    return InvalidArgument(file.path() + ": api.listen must be HOST:PORT, got \"" + listen + "\"");
  }
  for (const auto& [kind, url] : targets) {
    if (kind != "alertmanager" && kind != "webhook") {
      return InvalidArgument(file.path() + ": alerting.targets.kind must be \"alertmanager\" or \"webhook\", got \"" +
                             kind + "\"");
    }
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      return InvalidArgument(file.path() + ": alerting.targets.url must be an http:// or https:// URL, got \"" + url +
                             "\"");
    }
    c.alerting.targets.push_back(
        {kind == "alertmanager" ? AlertTarget::Kind::kAlertmanager : AlertTarget::Kind::kWebhook, url});
  }
  for (const InhibitText& text : inhibits) {
    InhibitRule rule;
    for (const auto& [list, out] : {std::pair{&text.source, &rule.source}, std::pair{&text.target, &rule.target}}) {
      for (const std::string& m : *list) {
        auto matcher = ParseMatcher(m);
        if (!matcher.ok()) return InvalidArgument(file.path() + ": alerting.inhibit: " + matcher.status().message());
        out->push_back(std::move(*matcher));
      }
    }
    if (rule.source.empty() || rule.target.empty()) {
      return InvalidArgument(file.path() + ": alerting.inhibit needs source and target matchers");
    }
    rule.equal = text.equal;
    for (const auto& m : text.source) rule.name += (rule.name.empty() ? "" : ",") + m;
    c.alerting.inhibit.push_back(std::move(rule));
  }
  c.api.host = listen.substr(0, colon);
  c.api.port = std::stoi(listen.substr(colon + 1));
  return c;
}

Result<std::unique_ptr<Collector>> Collector::Create(const CollectorConfig& config) {
  std::unique_ptr<Collector> c(new Collector(config));
  CUSTOS_ASSIGN_OR_RETURN(CurveKeyPair keys, ReadCurveSecretKey(config.secret_key_file));
  c->config_.ingest.secret_key = keys.secret_z85;
  CUSTOS_RETURN_IF_ERROR(MakeDirs(config.state_dir, 0750));
  store::SqliteOptions store_options = config.store;
  store_options.metrics = &c->metrics_;
  CUSTOS_ASSIGN_OR_RETURN(c->store_, store::SqliteStore::Open(store_options));
  // The audit signing key: made on first start (mode 0600), its verifier key
  // published beside it for auditors (custosctl audit verify --key).
  auto key = audit::ReadSignerKeyFile(config.audit_key_file);
  if (!key.ok() && key.status().code() == StatusCode::kNotFound) {
    CUSTOS_ASSIGN_OR_RETURN(audit::SignerKey fresh, audit::SignerKey::Generate(config.audit.origin,
                                                                                audit::KeyType::kEd25519));
    CUSTOS_RETURN_IF_ERROR(audit::WriteSignerKeyFile(config.audit_key_file, fresh));
    size_t dot = config.audit_key_file.rfind(".key");
    std::string vkey_path = (dot == std::string::npos ? config.audit_key_file : config.audit_key_file.substr(0, dot)) +
                            ".vkey";
    CUSTOS_RETURN_IF_ERROR(audit::WriteVerifierKeyFile(vkey_path, fresh.verifier()));
    log::Info("collector", "created the audit signing key", {{"key", config.audit_key_file}, {"vkey", vkey_path}});
    key = std::move(fresh);
  }
  if (!key.ok()) return key.status().WithContext("audit signing key");
  audit::AuditLogOptions audit_options = config.audit;
  if (!config.audit_previous_key_file.empty()) {
    auto previous = audit::ReadSignerKeyFile(config.audit_previous_key_file);
    if (!previous.ok()) return previous.status().WithContext("audit.previous_key");
    audit_options.previous_key = std::move(*previous);
  }
  CUSTOS_ASSIGN_OR_RETURN(c->audit_, audit::AuditLog::Open(c->store_->writer_db(), std::move(*key), audit_options));
  if (!config.policy_paths.empty()) {
    CUSTOS_ASSIGN_OR_RETURN(c->policy_, PolicyEngine::Open(config.policy_paths, c->metrics_));
  } else {
    log::Warn("collector", "no [policy] paths configured: data-plane accesses get no verdict");
  }
  CUSTOS_RETURN_IF_ERROR(CreateOutboxTable(c->store_->writer_db()));
  c->outbox_ = std::make_unique<AlertOutbox>(config.store.path, config.alerting, c->metrics_);
  CUSTOS_ASSIGN_OR_RETURN(c->silences_, Silences::Open(config.store.path));
  c->outbox_->SetSilences(c->silences_.get());
  c->audit_feed_ = std::make_unique<AuditFeed>(*c->audit_, *c->store_, c->policy_.get(), c->outbox_.get(),
                                                 c->metrics_);
  CUSTOS_RETURN_IF_ERROR(CreateIncidentTables(c->store_->writer_db()));
  // The analysis runs on the tracker's thread, with its own read-only
  // connection to the store.
  auto rca_db = std::make_shared<std::unique_ptr<store::Db>>();
  std::string store_path = config.store.path;
  c->incidents_ = std::make_unique<IncidentTracker>(
      config.incidents,
      [rca_db, store_path](int64_t onset) -> Result<rca::RcaReport> {
        if (!*rca_db) {
          CUSTOS_ASSIGN_OR_RETURN(*rca_db, store::Db::Open(store_path, false, /*read_only=*/true));
        }
        rca::AnalyzeOptions options;
        options.load.onset_unix_nanos = onset;
        return rca::Analyze(**rca_db, options);
      },
      c->metrics_);
  c->audit_feed_->SetIncidents(c->incidents_.get());
  CUSTOS_ASSIGN_OR_RETURN(c->drift_, drift::DriftMonitor::Create(config.drift, c->metrics_));
  c->audit_feed_->SetDrift(c->drift_.get());
  c->slos_ = std::make_unique<slo::SloTracker>(config.slos, c->metrics_);
  c->audit_feed_->SetSlos(c->slos_.get());
  c->new_errors_ = std::make_unique<NewErrorTemplates>(config.new_error_templates, c->metrics_);
  CUSTOS_RETURN_IF_ERROR(c->new_errors_->Load(c->store_->writer_db()));
  c->audit_feed_->SetNewErrorTemplates(c->new_errors_.get());
  AuditFeed* feed = c->audit_feed_.get();
  audit::AuditLog* log = c->audit_.get();
  store::SqliteStore* st = c->store_.get();
  c->store_->SetCommitHook(
      [feed](const auto& batches, const auto& outcomes) { return feed->AppendForCommit(batches, outcomes); },
      [feed] { feed->OnRollback(); });

  c->allow_list_ = std::make_unique<ingest::AllowList>(config.enrolled_dir);
  c->allow_list_->SetOnChange([feed](const std::string& node, const std::string& public_key,
                                     const std::string& action) {
    feed->Post({.kind = "enrolment", .actor = "operator", .action = action, .object = "node:" + node,
                .outcome = "ok", .details = {{"public_key", public_key}}});
  });
  c->ingest_ = std::make_unique<ingest::IngestServer>(c->config_.ingest, *c->store_, *c->allow_list_, c->metrics_);
  Collector* raw = c.get();
  c->ingest_->SetWriterTick([feed, log, st, raw] {
    if (feed->HasPending()) {
      auto r = st->Commit({});  // posted entries only
      if (!r.ok()) log::Error("audit", "appending audit entries failed; retrying", {{"error", r.status().ToString()}});
    }
    Status s = log->Tick();
    if (!s.ok()) log::Error("audit", "signing a checkpoint failed", {{"error", s.ToString()}});
    raw->RunEraseRequests();
    raw->ReloadPolicyIfAsked();
    raw->RunIncidents();  // at most once a second, drift's tick with it
  });
  c->ingest_->SetOnRefusal([feed](const std::string& node, const std::string& reason, const std::string& detail) {
    feed->Post({.kind = "refusal", .actor = node.empty() ? "unknown" : "node:" + node, .action = "send_batch",
                .object = "ingest", .outcome = reason, .details = {{"detail", detail}}});
  });
  c->ingest_->SetOnHandshakeRefused([feed](const std::string& key_z85, const std::string& peer) {
    feed->Post({.kind = "refusal", .actor = "key:" + key_z85, .action = "connect", .object = "ingest",
                .outcome = "not_enrolled", .details = {{"peer", peer}}});
  });
  if (config.api_enabled) {
    c->api_ = std::make_unique<api::HttpApi>(config.api, *c->store_, c->metrics_);
    c->api_->SetSilences(c->silences_.get(), [feed](const std::string& action, const Silence& s,
                                                    const std::string& actor) {
      std::string matchers;
      for (const auto& m : s.matchers) matchers += (matchers.empty() ? "" : ",") + m.ToString();
      feed->Post({.kind = "silence", .actor = actor, .action = action, .object = "silence:" + std::to_string(s.id),
                  .outcome = "ok",
                  .details = {{"matchers", matchers}, {"starts", FormatUtc(s.starts)}, {"ends", FormatUtc(s.ends)},
                              {"comment", s.comment}}});
    });
    c->api_->SetEraseHandler([raw](const std::string& subject, const std::string& actor) -> Result<nlohmann::json> {
      auto request = std::make_unique<EraseRequest>();
      request->subject = subject;
      request->actor = actor;
      std::future<Result<nlohmann::json>> done = request->done.get_future();
      {
        std::lock_guard<std::mutex> lock(raw->erase_mu_);
        raw->erase_requests_.push_back(std::move(request));
      }
      if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        return Unavailable("the erasure is queued but did not finish within 30 s; check custosctl status");
      }
      return done.get();
    });
  }
  return c;
}

Collector::~Collector() { Stop(); }

void Collector::RunEraseRequests() {
  std::deque<std::unique_ptr<EraseRequest>> requests;
  {
    std::lock_guard<std::mutex> lock(erase_mu_);
    requests.swap(erase_requests_);
  }
  for (auto& r : requests) {
    // The store's copies (access events' principals, alerts' text) go in
    // the same transaction as the audit payloads; the tombstone counts them.
    StoreErasure copies;
    auto n = audit_->Erase(r->subject, r->actor, [&]() -> Result<std::map<std::string, std::string>> {
      CUSTOS_ASSIGN_OR_RETURN(copies, EraseSubjectFromStore(store_->writer_db(), r->subject));
      return std::map<std::string, std::string>{{"store_access_events", std::to_string(copies.access_events)},
                                                {"store_alerts", std::to_string(copies.alerts)},
                                                {"store_outbox", std::to_string(copies.outbox)}};
    });
    if (!n.ok()) {
      log::Error("audit", "erasure failed; nothing was erased", {{"error", n.status().ToString()}, {"actor", r->actor}});
      r->done.set_value(n.status());
      continue;
    }
    log::Info("audit", "erased personal data",
              {{"payloads", std::to_string(*n)},
               {"access_events", std::to_string(copies.access_events)},
               {"alerts", std::to_string(copies.alerts + copies.outbox)},
               {"actor", r->actor}});
    (void)audit_->Tick(/*force=*/true);
    r->done.set_value(nlohmann::json{{"erased_payloads", *n},
                                     {"erased_access_events", copies.access_events},
                                     {"erased_alert_messages", copies.alerts},
                                     {"erased_outbox_messages", copies.outbox},
                                     {"audit_size", audit_->size()}});
  }
}

void Collector::RunIncidents() {
  // The writer ticks after every commit; incidents need a look once a second.
  const int64_t mono = Clock::Real().MonotonicNanos();
  if (mono < next_incident_tick_) return;
  next_incident_tick_ = mono + kNanosPerSecond;
  const int64_t now = Clock::Real().NowUnixNanos();
  std::vector<IncidentEvent> events;
  store::Db& db = store_->writer_db();
  Status s = incidents_->Tick(db, now, events);
  if (!s.ok()) log::Error("incidents", "updating incidents failed; retrying", {{"error", s.ToString()}});
  std::vector<std::pair<policy::Alert, std::string>> annotated;
  for (const IncidentEvent& e : events) {
    audit_feed_->Post(AuditEntryForIncident(e, now));
    if (e.kind == IncidentEvent::Kind::kAnalysed) {
      log::Info("incidents", "analysed", {{"incident", std::to_string(e.id)}, {"top", e.title}});
    }
    // The incident's alerts again, with the analysis in their annotations.
    // Each ends when it would have: an alert that already ended gets the
    // analysis attached without being made to fire again.
    for (const auto& [alert, node] : e.alerts) {
      annotated.emplace_back(alert, node);
      annotated.back().first.ends_unix_nanos = alert.time_unix_nano + config_.alerting.resolve_after_nanos;
    }
  }
  DeliverUpdates(annotated);
  RunDrift();
  // Not while alerts wait to be stored (after a rollback): a crash between
  // would leave a statement known whose alert was never stored.
  if (!audit_feed_->HasPending()) {
    s = new_errors_->Save(db);
    if (!s.ok()) log::Error("incidents", "saving learned error statements failed; retrying", {{"error", s.ToString()}});
  }
  slo::SloTracker::Signals slo = slos_->Evaluate(now);
  for (policy::Alert& a : slo.raised) audit_feed_->PostAlert(std::move(a));
  DeliverRefreshes(slo.refresh);
}

void Collector::DeliverRefreshes(const std::vector<policy::Alert>& alerts) {
  std::vector<std::pair<policy::Alert, std::string>> updates;
  for (const policy::Alert& a : alerts) updates.emplace_back(a, "collector");
  DeliverUpdates(updates);
}

void Collector::DeliverUpdates(const std::vector<std::pair<policy::Alert, std::string>>& alerts) {
  if (alerts.empty() || !outbox_->enabled()) return;
  store::Db& db = store_->writer_db();
  Status s = db.Exec("BEGIN IMMEDIATE");
  for (const auto& [a, node] : alerts) {
    if (!s.ok()) break;
    s = outbox_->Enqueue(db, a, node, /*update=*/true).status();
  }
  s = s.ok() ? db.Exec("COMMIT") : s;
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    outbox_->RolledBack();
    log::Error("alerting", "queueing alert updates failed; Alertmanager ends the alerts on its own after resolve_after",
               {{"error", s.ToString()}});
    return;
  }
  outbox_->Committed();
  outbox_->Notify();
}

void Collector::RunDrift() {
  // Windows of streams gone quiet close on time, not only on new data.
  drift::DriftOutput out;
  drift_->Tick(Clock::Real().NowUnixNanos(), out);
  for (const drift::DriftEvent& e : out.events) audit_feed_->Post(AuditEntryForDrift(e));
  for (policy::Alert& a : out.alerts) audit_feed_->PostAlert(std::move(a));
  DeliverRefreshes(out.refresh);
}

void Collector::ReloadPolicyIfAsked() {
  if (!policy_) return;
  auto outcome = policy_->MaybeReload(Clock::Real().MonotonicNanos());
  if (!outcome) return;
  // A change of policy is audited; a refused one is alerted too.
  audit_feed_->Post({.kind = "policy", .actor = "operator", .action = "reload", .object = "policy",
                     .outcome = outcome->refused ? "refused" : "ok",
                     .details = {{"reason", outcome->reason},
                                 {"active_version", outcome->version},
                                 {"errors", std::to_string(outcome->error_count)},
                                 {"warnings", std::to_string(outcome->warning_count)},
                                 {"diagnostics", outcome->errors.substr(0, 4096)}}});
  if (outcome->refused) {
    policy::Alert alert;
    alert.rule = "policy.reload-refused";
    alert.severity = "error";
    alert.message = "the new policy set was refused (" + std::to_string(outcome->error_count) +
                    " errors); the previous set " + outcome->version + " stays active: " +
                    outcome->errors.substr(0, outcome->errors.find('\n'));
    alert.kind = "policy";
    alert.time_unix_nano = Clock::Real().NowUnixNanos();
    alert.policy_version = outcome->version;
    audit_feed_->PostAlert(std::move(alert));
  }
}

Status Collector::Start() {
  // The writer thread is not running yet: this connection is ours.
  CUSTOS_RETURN_IF_ERROR(audit_->Append({{.kind = "lifecycle", .actor = "collector", .action = "start",
                                          .object = config_.audit.origin, .outcome = "ok",
                                          .details = {{"version", CUSTOS_VERSION},
                                                      {"enrolled_dir", config_.enrolled_dir}}}}));
  if (policy_) {
    const ReloadOutcome& p = policy_->last_start();
    CUSTOS_RETURN_IF_ERROR(audit_->Append({{.kind = "policy", .actor = "collector", .action = "load",
                                            .object = "policy", .outcome = "ok",
                                            .details = {{"reason", "start"},
                                                        {"active_version", p.version},
                                                        {"warnings", std::to_string(p.warning_count)}}}}));
  }
  CUSTOS_RETURN_IF_ERROR(audit_->Tick(/*force=*/true));
  CUSTOS_RETURN_IF_ERROR(outbox_->Start());
  incidents_->Start();
  CUSTOS_RETURN_IF_ERROR(ingest_->Start());
  if (api_) CUSTOS_RETURN_IF_ERROR(api_->Start());
  started_ = true;
  log::Info("collector", "started", {{"ingest", ingest_->endpoint()}, {"store", config_.store.path},
                                     {"api", api_ ? config_.api.host + ":" + std::to_string(api_->port()) : "off"}});
  return Status::Ok();
}

void Collector::Stop() {
  if (!started_) return;
  started_ = false;
  if (api_) api_->Stop();
  ingest_->Stop();
  outbox_->Stop();  // what it has not delivered stays in the outbox for the next start
  incidents_->Stop();  // an analysis not stored yet runs again at the next start
  // The writer thread has stopped: finish queued erasures, append what is
  // still posted, then the stop.
  RunEraseRequests();
  if (audit_feed_->HasPending()) (void)store_->Commit({});
  Status saved = new_errors_->Save(store_->writer_db());
  if (!saved.ok()) log::Error("incidents", "saving learned error statements failed", {{"error", saved.ToString()}});
  Status s = audit_->Append({{.kind = "lifecycle", .actor = "collector", .action = "stop",
                              .object = config_.audit.origin, .outcome = "ok"}});
  if (s.ok()) s = audit_->Tick(/*force=*/true);
  if (!s.ok()) log::Error("collector", "recording the stop in the audit log failed", {{"error", s.ToString()}});
  log::Info("collector", "stopped", {{"audit_records", std::to_string(audit_->size())}});
}

void Collector::Reload() {
  Status s = allow_list_->Refresh(true);
  if (!s.ok()) log::Error("collector", "reload of enrolled agents failed", {{"error", s.ToString()}});
  if (policy_) policy_->RequestReload();  // the writer thread reloads it
}

std::string Collector::StatusLine() const {
  auto v = [this](const char* n) { return std::to_string(static_cast<uint64_t>(metrics_.Value(n))); };
  return "enrolled " + std::to_string(allow_list_->size()) + " agents; stored " +
         v("custos_collector_records_stored_total") + " records in " + v("custos_collector_batches_stored_total") +
         " batches; duplicates " + v("custos_collector_batches_duplicate_total") + "; refused handshakes " +
         v("custos_collector_handshakes_refused_total");
}

}  // namespace custos::collector
