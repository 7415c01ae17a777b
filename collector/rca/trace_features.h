// Series derived from the spans of one bucket (see series_frame.h).
//
// For each span S of service A:
//   - a client span (one with a child in another service B) measures B as A
//     sees it, network included: its duration goes to B as T|in|A, and is
//     neither A's own work nor one of A's operation latencies;
//   - otherwise its exclusive time (duration minus the union of its
//     children's intervals) is A's own work: T|self_p90 / _p99 / _mean and
//     T|op|<op>|self90;
//   - an entry span (a root, or a child of another service P) gives A's
//     latency as a server (T|dur_p50/p90/p99), the response gap P sees
//     (T|netresp|P = parent end − span end, at A) and the request gap
//     (T|netreq|A = span start − parent start, at P).
// Counts: T|n_span, T|n_entry, T|ent|<op> (entry spans per operation),
// T|op|<op>|cnt, T|op|<op>|kids (mean children), T|err (spans with error
// status). Where an operation's spans begin with different calls (a handler
// serving several routes), also T|op|<op> (first call <op2>)|kids for each.
// Percentiles are linearly interpolated. Durations are in ms.
//
// The call graph of the bucket (caller → callees) is returned for the
// ranking's callee-first rule, and the entry operation of every span for
// the log features ("log events per request").
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "collector/rca/series_frame.h"

namespace custos::rca {

struct SpanRow {
  std::string service, operation;
  std::string trace_id, span_id, parent_span_id;  // raw bytes; no parent = root
  int64_t start_unix_nanos = 0, end_unix_nanos = 0;
  bool error = false;
};

using CallGraph = std::map<std::string, std::set<std::string>>;
// span id → the entry operation of its service's part of the request.
using EntryOperations = std::unordered_map<std::string, std::string>;

// Adds the series of `spans` (all of one bucket) to `frame`; the call graph
// is merged into `graph` and the entry operations into `entry_ops` when
// given.
void AddTraceBucket(int bucket, const std::vector<SpanRow>& spans, SeriesFrame& frame, CallGraph* graph,
                    EntryOperations* entry_ops);

// Linearly interpolated quantile of sorted values (q in [0, 1]); 0 if empty.
double SortedQuantile(const std::vector<double>& sorted, double q);

}  // namespace custos::rca
