// Service level objectives over the spans a service serves, alerted by
// multiwindow, multi-burn-rate rules (Google SRE workbook, "Alerting on
// SLOs"): an SLO burns its error budget at rate r over a window when
// bad/total = r × (1 − objective) there. It pages when both a long and a short
// window burn fast — 14.4× over 1 h and 5 min (2 % of a 30-day budget in an
// hour), or 6× over 6 h and 30 min — so a brief spike does not page and a
// page stops soon after the burn stops.
//
// A request is one entry span of the service (a server span, or a root); it
// is good unless its status is an error or, with latency_ms set, it took
// longer. Counts are kept per minute of the spans' own end times for the
// longest window (bounded: 6 h of minutes per SLO).
//
// Thread-safety: Observe() and Evaluate() on the store's writer thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "custos/v1/transport.pb.h"
#include "policy/rules.h"

namespace custos::slo {

struct SloConfig {
  std::string name;       // "checkout-availability"
  std::string service;    // service.name of the spans
  double objective = 0.999;
  double latency_ms = 0;  // > 0: slower requests are bad too
};

struct BurnRule {
  int64_t long_window_nanos, short_window_nanos;
  double factor;
  std::string severity;
};

// The workbook's two paging rules.
std::vector<BurnRule> DefaultBurnRules();

class SloTracker {
 public:
  SloTracker(std::vector<SloConfig> slos, MetricsRegistry& metrics, std::vector<BurnRule> rules = DefaultBurnRules());

  void Observe(const v1::Batch& batch);

  // Alerts for SLOs that started burning since the last call (one per
  // episode and rule); an episode ends when the rule no longer holds.
  std::vector<policy::Alert> Evaluate(int64_t now_unix_nanos);

  // bad/total over [now − window, now) divided by the error budget; 0 without requests.
  double BurnRate(size_t slo, int64_t now_unix_nanos, int64_t window_nanos) const;

 private:
  struct Minute {
    uint64_t good = 0, total = 0;
  };
  struct State {
    SloConfig config;
    std::map<int64_t, Minute> minutes;  // minute index → counts
    std::vector<bool> firing;           // per rule
  };
  std::vector<State> slos_;
  std::vector<BurnRule> rules_;
  int64_t longest_window_ = 0;
  Counter& requests_;
  Counter& alerts_;
};

}  // namespace custos::slo
