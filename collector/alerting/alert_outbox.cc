#include "collector/alerting/alert_outbox.h"

#include <optional>

#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "common/time_format.h"

namespace custos::collector {
namespace {

constexpr size_t kAlertsPerRequest = 100;
constexpr int64_t kPollNanos = 500'000'000;

std::string HexSha256(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return HexLower(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

// "http://host:port/path?q" -> {"http://host:port", "/path?q"}.
std::pair<std::string, std::string> SplitUrl(const std::string& url) {
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

std::string_view KindName(AlertTarget::Kind k) {
  return k == AlertTarget::Kind::kAlertmanager ? "alertmanager" : "webhook";
}

}  // namespace

Status CreateOutboxTable(store::Db& db) {
  CUSTOS_RETURN_IF_ERROR(db.Exec(
      "CREATE TABLE IF NOT EXISTS alert_outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, target_kind TEXT NOT NULL, "
      "target_url TEXT NOT NULL, fingerprint TEXT NOT NULL, alert TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
      "next_attempt INTEGER NOT NULL, created INTEGER NOT NULL, last_error TEXT, subject TEXT);"
      "CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox(next_attempt);"));
  // subject (the person an alert's text names, for erasure) came later.
  return store::AddColumnIfMissing(db, "alert_outbox", "subject", "TEXT");
}

std::map<std::string, std::string> AlertLabels(const policy::Alert& a, const std::string& node) {
  std::map<std::string, std::string> labels;
  for (const auto& [k, v] : a.labels) labels[k] = v;
  labels["alertname"] = a.rule;
  labels["severity"] = a.severity;
  if (!node.empty()) labels["node"] = node;
  labels["source"] = "custos";
  return labels;
}

AlertPayload BuildAlertPayload(const policy::Alert& a, const std::string& node, const AlertingOptions& options) {
  std::map<std::string, std::string> labels = AlertLabels(a, node);
  std::string canonical;
  for (const auto& [k, v] : labels) canonical += k + "=" + v + "\n";
  AlertPayload out;
  out.fingerprint = HexSha256(canonical).substr(0, 16);
  nlohmann::json j;
  j["labels"] = labels;
  j["annotations"] = {{"summary", a.message},
                      {"record_kind", a.kind},
                      {"count", std::to_string(a.count)},
                      {"policy_version", a.policy_version}};
  for (const auto& [k, v] : a.annotations) j["annotations"][k] = v;
  const int64_t now = Clock::Real().NowUnixNanos();
  j["startsAt"] = FormatUtc(a.time_unix_nano > 0 ? a.time_unix_nano : now, 3);
  int64_t ends = a.resolved ? now : std::max(now, a.time_unix_nano) + options.resolve_after_nanos;
  if (a.ends_unix_nanos > 0 && !a.resolved) ends = a.ends_unix_nanos;
  j["endsAt"] = FormatUtc(ends, 3);
  j["generatorURL"] = options.external_url + "/api/v1/query?kind=alerts&name=" + a.rule;
  out.json = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return out;
}

AlertOutbox::AlertOutbox(std::string db_path, AlertingOptions options, MetricsRegistry& m)
    : db_path_(std::move(db_path)),
      options_(std::move(options)),
      delivered_(m.GetCounter("custos_collector_alerts_delivered_total", "Alerts delivered to a target (2xx)")),
      failed_attempts_(m.GetCounter("custos_collector_alert_delivery_failures_total",
                                    "Delivery attempts that failed (retried with back-off)")),
      outbox_full_(m.GetCounter("custos_collector_alerts_outbox_full_total",
                                "Alerts stored and audited but not queued for delivery: the outbox was full")),
      repeats_(m.GetCounter("custos_collector_alerts_repeats_total",
                            "Alerts not queued again: the same alert was queued within repeat_interval")),
      silenced_(m.GetCounter("custos_collector_alerts_silenced_total",
                             "Alerts stored and audited but not delivered: a silence matched them")),
      inhibited_(m.GetCounter("custos_collector_alerts_inhibited_total",
                              "Alerts stored and audited but not delivered: an active alert inhibited them")),
      pending_(m.GetGauge("custos_collector_alerts_outbox_pending", "Alert deliveries waiting in the outbox")) {}

AlertOutbox::~AlertOutbox() { Stop(); }

Result<std::string> AlertOutbox::Enqueue(store::Db& db, const policy::Alert& alert, const std::string& node,
                                         bool update) {
  const int64_t now = Clock::Real().NowUnixNanos();
  const std::map<std::string, std::string> labels = AlertLabels(alert, node);
  auto all = [&](const std::vector<Matcher>& ms) {
    return std::all_of(ms.begin(), ms.end(), [&](const Matcher& m) { return m.Matches(labels); });
  };
  auto equal_key = [&](const InhibitRule& rule) {
    std::string key;
    for (const auto& name : rule.equal) {
      auto it = labels.find(name);
      key += (it == labels.end() ? std::string() : it->second) + '\x1f';
    }
    return key;
  };
  // A cause inhibits its symptoms while it is active; it is itself never a
  // symptom of its own rule.
  inhibiting_.resize(options_.inhibit.size());
  std::string suppressed;
  for (size_t r = 0; r < options_.inhibit.size(); ++r) {
    const InhibitRule& rule = options_.inhibit[r];
    if (all(rule.source)) {
      inhibiting_[r][equal_key(rule)] = now;
      if (inhibiting_[r].size() > 100'000) {
        std::erase_if(inhibiting_[r], [&](const auto& kv) { return now - kv.second >= options_.resolve_after_nanos; });
      }
    } else if (suppressed.empty() && all(rule.target)) {
      auto it = inhibiting_[r].find(equal_key(rule));
      if (it != inhibiting_[r].end() && now - it->second < options_.resolve_after_nanos) suppressed = "inhibited:" + rule.name;
    }
  }
  if (silences_ && suppressed.empty()) {
    if (int64_t id = silences_->Match(labels, now); id != 0) {
      silenced_.Increment();
      return "silence:" + std::to_string(id);
    }
  }
  if (!suppressed.empty()) {
    inhibited_.Increment();
    return suppressed;
  }
  if (options_.targets.empty()) return std::string();
  // An alert's annotations (its incident's analysis) stay with it when it
  // is sent again without them (a still-firing SLO or drift alert).
  std::optional<policy::Alert> annotated;
  {
    std::string fp = BuildAlertPayload(alert, node, options_).fingerprint;
    if (!alert.annotations.empty()) {
      if (annotations_.size() >= 100'000) annotations_.clear();  // bounded; older alerts lose theirs
      annotations_[fp] = alert.annotations;
    } else if (auto it = annotations_.find(fp); it != annotations_.end()) {
      annotated = alert;
      annotated->annotations = it->second;
    }
  }
  AlertPayload p = BuildAlertPayload(annotated ? *annotated : alert, node, options_);
  if (auto it = last_queued_.find(p.fingerprint);
      !update && it != last_queued_.end() && now - it->second < options_.repeat_interval_nanos) {
    repeats_.Increment();
    return std::string();
  }
  if (last_queued_.size() > 100'000) {
    std::erase_if(last_queued_, [&](const auto& kv) { return now - kv.second >= options_.repeat_interval_nanos; });
  }
  if (!insert_) {
    CUSTOS_ASSIGN_OR_RETURN(insert_, db.Prepare("INSERT INTO alert_outbox(target_kind, target_url, fingerprint, alert, "
                                                "next_attempt, created, subject) VALUES(?,?,?,?,?,?,?)"));
    CUSTOS_ASSIGN_OR_RETURN(count_, db.Prepare("SELECT count(*) FROM alert_outbox"));
  }
  if (update) {
    // Rows of this alert still waiting are superseded: the newest
    // annotations are the ones to deliver, and an older row sent after this
    // one would overwrite them in Alertmanager.
    CUSTOS_ASSIGN_OR_RETURN(auto drop, db.Prepare("DELETE FROM alert_outbox WHERE fingerprint = ?1"));
    drop->Bind(1, p.fingerprint);
    CUSTOS_RETURN_IF_ERROR(drop->Exec());
    if (db.Changes() > 0) queued_rows_ = -1;  // count again
  }
  if (queued_rows_ < 0 || queued_rows_ + static_cast<int64_t>(options_.targets.size()) > static_cast<int64_t>(options_.max_outbox)) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, count_->Step());
    queued_rows_ = row ? count_->Int(0) : 0;
    count_->Reset();
  }
  if (queued_rows_ + static_cast<int64_t>(options_.targets.size()) > static_cast<int64_t>(options_.max_outbox)) {
    outbox_full_.Increment();
    log::Error("alerting", "the alert outbox is full; the alert is stored and audited but not delivered",
               {{"rule", alert.rule}, {"max_outbox", std::to_string(options_.max_outbox)}});
    return std::string();
  }
  auto previous = last_queued_.find(p.fingerprint);
  undo_.emplace_back(p.fingerprint, previous == last_queued_.end() ? std::nullopt : std::optional(previous->second));
  last_queued_[p.fingerprint] = now;
  for (const AlertTarget& t : options_.targets) {
    std::string kind(KindName(t.kind));
    insert_->Bind(1, kind);
    insert_->Bind(2, t.url);
    insert_->Bind(3, p.fingerprint);
    insert_->Bind(4, p.json);
    insert_->Bind(5, now);
    insert_->Bind(6, now);
    if (alert.subject.empty()) {
      insert_->BindNull(7);
    } else {
      insert_->Bind(7, alert.subject);
    }
    CUSTOS_RETURN_IF_ERROR(insert_->Exec());
    ++queued_rows_;
  }
  return std::string();
}

void AlertOutbox::RolledBack() {
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    if (it->second) {
      last_queued_[it->first] = *it->second;
    } else {
      last_queued_.erase(it->first);
    }
  }
  undo_.clear();
  queued_rows_ = -1;  // count again
}

void AlertOutbox::Notify() {
  std::lock_guard<std::mutex> lock(mu_);
  wake_ = true;
  cv_.notify_one();
}

Status AlertOutbox::Start() {
  if (options_.targets.empty()) return Status::Ok();
  stop_ = false;
  thread_ = std::thread([this] {
    SetThreadName("alert-outbox");
    Run();
  });
  return Status::Ok();
}

void AlertOutbox::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void AlertOutbox::Run() {
  auto db = store::Db::Open(db_path_, /*create=*/false);
  if (!db.ok()) {
    log::Error("alerting", "cannot open the store for alert delivery; alerts stay in the outbox",
               {{"error", db.status().ToString()}});
    return;
  }
  while (true) {
    int64_t next_due = DeliverDue(**db);
    std::unique_lock<std::mutex> lock(mu_);
    int64_t wait = kPollNanos;
    if (next_due > 0) wait = std::clamp<int64_t>(next_due - Clock::Real().NowUnixNanos(), 1'000'000, kPollNanos);
    cv_.wait_for(lock, std::chrono::nanoseconds(wait), [this] { return stop_ || wake_; });
    if (stop_) return;
    wake_ = false;
  }
}

bool AlertOutbox::Post(const AlertTarget& target, const std::string& alerts_json, std::string& error) {
  std::string base, path;
  if (target.kind == AlertTarget::Kind::kAlertmanager) {
    base = target.url;
    while (base.ends_with("/")) base.pop_back();
    path = "/api/v2/alerts";
  } else {
    std::tie(base, path) = SplitUrl(target.url);
  }
  httplib::Client cli(base);
  const auto timeout = std::chrono::nanoseconds(options_.request_timeout_nanos);
  cli.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  cli.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  cli.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  auto res = cli.Post(path, alerts_json, "application/json");
  if (!res) {
    error = "no answer: " + httplib::to_string(res.error());
    return false;
  }
  if (res->status < 200 || res->status > 299) {
    error = "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200);
    return false;
  }
  return true;
}

int64_t AlertOutbox::DeliverDue(store::Db& db) {
  const int64_t now = Clock::Real().NowUnixNanos();
  struct Row {
    int64_t id, attempts;
    std::string alert, fingerprint;
  };
  std::map<std::pair<std::string, std::string>, std::vector<Row>> due;  // (kind, url) -> rows
  {
    auto select = db.Prepare("SELECT id, target_kind, target_url, alert, attempts, fingerprint FROM alert_outbox "
                             "WHERE next_attempt <= ?1 ORDER BY id LIMIT 1000");
    if (!select.ok()) return 0;
    (*select)->Bind(1, now);
    while (true) {
      auto row = (*select)->Step();
      if (!row.ok() || !*row) break;
      due[{(*select)->Text(1), (*select)->Text(2)}].push_back(
          {(*select)->Int(0), (*select)->Int(4), (*select)->Text(3), (*select)->Text(5)});
    }
  }
  for (auto& [key, rows] : due) {
    const auto& [kind, url] = key;
    AlertTarget target{kind == "alertmanager" ? AlertTarget::Kind::kAlertmanager : AlertTarget::Kind::kWebhook, url};
    for (size_t start = 0; start < rows.size(); start += kAlertsPerRequest) {
      size_t end = std::min(rows.size(), start + kAlertsPerRequest);
      nlohmann::json alerts = nlohmann::json::array();
      for (size_t i = start; i < end; ++i) {
        nlohmann::json a = nlohmann::json::parse(rows[i].alert, nullptr, false);
        if (target.kind == AlertTarget::Kind::kWebhook && a.is_object()) {
          a["status"] = "firing";
          a["fingerprint"] = rows[i].fingerprint;
        }
        alerts.push_back(std::move(a));
      }
      std::string body;
      if (target.kind == AlertTarget::Kind::kAlertmanager) {
        body = alerts.dump();
      } else {
        // Alertmanager's webhook format (version 4), one group per request.
        nlohmann::json common_labels = alerts.size() == 1 ? alerts[0]["labels"] : nlohmann::json::object();
        body = nlohmann::json{{"version", "4"},
                              {"groupKey", "custos"},
                              {"truncatedAlerts", 0},
                              {"status", "firing"},
                              {"receiver", "custos"},
                              {"groupLabels", nlohmann::json::object()},
                              {"commonLabels", common_labels},
                              {"commonAnnotations", nlohmann::json::object()},
                              {"externalURL", options_.external_url},
                              {"alerts", alerts}}
                   .dump();
      }
      std::string error;
      bool ok = Post(target, body, error);
      auto update = db.Prepare(ok ? "DELETE FROM alert_outbox WHERE id = ?1"
                                  : "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt = ?2, "
                                    "last_error = ?3 WHERE id = ?1");
      if (!update.ok()) return now + kPollNanos;
      (void)db.Exec("BEGIN IMMEDIATE");
      for (size_t i = start; i < end; ++i) {
        (*update)->Bind(1, rows[i].id);
        if (!ok) {
          int64_t backoff = std::min<int64_t>(options_.max_backoff_nanos,
                                              1'000'000'000LL << std::min<int64_t>(rows[i].attempts, 20));
          (*update)->Bind(2, now + backoff);
          (*update)->Bind(3, error);
        }
        (void)(*update)->Exec();
      }
      Status committed = db.Exec("COMMIT");
      if (!committed.ok()) {
        (void)db.Exec("ROLLBACK");
        log::Warn("alerting", "recording an alert delivery failed; it will be retried",
                  {{"error", committed.ToString()}});
      }
      if (ok) {
        delivered_.Increment(end - start);
      } else {
        failed_attempts_.Increment();
        log::Warn("alerting", "alert delivery failed; retrying with back-off",
                  {{"target", url}, {"alerts", std::to_string(end - start)}, {"error", error},
                   {"attempts", std::to_string(rows[start].attempts + 1)}});
      }
    }
  }
  auto pending = db.Prepare("SELECT count(*), min(next_attempt) FROM alert_outbox");
  if (!pending.ok()) return 0;
  auto row = (*pending)->Step();
  if (!row.ok() || !*row) return 0;
  pending_.Set((*pending)->Int(0));
  return (*pending)->IsNull(1) ? 0 : (*pending)->Int(1);
}

}  // namespace custos::collector
