// Replaying stored data-plane accesses against policy sets, for
// `custosctl policy diff` (which verdicts a change of policy would change)
// and `custosctl policy unused` (least-privilege findings: granted minus used,
// as a cloud access analyzer does for IAM, done for data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "policy/event_json.h"
#include "policy/policy.h"

namespace custos::ctl {

struct StoredAccess {
  policy::AccessEventData data;
  uint64_t count = 1;  // coalesced repeats
};

struct StoredAccessSet {
  std::vector<StoredAccess> events;
  int64_t since_unix_nanos = 0;
  int64_t oldest_unix_nanos = 0;  // the oldest access the store holds at all (0: none)
};

// Reads the access events stored since `since` from the collector's SQLite
// file (read-only), with each node's region and name.
Result<StoredAccessSet> LoadStoredAccess(const std::string& db_path, int64_t since_unix_nanos);

struct DiffChange {
  std::string principal, action, target, region;
  std::string old_verdict, new_verdict;  // VerdictLine()s
  uint64_t events = 0;
  int64_t first = 0, last = 0;
};

struct DiffReport {
  uint64_t replayed = 0;
  uint64_t changed = 0;
  uint64_t allow_to_deny = 0, deny_to_allow = 0, other = 0;
  std::vector<DiffChange> changes;  // aggregated, most frequent first
};

DiffReport DiffPolicies(const policy::Policy& old_set, const policy::Policy& new_set,
                        const std::vector<StoredAccess>& events);
void PrintDiff(const DiffReport& report, const StoredAccessSet& set, size_t limit);

struct UnusedReport {
  struct Grant {
    std::string id, where;
    uint64_t granted_pairs = 0;          // datasets x actions it grants
    std::vector<std::string> used_pairs; // "read images", ...
    uint64_t allowed_events = 0;
    int64_t last_used = 0;
    uint64_t principal_events = 0;       // accesses by its principals in the window
    bool wildcard = false;
  };
  std::vector<Grant> unused;      // never allowed anything in the window
  std::vector<Grant> broader;     // used, but for fewer datasets/actions than granted
  struct Principal {
    std::string id, where;
    std::vector<std::string> granted_by;
  };
  std::vector<Principal> inactive;  // named by a grant, no access in the window
  uint64_t events = 0;
  int64_t window_start = 0, now = 0;
};

UnusedReport FindUnused(const policy::Policy& policy, const std::vector<StoredAccess>& events, int64_t window_start,
                        int64_t now);
void PrintUnused(const UnusedReport& report, const StoredAccessSet& set, int64_t window_nanos);
nlohmann::json UnusedJson(const UnusedReport& report, const StoredAccessSet& set);

}  // namespace custos::ctl
