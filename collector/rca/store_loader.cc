#include "collector/rca/store_loader.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "collector/rca/log_features.h"
#include "common/clock.h"
#include "custos/v1/records.pb.h"

namespace custos::rca {
namespace {

constexpr int64_t kBucket = SeriesFrame::kBucketNanos;
constexpr const char* kEntitySql =
    "CASE WHEN coalesce(r.service_name,'')<>'' THEN r.service_name "
    "WHEN coalesce(r.systemd_unit,'')<>'' THEN r.systemd_unit ELSE 'node:'||coalesce(r.node_id,'') END";

struct Range {
  int64_t from, to;  // [from, to)
};

Result<std::unique_ptr<store::Statement>> Query(store::Db& db, const std::string& sql, const Range& r) {
  CUSTOS_ASSIGN_OR_RETURN(auto st, db.Prepare(sql));
  st->Bind(1, r.from);
  st->Bind(2, r.to);
  return st;
}

// "M|name" or "M|name{k=v,…}", or "E|name|peer" for an edge metric.
std::string MetricSeriesName(const std::string& name, const std::string& attributes_json) {
  std::string base = SeriesPart(name);
  if (attributes_json.empty() || attributes_json == "{}") return "M|" + base;
  auto j = nlohmann::json::parse(attributes_json, nullptr, false);
  if (!j.is_object()) return "M|" + base;
  std::string peer, rest;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) continue;
    if (it.key() == "peer.service") {
      peer = it.value().get<std::string>();
      continue;
    }
    rest += (rest.empty() ? "" : ",") + it.key() + "=" + it.value().get<std::string>();
  }
  std::string full = rest.empty() ? base : base + "{" + SeriesPart(rest) + "}";
  return peer.empty() ? "M|" + full : "E|" + full + "|" + SeriesPart(peer);
}

Status LoadMetrics(store::Db& db, const LoadOptions& o, SeriesFrame& f, LoadStats& stats) {
  const ScoringOptions& s = o.scoring;
  Range r{o.onset_unix_nanos - (s.metric_reference + 1) * kBucket,
          o.onset_unix_nanos + (s.metric_post.last + 2) * kBucket};
  CUSTOS_ASSIGN_OR_RETURN(
      auto st,
      Query(db,
            std::string("SELECT m.ts, coalesce(m.start_ts,0), m.name, coalesce(m.attributes,''), m.type, m.value, "
                        "m.resource, ") +
                kEntitySql +
                " FROM metrics m JOIN resources r ON r.id = m.resource "
                "WHERE m.ts >= ?1 AND m.ts < ?2 AND m.histogram IS NULL ORDER BY m.ts",
            r));
  struct Last {
    int64_t ts;
    double value;
  };
  std::map<std::pair<int64_t, SeriesId>, Last> counters;  // per resource: replicas keep their own
  for (;;) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    int64_t ts = st->Int(0), start = st->Int(1);
    SeriesId id = f.Intern(st->Text(7), MetricSeriesName(st->Text(2), st->Text(3)));
    double v = st->Double(5);
    if (!std::isfinite(v)) continue;  // not a measurement (SQLite gives NULL as 0; ±Inf can be stored)
    ++stats.metric_points;
    if (st->Int(4) == v1::MetricPoint::TYPE_COUNTER) {
      // A cumulative counter: its rate per second since the last sample.
      auto [it, first] = counters.try_emplace({st->Int(6), id}, Last{ts, v});
      Last prev = it->second;
      it->second = {ts, v};
      if (first || ts <= prev.ts || v < prev.value) continue;  // first sample, or a reset
      double rate = (v - prev.value) / (static_cast<double>(ts - prev.ts) / 1e9);
      int b = f.Bucket(prev.ts + (ts - prev.ts) / 2);
      f.Add(b, id, rate);  // the service's rate: its replicas' summed
      f.MarkSource(b, Source::kMetric);
      continue;
    }
    // A sample stamped at the end of the interval it summarises (start set,
    // at most five minutes before) belongs to that interval's middle.
    int64_t at = start > 0 && ts - start <= 5 * kBucket && start < ts ? start + (ts - start) / 2 : ts;
    int b = f.Bucket(at);
    f.Put(b, id, v);
    f.MarkSource(b, Source::kMetric);
  }
  return Status::Ok();
}

Status LoadGpu(store::Db& db, const Range& r, SeriesFrame& f, LoadStats& stats) {
  CUSTOS_ASSIGN_OR_RETURN(
      auto st, Query(db,
                     "SELECT g.ts, 'gpu'||coalesce(g.gpu_index,0)||'@'||coalesce(r.node_id,''), g.sm_utilization_pct, "
                     "g.memory_utilization_pct, g.memory_used_bytes, g.temperature_celsius, g.power_watts "
                     "FROM gpu_samples g JOIN resources r ON r.id = g.resource "
                     "WHERE g.ts >= ?1 AND g.ts < ?2 AND coalesce(g.pid,0) = 0",
                     r));
  static const char* kNames[] = {"M|gpu.sm_utilization_pct", "M|gpu.memory_utilization_pct", "M|gpu.memory_used_bytes",
                                 "M|gpu.temperature_celsius", "M|gpu.power_watts"};
  for (;;) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    ++stats.gpu_samples;
    int b = f.Bucket(st->Int(0));
    f.MarkSource(b, Source::kMetric);
    for (int i = 0; i < 5; ++i)
      if (!st->IsNull(2 + i)) f.Put(b, st->Text(1), kNames[i], st->Double(2 + i));
  }
  CUSTOS_ASSIGN_OR_RETURN(
      auto ev, Query(db,
                     "SELECT e.ts, 'gpu'||coalesce(e.gpu_index,0)||'@'||coalesce(r.node_id,''), coalesce(e.kind,''), "
                     "coalesce(e.code,0), coalesce(e.description,'') FROM gpu_events e "
                     "JOIN resources r ON r.id = e.resource WHERE e.ts >= ?1 AND e.ts < ?2",
                     r));
  for (;;) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, ev->Step());
    if (!row) break;
    ++stats.gpu_events;
    int b = f.Bucket(ev->Int(0));
    SeriesId id = f.Intern(ev->Text(1), "G|" + SeriesPart(ev->Text(2)));
    f.Add(b, id, 1);
    f.SetExample(b, id, ev->Text(2) + " " + std::to_string(ev->Int(3)) + ": " + ev->Text(4));
    f.MarkSource(b, Source::kEvent);
  }
  return Status::Ok();
}

Status LoadDenials(store::Db& db, const Range& r, SeriesFrame& f, LoadStats& stats) {
  CUSTOS_ASSIGN_OR_RETURN(
      auto st, Query(db,
                     std::string("SELECT a.ts, ") + kEntitySql +
                         ", coalesce(a.object,''), coalesce(a.violations,'') FROM access_events a "
                         "JOIN resources r ON r.id = a.resource WHERE a.ts >= ?1 AND a.ts < ?2 AND a.verdict = 'deny'",
                     r));
  for (;;) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    ++stats.denials;
    int b = f.Bucket(st->Int(0));
    SeriesId id = f.Intern(st->Text(1), "A|denied");
    f.Add(b, id, 1);
    f.SetExample(b, id, "denied " + st->Text(2) + " (" + st->Text(3) + ")");
    f.MarkSource(b, Source::kEvent);
  }
  return Status::Ok();
}

// Streams rows in time order, handing each bucket's rows to `flush`.
template <typename Row, typename ReadRow, typename Flush>
Status ReadBuckets(store::Statement& st, SeriesFrame& f, uint64_t limit, uint64_t* read, uint64_t* left_out,
                   ReadRow read_row, Flush flush) {
  std::vector<Row> rows;
  int bucket = 0;
  for (;;) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (*read >= limit) {
      *left_out = 1;  // the bound was hit: reading stops here
      break;
    }
    int b = f.Bucket(st.Int(0));
    if (!rows.empty() && b != bucket) {
      flush(bucket, rows);
      rows.clear();
    }
    bucket = b;
    rows.push_back(read_row(st));
    ++*read;
  }
  if (!rows.empty()) flush(bucket, rows);
  return Status::Ok();
}

}  // namespace

namespace {

// Reads the spans, then the logs, of one time range into the frame.
Status LoadTracesAndLogs(store::Db& db, const LoadOptions& o, const Range& r, SeriesFrame& f, CallGraph& post_graph,
                         EntryOperations& entry_ops, LoadStats& stats) {
  const ScoringOptions& s = o.scoring;
  auto in_post = [&](int b) { return b >= s.trace_post.first && b <= s.trace_post.last; };
  CUSTOS_ASSIGN_OR_RETURN(
      auto spans,
      Query(db,
            std::string("SELECT s.ts, coalesce(s.end_ts, s.ts), coalesce(s.trace_id,''), coalesce(s.span_id,''), "
                        "coalesce(s.parent_span_id,''), coalesce(s.name,''), coalesce(s.status_code,0), ") +
                kEntitySql +
                " FROM spans s JOIN resources r ON r.id = s.resource "
                "WHERE s.ts >= ?1 AND s.ts < ?2 ORDER BY s.ts",
            r));
  CUSTOS_RETURN_IF_ERROR(ReadBuckets<SpanRow>(
      *spans, f, o.max_spans, &stats.spans, &stats.spans_left_out,
      [](store::Statement& q) {
        SpanRow row;
        row.start_unix_nanos = q.Int(0);
        row.end_unix_nanos = q.Int(1);
        row.trace_id = q.Blob(2);
        row.span_id = q.Blob(3);
        row.parent_span_id = q.Blob(4);
        row.operation = MaskDigits(q.Text(5));  // "GET /users/123" and "/users/124" are one operation
        row.error = q.Int(6) == v1::Span::STATUS_ERROR;
        row.service = q.Text(7);
        return row;
      },
      [&](int b, const std::vector<SpanRow>& rows) {
        AddTraceBucket(b, rows, f, in_post(b) ? &post_graph : nullptr, &entry_ops);
      }));
  CUSTOS_ASSIGN_OR_RETURN(
      auto logs,
      Query(db,
            std::string("SELECT l.ts, coalesce(l.message,''), coalesce(l.severity,0), coalesce(l.span_id,''), ") +
                kEntitySql +
                " FROM logs l JOIN resources r ON r.id = l.resource "
                "WHERE l.ts >= ?1 AND l.ts < ?2 ORDER BY l.ts",
            r));
  return ReadBuckets<LogRow>(
      *logs, f, o.max_logs, &stats.logs, &stats.logs_left_out,
      [](store::Statement& q) {
        LogRow row;
        row.message = q.Text(1);
        row.severity = static_cast<int>(q.Int(2));
        row.span_id = q.Blob(3);
        row.service = q.Text(4);
        return row;
      },
      [&](int b, const std::vector<LogRow>& rows) { AddLogBucket(b, rows, f, &entry_ops); });
}

// Reference buckets with span or log data so far.
size_t ReferenceBuckets(const SeriesFrame& f, const Window& exclude) {
  std::set<int> buckets;
  for (Source src : {Source::kTrace, Source::kLog})
    for (int b : f.Buckets(src))
      if (b < exclude.first || b > exclude.last) buckets.insert(b);
  return buckets.size();
}

}  // namespace

Result<LoadStats> LoadFrame(store::Db& db, const LoadOptions& o, SeriesFrame& f, CallGraph& post_graph) {
  LoadStats stats;
  const ScoringOptions& s = o.scoring;
  CUSTOS_RETURN_IF_ERROR(LoadMetrics(db, o, f, stats));
  EntryOperations entry_ops;
  const int64_t onset = o.onset_unix_nanos;
  // The incident's own minutes first.
  CUSTOS_RETURN_IF_ERROR(
      LoadTracesAndLogs(db, o, {onset + s.trace_post.first * kBucket, onset + (s.trace_post.last + 1) * kBucket}, f,
                        post_graph, entry_ops, stats));
  // Then the reference, an hour at a time outwards from the incident (after
  // it too in kAround), until enough minutes with data are in or the
  // reference span is covered: a busy store is read for an hour, a sparse
  // one as far as it must.
  const int64_t ref_end = onset + s.reference_exclude.first * kBucket;         // before: up to here
  const int64_t ref_start = onset + (s.reference_exclude.last + 1) * kBucket;  // after: from here
  int64_t before = ref_end, after = ref_start;
  // No data comes from the future: an incident of a moment ago reads no
  // further than now.
  const int64_t now = Clock::Real().NowUnixNanos();
  const int64_t limit_before = onset - o.reference_span_nanos,
                limit_after = std::max(ref_start, std::min(onset + o.reference_span_nanos, now));
  const bool use_after = s.reference == ReferenceMode::kAround;
  while (ReferenceBuckets(f, s.reference_exclude) < o.max_reference_buckets && stats.spans_left_out == 0 &&
         stats.logs_left_out == 0) {
    bool more_before = before > limit_before, more_after = use_after && after < limit_after;
    if (!more_before && !more_after) break;
    if (more_before) {
      int64_t from = std::max(limit_before, before - o.reference_chunk_nanos);
      CUSTOS_RETURN_IF_ERROR(LoadTracesAndLogs(db, o, {from, before}, f, post_graph, entry_ops, stats));
      before = from;
    }
    if (more_after && ReferenceBuckets(f, s.reference_exclude) < o.max_reference_buckets) {
      int64_t to = std::min(limit_after, after + o.reference_chunk_nanos);
      CUSTOS_RETURN_IF_ERROR(LoadTracesAndLogs(db, o, {after, to}, f, post_graph, entry_ops, stats));
      after = to;
    }
  }
  stats.reference_from_unix_nanos = before;
  stats.reference_to_unix_nanos = use_after ? after : ref_end;
  Range events{before, std::max(after, onset + (s.trace_post.last + 1) * kBucket)};
  CUSTOS_RETURN_IF_ERROR(LoadGpu(db, events, f, stats));
  CUSTOS_RETURN_IF_ERROR(LoadDenials(db, events, f, stats));
  AddShares(f);
  return stats;
}

}  // namespace custos::rca
