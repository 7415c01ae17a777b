#include "collector/rca/trace_features.h"

#include <algorithm>
#include <cstdio>

#include "common/hex.h"

namespace custos::rca {

double SortedQuantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

namespace {

constexpr double kNanosPerMs = 1e6;

struct Child {
  int64_t start, end;
  const std::string* service;
  const std::string* operation;
};

// Length of the union of [start, end) intervals.
int64_t UnionLength(std::vector<std::pair<int64_t, int64_t>> iv) {
  std::sort(iv.begin(), iv.end());
  int64_t total = 0, cs = iv[0].first, ce = iv[0].second;
  for (size_t i = 1; i < iv.size(); ++i) {
    if (iv[i].first > ce) {
      total += ce - cs;
      cs = iv[i].first;
      ce = iv[i].second;
    } else {
      ce = std::max(ce, iv[i].second);
    }
  }
  return total + ce - cs;
}

struct OpAgg {
  std::vector<double> self;
  uint64_t count = 0, children = 0;
  // By the operation of the first call (spans with children only): one
  // handler span often serves several routes (an HTTP server's "Recv."),
  // and its first call tells them apart.
  std::map<std::string_view, std::pair<uint64_t, uint64_t>> by_first;  // (spans, children)
};

struct ServiceAgg {
  uint64_t spans = 0, errors = 0;
  std::vector<double> entry, self;
  std::map<std::string, std::vector<double>> resp, req, in;  // by peer
  std::map<std::string, OpAgg> ops;
  std::map<std::string, uint64_t> entry_ops;
  const SpanRow* slowest_entry = nullptr;
};

void PutQuantiles(SeriesFrame& f, int b, const std::string& svc, const char* prefix, std::vector<double>& v, bool p50) {
  std::sort(v.begin(), v.end());
  std::string p(prefix);
  if (p50) f.Put(b, svc, p + "_p50", SortedQuantile(v, 0.5));
  f.Put(b, svc, p + "_p90", SortedQuantile(v, 0.9));
  f.Put(b, svc, p + "_p99", SortedQuantile(v, 0.99));
}

}  // namespace

void AddTraceBucket(int b, const std::vector<SpanRow>& spans, SeriesFrame& frame, CallGraph* graph,
                    EntryOperations* entry_ops) {
  if (spans.empty()) return;
  frame.MarkSource(b, Source::kTrace);
  std::unordered_map<std::string_view, const SpanRow*> by_id;
  by_id.reserve(spans.size());
  for (const SpanRow& s : spans) by_id.emplace(s.span_id, &s);
  std::unordered_map<const SpanRow*, std::vector<Child>> children;
  for (const SpanRow& s : spans) {
    auto p = by_id.find(s.parent_span_id);
    if (!s.parent_span_id.empty() && p != by_id.end() && p->second != &s)
      children[p->second].push_back({s.start_unix_nanos, s.end_unix_nanos, &s.service, &s.operation});
  }
  std::map<std::string, ServiceAgg> agg;
  for (const SpanRow& s : spans) {
    ServiceAgg& a = agg[s.service];
    ++a.spans;
    a.errors += s.error;
    double dur = static_cast<double>(s.end_unix_nanos - s.start_unix_nanos) / kNanosPerMs;
    OpAgg& op = a.ops[SeriesPart(s.operation)];
    ++op.count;
    auto kids = children.find(&s);
    const std::string* callee = nullptr;
    if (kids != children.end()) {
      op.children += kids->second.size();
      const Child& first = *std::min_element(kids->second.begin(), kids->second.end(),
                                             [](const Child& x, const Child& y) { return x.start < y.start; });
      auto& route = op.by_first[*first.operation];
      ++route.first;
      route.second += kids->second.size();
      for (const Child& k : kids->second)
        if (*k.service != s.service) {
          callee = k.service;
          break;
        }
    }
    if (callee != nullptr) {
      agg[*callee].in[s.service].push_back(dur);
    } else {
      double self = dur;
      if (kids != children.end()) {
        std::vector<std::pair<int64_t, int64_t>> iv;
        for (const Child& k : kids->second) iv.emplace_back(k.start, k.end);
        self -= static_cast<double>(UnionLength(std::move(iv))) / kNanosPerMs;
      }
      self = std::max(0.0, self);
      op.self.push_back(self);
      a.self.push_back(self);
    }
    auto p = s.parent_span_id.empty() ? by_id.end() : by_id.find(s.parent_span_id);
    bool remote_parent = p != by_id.end() && p->second->service != s.service;
    if (s.parent_span_id.empty() || remote_parent) {
      a.entry.push_back(dur);
      if (a.slowest_entry == nullptr ||
          dur > static_cast<double>(a.slowest_entry->end_unix_nanos - a.slowest_entry->start_unix_nanos) / kNanosPerMs)
        a.slowest_entry = &s;
    }
    if (remote_parent) {
      const SpanRow& parent = *p->second;
      a.resp[parent.service].push_back(static_cast<double>(parent.end_unix_nanos - s.end_unix_nanos) / kNanosPerMs);
      agg[parent.service].req[s.service].push_back(static_cast<double>(s.start_unix_nanos - parent.start_unix_nanos) /
                                                   kNanosPerMs);
      if (graph != nullptr) (*graph)[parent.service].insert(s.service);
    }
    if (p == by_id.end() || remote_parent) ++a.entry_ops[SeriesPart(s.operation)];
  }

  for (auto& [svc, a] : agg) {
    frame.Put(b, svc, "T|n_span", static_cast<double>(a.spans));
    frame.Put(b, svc, "T|n_entry", static_cast<double>(a.entry.size()));
    frame.Put(b, svc, "T|err", static_cast<double>(a.errors));
    for (const auto& [op, n] : a.entry_ops) frame.Put(b, svc, "T|ent|" + op, static_cast<double>(n));
    if (!a.entry.empty()) {
      PutQuantiles(frame, b, svc, "T|dur", a.entry, true);
      const SpanRow& s = *a.slowest_entry;
      char text[160];
      std::snprintf(text, sizeof text, "slowest request %.1f ms: %s, trace ",
                    static_cast<double>(s.end_unix_nanos - s.start_unix_nanos) / kNanosPerMs, s.operation.c_str());
      frame.SetExample(b, frame.Intern(svc, "T|dur_p90"), std::string(text) + HexLower(s.trace_id));
    }
    if (!a.self.empty()) {
      double sum = 0;
      for (double v : a.self) sum += v;
      frame.Put(b, svc, "T|self_mean", sum / static_cast<double>(a.self.size()));
      std::sort(a.self.begin(), a.self.end());
      frame.Put(b, svc, "T|self_p90", SortedQuantile(a.self, 0.9));
      frame.Put(b, svc, "T|self_p99", SortedQuantile(a.self, 0.99));
    }
    for (auto [by_peer, name] :
         {std::pair{&a.resp, "T|netresp|"}, std::pair{&a.req, "T|netreq|"}, std::pair{&a.in, "T|in|"}}) {
      for (auto& [peer, v] : *by_peer) {
        std::sort(v.begin(), v.end());
        frame.Put(b, svc, std::string(name) + peer, SortedQuantile(v, 0.9));
      }
    }
    for (auto& [op, o] : a.ops) {
      frame.Put(b, svc, "T|op|" + op + "|cnt", static_cast<double>(o.count));
      frame.Put(b, svc, "T|op|" + op + "|kids", static_cast<double>(o.children) / static_cast<double>(o.count));
      if (o.by_first.size() >= 2) {
        for (const auto& [first, n] : o.by_first)
          frame.Put(b, svc, "T|op|" + op + " (first call " + SeriesPart(first) + ")|kids",
                    static_cast<double>(n.second) / static_cast<double>(n.first));
      }
      if (!o.self.empty()) {
        std::sort(o.self.begin(), o.self.end());
        frame.Put(b, svc, "T|op|" + op + "|self90", SortedQuantile(o.self, 0.9));
      }
    }
  }

  if (entry_ops == nullptr) return;
  // The entry operation of each span: walk up while the parent is in the
  // same service (bounded: a malformed parent cycle cannot loop).
  for (const SpanRow& s : spans) {
    std::vector<const SpanRow*> chain;
    const SpanRow* cur = &s;
    std::string entry;
    for (;;) {
      auto known = entry_ops->find(cur->span_id);
      if (known != entry_ops->end()) {
        entry = known->second;
        break;
      }
      chain.push_back(cur);
      auto p = cur->parent_span_id.empty() ? by_id.end() : by_id.find(cur->parent_span_id);
      if (p == by_id.end() || p->second->service != cur->service || chain.size() > 64) {
        entry = cur->operation;
        break;
      }
      cur = p->second;
    }
    for (const SpanRow* c : chain) (*entry_ops)[c->span_id] = entry;
  }
}

}  // namespace custos::rca
