// Access events as JSON, for `custosctl policy explain`, golden tests and
// `custosctl policy diff`:
//
//   {"time": "2026-11-26T10:00:00Z", "user": "alice", "uid": 1000,
//    "unit": "trainer@a.service", "service": "svc:x", "action": "read",
//    "object": "/data/images/1.jpg", "dataset": "training-images",
//    "region": "eu-central-1", "node": "gpu-7"}
//
// Every key is optional except "action"; "time" is a timestamp or Unix
// nanoseconds (default: now). Unknown keys are errors (a typo must not
// silently change a verdict).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "policy/decide.h"

namespace custos::policy {

// An AccessRequest that owns its strings.
struct AccessEventData {
  int64_t uid = -1;
  std::string user, unit, service, object, dataset, region, node;
  Action action = Action::kUnspecified;
  int64_t time_unix_nano = 0;

  AccessRequest Request() const;
};

Result<AccessEventData> ParseAccessEventJson(const std::string& json, int64_t now_unix_nano);

// A one-line description of a verdict: "deny no-grant(near grant x: expired) residency:pii".
std::string VerdictLine(const Policy& policy, const Verdict& verdict);

}  // namespace custos::policy
