// Evaluates a policy's rules over records and raises alerts.
//
//   policy::RuleEngine engine(set);
//   std::vector<policy::Alert> alerts;
//   engine.Evaluate(custos::v1::Record::kGpuEvent, view, alerts);
//
// A rule without a threshold fires on every matching record. A rule with
// 'at_least = N' and 'within = D' fires when N matching records arrive within
// D (record time), counted per distinct value of its 'by' fields; the count
// then starts again. The number of distinct counters is bounded; a key that
// finds the bound full is not counted, and that is counted and reported
// (untracked_keys()), never silently dropped.
//
// Thread-safety: not thread-safe (threshold state); one engine per writer.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "policy/condition.h"
#include "policy/policy.h"

namespace custos::policy {

struct Alert {
  std::string rule;
  std::string severity;
  std::string message;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string kind;          // the record kind
  int64_t time_unix_nano = 0;
  uint64_t count = 1;        // records that made a threshold rule fire
  std::string policy_version;
  std::string subject;       // whom the alert is about ("user:alice"), for erasure; may be empty
  // Added to the delivered alert's annotations (the incident and its
  // root-cause analysis); not part of its identity (labels).
  std::vector<std::pair<std::string, std::string>> annotations;
  // The condition cleared: delivered with endsAt = now so Alertmanager
  // resolves it (time_unix_nano stays the episode's start).
  bool resolved = false;
  // When set, the alert's endsAt (an annotated re-send keeps the original end,
  // so an alert that already ended is not made to fire again).
  int64_t ends_unix_nanos = 0;
};

class RuleEngine {
 public:
  explicit RuleEngine(std::shared_ptr<const Policy> policy, size_t max_keys = 100000);

  // Evaluates the rules on records of kind `kind_number` (the custos.v1.Record
  // oneof field number) and appends the alerts they raise.
  void Evaluate(int kind_number, const RecordView& view, std::vector<Alert>& out);

  // True when some rule applies to records of this kind (callers skip work otherwise).
  bool Wants(int kind_number) const;

  uint64_t untracked_keys() const { return untracked_keys_; }
  const Policy& policy() const { return *policy_; }

 private:
  std::shared_ptr<const Policy> policy_;
  std::unordered_map<int, std::vector<const Rule*>> by_kind_;
  size_t max_keys_;
  std::unordered_map<std::string, std::deque<int64_t>> windows_;  // rule id + 'by' values -> times
  uint64_t untracked_keys_ = 0;
};

}  // namespace custos::policy
