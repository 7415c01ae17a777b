// A source produces records on its own thread and hands them to the batcher.
//
// Lifecycle: the agent creates each enabled source from its config section,
// calls Start() with the position the spool recovered for it (empty on the
// first run), and Stop() at shutdown. A source never blocks the others: when
// batcher.Add() answers RESOURCE_EXHAUSTED it either waits and retries (a
// source that can re-read, such as a file or journal) or drops and calls
// batcher.ReportLoss() (a source that cannot, such as a metric sample).
//
// Adding a source: a folder agent/sources/<name>/ with the class, its test and
// a CMakeLists.txt, plus one line in agent/core/source_registry.cc.
#pragma once

#include <memory>
#include <string>

#include "agent/core/batcher.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/metrics.h"
#include "common/status.h"

namespace custos::agent {

// What a source may use; all outlive the source.
struct SourceContext {
  Batcher& batcher;
  MetricsRegistry& metrics;
  Clock& clock;
  const v1::Resource& node;  // this node's resource (ref 0 in the batcher)
};

class Source {
 public:
  virtual ~Source() = default;
  // The source's name: its config section and its key in the spool positions.
  virtual const std::string& name() const = 0;
  // Begins producing. `position` is what this source last handed to Add().
  virtual Status Start(const std::string& position) = 0;
  // Stops producing and joins the source's threads. Idempotent.
  virtual void Stop() = 0;
};

// Builds a source from its [sources.<name>] config section. Reading a key
// declares it (see common/config.h); unknown keys are refused at start-up.
using SourceFactory = Result<std::unique_ptr<Source>> (*)(ConfigSection& config, SourceContext& context);

struct SourceRegistration {
  const char* name;
  SourceFactory create;
  // Whether the source runs when its section does not say `enabled`.
  // Sources that need site settings to do anything (file paths, dataset
  // roots) default to off; those that find their input alone default to on.
  bool enabled_by_default;
};

// Every source the agent knows, in start order.
const std::vector<SourceRegistration>& SourceRegistry();

}  // namespace custos::agent
