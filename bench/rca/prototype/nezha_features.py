"""Feature extraction for the custos RCA prototype (Nezha development data).

Pure Python 3 standard library.  Turns the raw Nezha files of one day into
per-minute series, keyed by minute index and (service, series-name):

  minute index  = minutes since the day's 00:00 UTC of the *end* of the
                  one-minute collection window, i.e. the HH:MM in the
                  HH_MM_trace.csv.gz file names.  Every record is bucketed by
                  its own timestamp: bucket(t) = floor((t - phase) / 60) + 1,
                  where `phase` (seconds past the minute at which the day's
                  collector closes a window) is the median of (TimeStamp mod
                  60) of the day's metric rows.  A metric row stamped at
                  HH:MM:phase therefore lands in bucket HH:MM, the same bucket
                  as the spans of file HH_MM.

Series (all per service; service = pod name without its two hash suffixes):

  M|<column>            every numeric column of the per-pod metric files
  T|n_span              number of spans of the service
  T|n_entry             spans whose parent is root or another service
  T|dur_p50/p90/p99     duration (ms) percentiles of entry spans
  T|self_p90/p99/mean   exclusive time (ms) of all spans of the service:
                        duration minus the union of its children's intervals
  T|netresp_p90/mean    parent.end - child.end (ms) for cross-service edges,
                        attributed to the child (callee) -- response path
                        (this is Nezha's "NetworkP90(ms)" indicator)
  T|netreq_p90          child.start - parent.start (ms), attributed to the
                        parent (caller) -- the caller's outgoing request path
  T|op|<op>|cnt         span count per operation
  T|op|<op>|p90         duration p90 (ms) per operation
  T|op|<op>|self90      exclusive-time p90 (ms) per operation
  T|op|<op>|kids        mean number of direct children per span of the op
  L|n, L|err, L|warn, L|exc   log lines, ERROR/FATAL, WARN, lines mentioning
                        "exception"/"error" (case-insensitive)
  L|tpl|<template>      count per crude template (message with trace/span
                        ids stripped, tokens containing digits/hex/uuids
                        masked, "Class#line" logger locations kept)
  E|<caller>_<callee>|src/dst   (Online Boutique only) the day's
                        source_50/destination_50 edge latency, attributed to
                        the callee

Only aggregates are kept; every gzip CSV is streamed once.
"""
import csv
import glob
import gzip
import json
import os
import re
import statistics
import sys

csv.field_size_limit(sys.maxsize)

NS_PER_S = 1_000_000_000


def service_of(pod):
    """Pod name without its two hash suffixes."""
    parts = pod.rsplit('-', 2)
    return parts[0] if len(parts) == 3 else pod


def quantile(sorted_vals, q):
    """Linear-interpolated quantile of an already sorted list."""
    n = len(sorted_vals)
    if n == 0:
        return None
    if n == 1:
        return sorted_vals[0]
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_vals[lo] * (1 - frac) + sorted_vals[hi] * frac


def to_float(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    if v != v or v in (float('inf'), float('-inf')):  # NaN / inf
        return None
    return v


# --------------------------------------------------------------------------
# log templates
_TRACE_RE = re.compile(r'TraceID:\s*\S+\s*SpanID:\s*\S+\s*')
_LEVEL_RE = re.compile(r'\b(INFO|WARN|WARNING|ERROR|DEBUG|FATAL|TRACE)\b')
_LOC_RE = re.compile(r'^[\w.$\[\]]+#\d+$')
_TS_PREFIX_RE = re.compile(r'^\d{1,2}:\d{2}:\d{2}\.\d+\s+')


def parse_log(raw):
    """Returns (level, message) from the container runtime JSON line."""
    try:
        line = json.loads(raw).get('log', raw)
    except (ValueError, AttributeError):
        line = raw
    level = None
    msg = line.strip()
    if msg.startswith('{'):
        try:
            inner = json.loads(msg)
            level = str(inner.get('severity', inner.get('level', ''))).upper() or None
            msg = str(inner.get('message', msg))
        except ValueError:
            pass
    if level is None:
        m = _LEVEL_RE.search(msg[:40])
        level = m.group(1) if m else 'INFO'
        if m:
            msg = msg[m.end():]
    if level == 'WARNING':
        level = 'WARN'
    msg = _TS_PREFIX_RE.sub('', msg)
    msg = _TRACE_RE.sub('', msg)
    return level, msg


def template_of(level, msg, max_tokens=10):
    out = []
    for tok in msg.split()[:40]:
        if _LOC_RE.match(tok):
            out.append(tok)                 # logger location, e.g. Foo#31
        elif any(c.isdigit() for c in tok):
            out.append('<*>')
        else:
            out.append(tok[:40])
        if len(out) >= max_tokens:
            break
    return level + ' ' + ' '.join(out)


# --------------------------------------------------------------------------
class DayFeatures:
    """series[minute][(service, name)] = value, for one day."""

    def __init__(self, day):
        self.day = day
        self.series = {}            # minute -> {(svc, name): value}
        self.phase = None
        self.midnight = 0
        self.metric_minutes = set()
        self.trace_minutes = set()
        self.log_minutes = set()
        self.services = set()
        self.edges = {}             # (caller svc, callee svc) -> span count
        self.n_spans = 0
        self.n_logs = 0

    def bucket(self, t_sec):
        return int((t_sec - self.midnight - self.phase) // 60) + 1

    def put(self, minute, svc, name, value):
        self.series.setdefault(minute, {})[(svc, name)] = value

    def add(self, minute, svc, name, value):
        d = self.series.setdefault(minute, {})
        d[(svc, name)] = d.get((svc, name), 0.0) + value


def _day_midnight(day):
    import calendar
    import time
    return calendar.timegm(time.strptime(day, '%Y-%m-%d'))


def estimate_phase(trace_dir):
    """Second of the minute at which the collector opens a window: the
    median over the case trace files of (earliest span start mod 60), less
    half a second."""
    phases = []
    for path in sorted(glob.glob(os.path.join(trace_dir, '*_trace.csv.gz'))):
        with gzip.open(path, 'rt', newline='') as fh:
            rd = csv.reader(fh)
            i = next(rd).index('StartTimeUnixNano')
            lo = min((int(r[i]) for r in rd if r[i].isdigit()), default=None)
        if lo is not None:
            phases.append((lo / NS_PER_S) % 60)
    if not phases:
        return None
    return statistics.median(phases) - 0.5


def metric_bucket(feat, ts):
    """A metric row is stamped at the end of its one-minute window."""
    return int(round((ts - feat.midnight - feat.phase) / 60.0))


def load_metrics(feat, metric_dir):
    files = sorted(glob.glob(os.path.join(metric_dir, '*_metric.csv.gz')))
    phases = []
    rows = []
    for path in files:
        pod = os.path.basename(path)[:-len('_metric.csv.gz')]
        svc = service_of(pod)
        feat.services.add(svc)
        with gzip.open(path, 'rt', newline='') as fh:
            rd = csv.reader(fh)
            header = next(rd)
            its = header.index('TimeStamp')
            cols = [(i, h) for i, h in enumerate(header)
                    if h not in ('Time', 'TimeStamp', 'PodName')]
            for r in rd:
                ts = int(float(r[its]))
                phases.append(ts % 60)
                vals = [(h, to_float(r[i])) for i, h in cols]
                rows.append((ts, svc, vals))
    if feat.phase is None:
        feat.phase = (statistics.median(phases) if phases else 0) - 1.0
    for ts, svc, vals in rows:
        m = metric_bucket(feat, ts)
        feat.metric_minutes.add(m)
        for h, v in vals:
            if v is not None:
                feat.put(m, svc, 'M|' + h, v)
    # Online Boutique edge latencies
    for kind in ('source', 'destination'):
        path = os.path.join(metric_dir, kind + '_50.csv.gz')
        if not os.path.exists(path):
            continue
        with gzip.open(path, 'rt', newline='') as fh:
            rd = csv.reader(fh)
            header = next(rd)
            for r in rd:
                ts = int(float(r[1]))
                m = metric_bucket(feat, ts)
                for i in range(2, len(header)):
                    v = to_float(r[i])
                    if v is None:
                        continue
                    caller, callee = header[i].split('_', 1)
                    feat.put(m, callee, 'E|%s|%s' % (header[i], kind[:3]), v)


def _union_len(intervals):
    intervals.sort()
    total = 0
    cur_s, cur_e = intervals[0]
    for s, e in intervals[1:]:
        if s > cur_e:
            total += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    return total + cur_e - cur_s


def load_trace_file(feat, path):
    spans = {}      # span id -> [svc, op, start, end, parent, child intervals]
    with gzip.open(path, 'rt', newline='') as fh:
        rd = csv.reader(fh)
        header = next(rd)
        ix = {h: i for i, h in enumerate(header)}
        i_sid, i_par, i_pod = ix['SpanID'], ix['ParentID'], ix['PodName']
        i_op, i_st, i_en = ix['OperationName'], ix['StartTimeUnixNano'], ix['EndTimeUnixNano']
        for r in rd:
            try:
                st = int(r[i_st])
                en = int(r[i_en])
            except ValueError:
                continue
            spans[r[i_sid]] = [service_of(r[i_pod]), r[i_op], st, en, r[i_par], None, 0]
    feat.n_spans += len(spans)
    # children
    for sid, s in spans.items():
        p = spans.get(s[4])
        if p is not None:
            if p[5] is None:
                p[5] = []
            p[5].append((s[2], s[3]))
            p[6] += 1
    agg = {}   # (minute, svc) -> dict of lists
    def slot(m, svc):
        a = agg.get((m, svc))
        if a is None:
            a = agg[(m, svc)] = {'n': 0, 'entry': [], 'self': [], 'resp': [], 'req': [], 'ops': {}}
        return a
    for sid, s in spans.items():
        svc, op, st, en, par = s[0], s[1], s[2], s[3], s[4]
        m = feat.bucket(st / NS_PER_S)
        dur = (en - st) / 1e6
        if s[5]:
            self_t = max(0.0, dur - _union_len(s[5]) / 1e6)
        else:
            self_t = dur
        a = slot(m, svc)
        a['n'] += 1
        o = a['ops'].get(op)
        if o is None:
            o = a['ops'][op] = [[], [], 0]
        o[0].append(dur)
        o[1].append(self_t)
        o[2] += s[6]
        a['self'].append(self_t)
        p = spans.get(par)
        if par == 'root' or p is None:
            if par == 'root':
                a['entry'].append(dur)
        elif p[0] != svc:
            a['entry'].append(dur)
            a['resp'].append((p[3] - en) / 1e6)
            feat.edges[(p[0], svc)] = feat.edges.get((p[0], svc), 0) + 1
            pa = slot(feat.bucket(p[2] / NS_PER_S), p[0])
            pa['req'].append((st - p[2]) / 1e6)
    for (m, svc), a in agg.items():
        feat.trace_minutes.add(m)
        feat.services.add(svc)
        put = feat.put
        put(m, svc, 'T|n_span', a['n'])
        put(m, svc, 'T|n_entry', len(a['entry']))
        if a['entry']:
            e = sorted(a['entry'])
            put(m, svc, 'T|dur_p50', quantile(e, 0.5))
            put(m, svc, 'T|dur_p90', quantile(e, 0.9))
            put(m, svc, 'T|dur_p99', quantile(e, 0.99))
        if a['self']:
            e = sorted(a['self'])
            put(m, svc, 'T|self_p90', quantile(e, 0.9))
            put(m, svc, 'T|self_p99', quantile(e, 0.99))
            put(m, svc, 'T|self_mean', sum(e) / len(e))
        if a['resp']:
            e = sorted(a['resp'])
            put(m, svc, 'T|netresp_p90', quantile(e, 0.9))
            put(m, svc, 'T|netresp_mean', sum(e) / len(e))
        if a['req']:
            e = sorted(a['req'])
            put(m, svc, 'T|netreq_p90', quantile(e, 0.9))
        for op, (durs, selfs, kids) in a['ops'].items():
            durs.sort()
            selfs.sort()
            put(m, svc, 'T|op|%s|cnt' % op, len(durs))
            put(m, svc, 'T|op|%s|p90' % op, quantile(durs, 0.9))
            put(m, svc, 'T|op|%s|self90' % op, quantile(selfs, 0.9))
            put(m, svc, 'T|op|%s|kids' % op, kids / len(durs))


def load_log_file(feat, path):
    with gzip.open(path, 'rt', newline='') as fh:
        rd = csv.reader(fh)
        header = next(rd)
        ix = {h: i for i, h in enumerate(header)}
        i_t, i_pod, i_log = ix['TimeUnixNano'], ix['PodName'], ix['Log']
        seen = set()
        for r in rd:
            try:
                t = int(r[i_t]) / NS_PER_S
            except ValueError:
                continue
            m = feat.bucket(t)
            svc = service_of(r[i_pod])
            level, msg = parse_log(r[i_log])
            feat.n_logs += 1
            feat.add(m, svc, 'L|n', 1)
            if level in ('ERROR', 'FATAL'):
                feat.add(m, svc, 'L|err', 1)
            elif level == 'WARN':
                feat.add(m, svc, 'L|warn', 1)
            low = msg.lower()
            if 'exception' in low or 'error' in low:
                feat.add(m, svc, 'L|exc', 1)
            feat.add(m, svc, 'L|tpl|' + template_of(level, msg), 1)
            seen.add(m)
    feat.log_minutes |= seen


def build_day(root, day):
    """Loads rca_data/<day> and construct_data/<day> of the Nezha folder."""
    feat = DayFeatures(day)
    feat.midnight = _day_midnight(day)
    feat.phase = estimate_phase(os.path.join(root, 'rca_data', day, 'trace'))
    load_metrics(feat, os.path.join(root, 'rca_data', day, 'metric'))
    for part in ('rca_data', 'construct_data'):
        for path in sorted(glob.glob(os.path.join(root, part, day, 'trace', '*_trace.csv.gz'))):
            load_trace_file(feat, path)
        for path in sorted(glob.glob(os.path.join(root, part, day, 'log', '*_log.csv.gz'))):
            load_log_file(feat, path)
    # minutes that are fault-free baseline (construct_data trace/log windows)
    feat.baseline_minutes = set()
    for part_dir in ('trace', 'log'):
        for path in glob.glob(os.path.join(root, 'construct_data', day, part_dir, '*.csv.gz')):
            hh, mm = os.path.basename(path).split('_')[:2]
            end = int(hh) * 60 + int(mm)
            feat.baseline_minutes.update(range(end - 3, end + 2))
    return feat


def load_cases(root, day):
    path = os.path.join(root, 'rca_data', day, day + '-fault_list.json')
    with open(path) as fh:
        fl = json.load(fh)
    cases = []
    for _, lst in sorted(fl.items()):
        for c in lst:
            hh, mm = c['inject_time'][11:16].split(':')
            cases.append({
                'day': day,
                'inject_time': c['inject_time'],
                'm0': int(hh) * 60 + int(mm),          # first file of the case
                'pod': c['inject_pod'],
                'service': service_of(c['inject_pod']),
                'type': c['inject_type'],
            })
    return cases
