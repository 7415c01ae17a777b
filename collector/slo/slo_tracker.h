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
  std::string name;     // "checkout-availability"
  std::string service;  // service.name of the spans
  double objective = 0.999;
  double latency_ms = 0;  // > 0: slower requests are bad too
  // Fewer requests than this in a rule's long window never page: one failure
  // among three requests an hour is not a 333x burn worth waking anyone for.
  uint64_t min_requests = 30;
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

  // How often a page that still holds is delivered again (Alertmanager
  // resolves an alert not heard of for its endsAt).
  static constexpr int64_t kRefreshNanos = 60'000'000'000LL;

  void Observe(const v1::Batch& batch);

  struct Signals {
    std::vector<policy::Alert> raised;   // pages that started: stored, audited, joined to incidents
    std::vector<policy::Alert> refresh;  // pages still holding (every refresh interval) or cleared
                                         // (resolved = true): delivered only, to keep Alertmanager current
  };
  // One page per SLO, rule and episode; an episode ends when the rule no
  // longer holds, and its page is then delivered as resolved.
  Signals Evaluate(int64_t now_unix_nanos);

  // bad/total over [now − window, now) divided by the error budget; 0 without
  // requests. `requests`, when given, gets the number of requests counted.
  double BurnRate(size_t slo, int64_t now_unix_nanos, int64_t window_nanos, uint64_t* requests = nullptr) const;

 private:
  struct Minute {
    uint64_t good = 0, total = 0;
  };
  struct State {
    SloConfig config;
    std::map<int64_t, Minute> minutes;  // minute index → counts
    std::vector<bool> firing;           // per rule
    std::vector<policy::Alert> active;  // per rule: the page while firing
    std::vector<int64_t> last_sent;     // per rule
  };
  std::vector<State> slos_;
  std::vector<BurnRule> rules_;
  int64_t longest_window_ = 0;
  Counter& requests_;
  Counter& alerts_;
};

}  // namespace custos::slo
