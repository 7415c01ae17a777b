// The collector's policy stage: decides every stored data-plane access
// against the active policy set, evaluates the set's rules over every stored
// record, and reloads the set atomically (on SIGHUP and when its files
// change). A set that does not compile is refused whole: the old one stays
// active, and the refusal is reported (Reload's outcome) so the caller can
// audit and alert it.
//
// Thread-safety: Evaluate() and MaybeReload() run on the store's writer
// thread; RequestReload() and current() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collector/store/store.h"
#include "common/metrics.h"
#include "common/status.h"
#include "policy/compiler.h"
#include "policy/decide.h"
#include "policy/rules.h"

namespace custos::collector {

// The verdict of one access event, as the audit log records it.
struct AccessVerdict {
  std::string decision;                 // allow, deny, error
  std::vector<std::string> violations;  // "no-grant", "residency:pii", ...
  std::vector<std::string> rules;       // deciding grants and residencies
  std::string dataset, classification;  // from the policy ("" when unmapped)
  std::string error;                    // decision == error
};

// Whom an access is about, as the audit log names the erasable subject:
// "user:NAME", "service:ID" or "uid:N".
std::string AccessSubject(const v1::Principal& principal);
// "a,b,c".
std::string JoinComma(const std::vector<std::string>& items);

struct BatchEvaluation {
  std::vector<AccessVerdict> access;   // one per access event, in record order
  std::vector<policy::Alert> alerts;   // rules that fired, violations
  std::vector<std::string> alert_nodes;  // the node of each alert
};

struct ReloadOutcome {
  bool changed = false;   // a new set is active
  bool refused = false;   // the files did not compile; the old set stays
  std::string version;    // the active set's version afterwards
  std::string reason;     // "start", "SIGHUP", "files changed"
  std::string errors;     // the formatted diagnostics when refused
  size_t error_count = 0, warning_count = 0;
};

class PolicyEngine {
 public:
  // Compiles the set from `paths` (files or directories of *.policy). A set
  // that does not compile at start is an error: the collector does not run
  // with a policy it cannot read.
  static Result<std::unique_ptr<PolicyEngine>> Open(std::vector<std::string> paths, MetricsRegistry& metrics);

  void Evaluate(const store::IngestedBatch& batch, BatchEvaluation& out);

  // Asks for a reload at the next MaybeReload() (SIGHUP).
  void RequestReload() { reload_requested_ = true; }
  // Reloads when asked or when the files changed (checked at most every 2 s).
  // Returns nothing to report when neither happened.
  std::optional<ReloadOutcome> MaybeReload(int64_t now_unix_nanos);

  std::shared_ptr<const policy::Policy> current() const;
  const ReloadOutcome& last_start() const { return start_; }

 private:
  PolicyEngine(std::vector<std::string> paths, MetricsRegistry& metrics);
  ReloadOutcome Load(const std::string& reason);
  std::string Fingerprint() const;  // names, sizes and mtimes of the files

  const std::vector<std::string> paths_;
  mutable std::mutex mu_;
  std::shared_ptr<const policy::Policy> policy_;  // guarded by mu_
  // Writer thread only.
  std::unique_ptr<policy::RuleEngine> rules_;
  std::string fingerprint_;
  int64_t next_check_ = 0;
  ReloadOutcome start_;
  std::atomic<bool> reload_requested_{false};
  Counter& decisions_allow_;
  Counter& decisions_deny_;
  Counter& decisions_error_;
  Counter& alerts_raised_;
  Counter& reloads_ok_;
  Counter& reloads_refused_;
  Gauge& untracked_keys_;
};

}  // namespace custos::collector
