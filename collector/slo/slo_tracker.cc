#include "collector/slo/slo_tracker.h"

#include <cstdio>

#include "common/log.h"

namespace custos::slo {
namespace {

constexpr int64_t kMinuteNanos = 60'000'000'000LL;

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%%", fraction * 100);
  return buf;
}

std::string Span(int64_t nanos) {
  int64_t minutes = nanos / kMinuteNanos;
  return minutes % 60 == 0 ? std::to_string(minutes / 60) + "h" : std::to_string(minutes) + "m";
}

}  // namespace

std::vector<BurnRule> DefaultBurnRules() {
  return {{60 * kMinuteNanos, 5 * kMinuteNanos, 14.4, "critical"}, {360 * kMinuteNanos, 30 * kMinuteNanos, 6, "error"}};
}

SloTracker::SloTracker(std::vector<SloConfig> slos, MetricsRegistry& m, std::vector<BurnRule> rules)
    : rules_(std::move(rules)),
      requests_(m.GetCounter("custos_collector_slo_requests_total", "Entry spans counted against an SLO")),
      alerts_(m.GetCounter("custos_collector_slo_burn_alerts_total", "SLO burn-rate alerts raised")) {
  for (SloConfig& c : slos) {
    slos_.push_back({std::move(c),
                     {},
                     std::vector<bool>(rules_.size(), false),
                     std::vector<policy::Alert>(rules_.size()),
                     std::vector<int64_t>(rules_.size(), 0)});
  }
  for (const BurnRule& r : rules_) longest_window_ = std::max(longest_window_, r.long_window_nanos);
}

void SloTracker::Observe(const v1::Batch& batch) {
  if (slos_.empty()) return;
  for (const v1::Record& r : batch.records()) {
    if (!r.has_span()) continue;
    const v1::Span& s = r.span();
    bool entry = s.kind() == v1::Span::KIND_SERVER || s.parent_span_id().empty();
    if (!entry || s.resource_ref() >= static_cast<uint32_t>(batch.resources_size())) continue;
    const std::string& service = batch.resources(static_cast<int>(s.resource_ref())).service_name();
    for (State& st : slos_) {
      if (st.config.service != service) continue;
      double ms = static_cast<double>(s.end_time_unix_nano() - s.start_time_unix_nano()) / 1e6;
      bool good =
          s.status_code() != v1::Span::STATUS_ERROR && (st.config.latency_ms <= 0 || ms <= st.config.latency_ms);
      Minute& m = st.minutes[static_cast<int64_t>(s.end_time_unix_nano()) / kMinuteNanos];
      ++m.total;
      m.good += good;
      requests_.Increment();
    }
  }
}

double SloTracker::BurnRate(size_t i, int64_t now, int64_t window, uint64_t* requests) const {
  const State& st = slos_[i];
  uint64_t good = 0, total = 0;
  // Whole minutes: [now − window, now) rounded to the minutes that end by now.
  int64_t last = now / kMinuteNanos, first = last - window / kMinuteNanos;
  for (auto it = st.minutes.lower_bound(first); it != st.minutes.end() && it->first < last; ++it) {
    good += it->second.good;
    total += it->second.total;
  }
  if (requests != nullptr) *requests = total;
  if (total == 0) return 0;
  double budget = 1 - st.config.objective;
  double bad = static_cast<double>(total - good) / static_cast<double>(total);
  return budget > 0 ? bad / budget : (bad > 0 ? 1e9 : 0);
}

SloTracker::Signals SloTracker::Evaluate(int64_t now) {
  Signals out;
  for (size_t i = 0; i < slos_.size(); ++i) {
    State& st = slos_[i];
    // Bounded: minutes older than the longest window go.
    st.minutes.erase(st.minutes.begin(),
                     st.minutes.lower_bound(now / kMinuteNanos - longest_window_ / kMinuteNanos - 1));
    for (size_t r = 0; r < rules_.size(); ++r) {
      const BurnRule& rule = rules_[r];
      uint64_t requests = 0;
      double long_burn = BurnRate(i, now, rule.long_window_nanos, &requests);
      double short_burn = BurnRate(i, now, rule.short_window_nanos);
      bool holds = long_burn >= rule.factor && short_burn >= rule.factor && requests >= st.config.min_requests;
      if (holds && !st.firing[r]) {
        char text[200];
        std::snprintf(text, sizeof text, "burning its error budget %.1fx over %s and %.1fx over %s (page at %.1fx)",
                      long_burn, Span(rule.long_window_nanos).c_str(), short_burn,
                      Span(rule.short_window_nanos).c_str(), rule.factor);
        policy::Alert a;
        a.rule = "slo.burn";
        a.severity = rule.severity;
        a.message =
            st.config.name + " (" + st.config.service + ", objective " + Percent(st.config.objective) +
            (st.config.latency_ms > 0 ? ", within " + std::to_string(static_cast<int>(st.config.latency_ms)) + " ms"
                                      : "") +
            ") is " + text;
        a.kind = "spans";
        a.time_unix_nano = now;
        a.labels = {{"slo", st.config.name}, {"service", st.config.service}, {"window", Span(rule.long_window_nanos)}};
        alerts_.Increment();
        st.active[r] = a;
        st.last_sent[r] = now;
        out.raised.push_back(std::move(a));
      } else if (holds && now - st.last_sent[r] >= kRefreshNanos) {
        st.last_sent[r] = now;
        out.refresh.push_back(st.active[r]);
      } else if (!holds && st.firing[r]) {
        log::Info("slo", "burn rate back under the page threshold",
                  {{"slo", st.config.name}, {"window", Span(rule.long_window_nanos)}});
        policy::Alert cleared = st.active[r];
        cleared.resolved = true;
        cleared.message += "; back under the threshold";
        out.refresh.push_back(std::move(cleared));
      }
      st.firing[r] = holds;
    }
  }
  return out;
}

}  // namespace custos::slo
