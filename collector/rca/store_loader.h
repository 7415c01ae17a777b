// Reads the telemetry around an onset from the collector's SQLite store into
// a SeriesFrame: metric samples (counters as rates), GPU samples and faults,
// spans, logs and access denials, each bucketed relative to the onset.
//
// An entity is a record's service (service.name), else its systemd unit, else
// "node:<node id>"; a GPU is "gpu<index>@<node>". A metric with a
// peer.service attribute is an edge series (E|<metric>|<peer>); other
// attributes become part of the series name ("M|name{k=v}").
//
// Traces and logs: the incident's own minutes first, then the reference an
// hour at a time outwards (before the onset, and after it in kAround) until
// max_reference_buckets minutes with data are in or reference_span is
// covered, so a busy store is read for about an hour and a sparse one as far
// as it takes. Bounded: at most max_spans spans and max_logs log lines;
// what is left out is counted in LoadStats and reported.
#pragma once

#include <cstdint>

#include "collector/rca/scoring.h"
#include "collector/rca/series_frame.h"
#include "collector/rca/trace_features.h"
#include "collector/store/sqlite_db.h"
#include "common/status.h"

namespace custos::rca {

struct LoadOptions {
  int64_t onset_unix_nanos = 0;
  ScoringOptions scoring;                                      // decides the windows read
  int64_t reference_span_nanos = 24 * 3600 * 1'000'000'000LL;  // traces/logs read at most this far on each side
  size_t max_reference_buckets = 60;  // stop reading once this many reference minutes have spans or logs
  int64_t reference_chunk_nanos = 3600 * 1'000'000'000LL;  // read outwards an hour at a time
  uint64_t max_spans = 5'000'000, max_logs = 2'000'000;
};

struct LoadStats {
  uint64_t metric_points = 0, spans = 0, logs = 0, gpu_samples = 0, gpu_events = 0, denials = 0;
  uint64_t spans_left_out = 0, logs_left_out = 0;                      // 1: the bound was hit and reading stopped there
  int64_t reference_from_unix_nanos = 0, reference_to_unix_nanos = 0;  // the span of time read for traces and logs
};

// Fills `frame` (anchored at the onset) and `post_graph` (the call graph of
// the incident's trace buckets).
Result<LoadStats> LoadFrame(store::Db& db, const LoadOptions& options, SeriesFrame& frame, CallGraph& post_graph);

}  // namespace custos::rca
