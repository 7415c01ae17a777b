// Opens incidents on log statements a service has never written before at
// ERROR or FATAL: after a warm-up in which a service's error templates are
// learned silently (its first hour of logs by default), an error line of a
// template it has not written is an alert ("log.new-error-template") with the
// line as example, once per template.
//
// A statement is known by its source location where the line names one
// (logback's Class#line, collector/rca/log_template.h), else by its words,
// mined online with Drain (collector/rca/drain.h), so "user alice not found"
// and "user bob not found" are one statement. Time is the records' own.
//
// What is learned (each service's first log time and its error statements)
// is kept in the store, written by Save() on the writer's tick and read back
// by Load() at start, so a restart neither warms every service up again (an
// hour without these alerts) nor alerts again on statements known before it.
// A statement known by its words is kept as its template when first seen;
// Load() rebuilds Drain from those. Each statement's last sighting is kept
// too, so that the store's retention forgets statements not seen within it
// (a statement known by its words keeps the words of its first line, which
// may name a person).
//
// Bounded: at most max_templates templates over all services; past it no
// more are learned and none alerted, counted in
// custos_collector_error_templates_untracked_total.
//
// Thread-safety: all calls on the store's writer thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "collector/rca/drain.h"
#include "collector/rca/log_template.h"
#include "collector/store/sqlite_db.h"
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

  // Creates the tables if needed and learns what they hold (at start,
  // before any Observe()).
  Status Load(store::Db& db);
  // Writes what was learned since the last Save() in a transaction of its
  // own (outside any other); on failure it is kept for the next call.
  Status Save(store::Db& db);

  size_t templates() const { return templates_; }

 private:
  struct Service {
    int64_t first_seen = 0;
    std::unordered_set<std::string> locations;  // statements known by their source location
    rca::DrainParser words;                     // the others, by their words (Drain)
    std::unordered_map<uint64_t, std::string> word_statements;  // Drain template id -> statement as kept
  };
  using StatementKey = std::tuple<std::string, bool, std::string>;  // service, by words, statement
  struct Learned {
    std::string service, statement;
    bool by_words;
    int64_t time;
  };
  // Learns `statement` for `s`: false when it was known or the bound is reached.
  bool Learn(const std::string& service, Service& s, const rca::ParsedLog& parsed, int64_t t, std::string* statement);

  const NewErrorTemplateOptions options_;
  std::unordered_map<std::string, Service> services_;
  size_t templates_ = 0;
  // Not saved yet.
  std::unordered_set<std::string> dirty_services_;
  std::vector<Learned> unsaved_;
  std::map<StatementKey, int64_t> seen_;  // known statements seen again -> latest time
  Counter& alerts_;
  Counter& untracked_;
};

}  // namespace custos::collector
