// Opens incidents on log statements a service has never written before at
// ERROR or FATAL: after a warm-up in which a service's error templates are
// learned silently (its first hour of logs by default), an error line of a
// template it has not written is an alert ("log.new-error-template") with the
// line as example, once per template.
//
// A statement is known by its source location where the line names one
// (logback's Class#line, collector/rca/log_template.h), else by its words,
// mined online with Drain (collector/rca/drain.h), so "user alice not found"
// and "user bob not found" are one statement. Time is the records' own. What is learned lives in memory: after a
// restart each service warms up again.
//
// Bounded: at most max_templates templates over all services; past it no
// more are learned and none alerted, counted in
// custos_collector_error_templates_untracked_total.
//
// Thread-safety: Observe() on the store's writer thread only.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "collector/rca/drain.h"
#include "common/metrics.h"
#include "custos/v1/transport.pb.h"
#include "policy/rules.h"

namespace custos::collector {

struct NewErrorTemplateOptions {
  int64_t warmup_nanos = 3600LL * 1'000'000'000;
  size_t max_templates = 100'000;
};

class NewErrorTemplates {
 public:
  NewErrorTemplates(NewErrorTemplateOptions options, MetricsRegistry& metrics);

  std::vector<policy::Alert> Observe(const v1::Batch& batch);

 private:
  struct Service {
    int64_t first_seen = 0;
    std::unordered_set<std::string> locations;  // statements known by their source location
    rca::DrainParser words;                     // the others, by their words (Drain)
  };
  const NewErrorTemplateOptions options_;
  std::unordered_map<std::string, Service> services_;
  size_t templates_ = 0;
  Counter& alerts_;
  Counter& untracked_;
};

}  // namespace custos::collector
