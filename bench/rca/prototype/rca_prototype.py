#!/usr/bin/env python3
"""custos RCA prototype -- service-level root-cause ranking on the Nezha data.

What it does
  Loads the Nezha development data (metrics, traces, logs of Online Boutique
  "hipster" 2022-08-22/23 and Train-Ticket "ts" 2023-01-29/30), turns every
  source into per-minute series per service, scores every series of every
  case with a robust z-score (post-onset window against a reference window),
  credits edge-level latency anomalies to the right end of the edge, ranks
  the services by their best series, and prints AC@1/3/5 at service level
  and at indicator level per system, beside a simple baseline computed in
  the same run (services ranked by the largest robust z-score of any single
  column of the per-pod metric files).  FINDINGS.md next to this file
  describes the method precisely and the figures of every variant tried.

How to run (pure Python 3 standard library; ~40 s on one core, ~400 MiB RSS;
--variants adds ~2.5 min)
  nice -n 19 python3 rca_prototype.py                 # final method + baseline
  nice -n 19 python3 rca_prototype.py --verbose       # + one line per case
  nice -n 19 python3 rca_prototype.py --variants      # + the ablation table
  nice -n 19 python3 rca_prototype.py --json out.json # per-case rankings
  Feature-level ablations (re-extract the features):
      --no-client-reattribution   client-span latency stays with the caller
      --no-location-templates     TS logs templated by masked text, not
                                  by their "Class#line" source location
  --data DIR  (default /work/shared/datasets/nezha-dev)

All figures are measured on the development half of the data (the only
data this was tuned on).
"""
import argparse
import calendar
import csv
import glob
import gzip
import json
import math
import os
import re
import resource
import statistics
import sys
import time

csv.field_size_limit(sys.maxsize)

NS_PER_S = 1_000_000_000
SYSTEMS = (('hipster', ('2022-08-22', '2022-08-23')),
           ('ts', ('2023-01-29', '2023-01-30')))

# Feature-extraction switches (the two feature-level ablations).
FEATURE_FLAGS = {'client_to_callee': True, 'location_templates': True}


# ==========================================================================
# 1. Small helpers
# ==========================================================================
def service_of(pod):
    """Pod name without its two hash suffixes."""
    parts = pod.rsplit('-', 2)
    return parts[0] if len(parts) == 3 else pod


def quantile(sorted_vals, q):
    """Linear-interpolated quantile of an already sorted list."""
    n = len(sorted_vals)
    if n == 0:
        return None
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def to_float(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    if v != v or v in (float('inf'), float('-inf')):
        return None
    return v


# ==========================================================================
# 2. Log parsing and crude templates
# ==========================================================================
_TRACE_RE = re.compile(r'TraceID:\s*\S+\s*SpanID:\s*\S+\s*')
_LEVEL_RE = re.compile(r'\b(INFO|WARN|WARNING|ERROR|DEBUG|FATAL|TRACE)\b')
_LOC_RE = re.compile(r'^[\w.$\[\]]+#\d+$')          # e.g. c.s.ContactsServiceImpl#37
_TS_PREFIX_RE = re.compile(r'^\d{1,2}:\d{2}:\d{2}\.\d+\s+')


def parse_log(raw):
    """(level, message) from the container runtime's JSON line; the message
    may itself be a JSON object (Online Boutique) with severity/message."""
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
    """Crude template.  A line that names its source location (logback
    "%logger#%line", one of its first 3 tokens) is keyed by level+location:
    that is the log statement.  Otherwise level + first `max_tokens` tokens
    with every token containing a digit masked as <*> (numbers, hex ids,
    uuids, ...)."""
    toks = msg.split()
    if FEATURE_FLAGS['location_templates']:
        for tok in toks[:3]:
            if _LOC_RE.match(tok):
                return level + ' ' + tok
    out = []
    for tok in toks[:40]:
        if _LOC_RE.match(tok):
            out.append(tok)
        elif any(c.isdigit() for c in tok):
            out.append('<*>')
        else:
            out.append(tok[:40])
        if len(out) >= max_tokens:
            break
    return level + ' ' + ' '.join(out)


# ==========================================================================
# 3. Feature extraction: per day, series[minute][(service, name)] = value
# ==========================================================================
class DayFeatures:
    """Per-minute series of one day.

    Minute index = minutes since 00:00 UTC of the END of a one-minute
    collection window = the HH:MM of the HH_MM_*.csv.gz file names.  File
    HH_MM holds the spans started in [HH:MM-1 + phase, HH:MM + phase); the
    metric row stamped HH:MM:phase (+0..2 s) covers the same window."""

    def __init__(self, day):
        self.day = day
        self.midnight = calendar.timegm(time.strptime(day, '%Y-%m-%d'))
        self.phase = 0.0
        self.series = {}
        self.metric_minutes = set()
        self.trace_minutes = set()
        self.log_minutes = set()
        self.baseline_minutes = set()
        self.n_spans = 0
        self.n_logs = 0
        self.n_metric_rows = 0

    def bucket(self, t_sec):
        return int((t_sec - self.midnight - self.phase) // 60) + 1

    def metric_bucket(self, ts):
        return int(round((ts - self.midnight - self.phase) / 60.0))

    def put(self, minute, svc, name, value):
        self.series.setdefault(minute, {})[(svc, name)] = value

    def add(self, minute, svc, name, value):
        d = self.series.setdefault(minute, {})
        d[(svc, name)] = d.get((svc, name), 0.0) + value


def estimate_phase(trace_dir, midnight):
    """Second of the minute at which the collector opens a window, chosen on
    a 0.1 s grid to put the most spans of the case trace files into their own
    file's window (the files, not inject_timestamp, define time)."""
    hist = {}
    for path in sorted(glob.glob(os.path.join(trace_dir, '*_trace.csv.gz'))):
        end = midnight + file_minute(path) * 60
        with gzip.open(path, 'rt', newline='') as fh:
            rd = csv.reader(fh)
            i = next(rd).index('StartTimeUnixNano')
            for r in rd:
                if r[i].isdigit():
                    d = int(round((int(r[i]) / NS_PER_S - end) * 10))
                    hist[d] = hist.get(d, 0) + 1
    if not hist:
        return 0.0
    best, best_n = 0, -1
    for ph in range(0, 600):
        n = sum(hist.get(d, 0) for d in range(ph - 600, ph))
        if n > best_n:
            best, best_n = ph, n
    return best / 10.0


def file_minute(path):
    hh, mm = os.path.basename(path).split('_')[:2]
    return int(hh) * 60 + int(mm)


def load_metrics(feat, metric_dir):
    """Per-pod metric files -> 'M|<column>'; Online Boutique edge latency
    files source_50/destination_50 -> 'E|<caller>_<callee>|src|dst' at the
    callee."""
    for path in sorted(glob.glob(os.path.join(metric_dir, '*_metric.csv.gz'))):
        svc = service_of(os.path.basename(path)[:-len('_metric.csv.gz')])
        with gzip.open(path, 'rt', newline='') as fh:
            rd = csv.reader(fh)
            header = next(rd)
            its = header.index('TimeStamp')
            cols = [(i, h) for i, h in enumerate(header)
                    if h not in ('Time', 'TimeStamp', 'PodName')]
            for r in rd:
                m = feat.metric_bucket(int(float(r[its])))
                if not 0 <= m < 1440:
                    continue
                feat.n_metric_rows += 1
                feat.metric_minutes.add(m)
                for i, h in cols:
                    v = to_float(r[i])
                    if v is not None:
                        feat.put(m, svc, 'M|' + h, v)
    for kind in ('source', 'destination'):
        path = os.path.join(metric_dir, kind + '_50.csv.gz')
        if not os.path.exists(path):
            continue
        with gzip.open(path, 'rt', newline='') as fh:
            rd = csv.reader(fh)
            header = next(rd)
            for r in rd:
                m = feat.metric_bucket(int(float(r[1])))
                if not 0 <= m < 1440:
                    continue
                for i in range(2, len(header)):
                    v = to_float(r[i])
                    if v is not None:
                        callee = header[i].split('_', 1)[1]
                        feat.put(m, callee, 'E|%s|%s' % (header[i], kind[:3]), v)


def _union_len(intervals):
    intervals = sorted(intervals)
    total = 0
    cur_s, cur_e = intervals[0]
    for s, e in intervals[1:]:
        if s > cur_e:
            total += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    return total + cur_e - cur_s


def _full_buckets(feat, t_lo, t_hi):
    """Minutes whose whole window lies inside [t_lo, t_hi] (seconds)."""
    out = set()
    for m in range(feat.bucket(t_lo), feat.bucket(t_hi) + 1):
        w_start = feat.midnight + (m - 1) * 60 + feat.phase
        if w_start >= t_lo - 1.0 and w_start + 60 <= t_hi + 1.0:
            out.add(m)
    return out


def load_trace_file(feat, path, by_file):
    """Aggregates one trace file per (minute, service).  Returns the map
    span id -> entry operation of the span's service (used to join logs).

    by_file: the file is one collection window (every span goes to the
    file's minute); else (multi-minute baseline file) spans are bucketed by
    start time and partial minutes at the edges are dropped."""
    spans = {}   # id -> [svc, op, start_ns, end_ns, parent_id, children, n_children]
    with gzip.open(path, 'rt', newline='') as fh:
        rd = csv.reader(fh)
        ix = {h: i for i, h in enumerate(next(rd))}
        i_sid, i_par, i_pod = ix['SpanID'], ix['ParentID'], ix['PodName']
        i_op, i_st, i_en = ix['OperationName'], ix['StartTimeUnixNano'], ix['EndTimeUnixNano']
        for r in rd:
            try:
                st, en = int(r[i_st]), int(r[i_en])
            except ValueError:
                continue
            spans[r[i_sid]] = [service_of(r[i_pod]), r[i_op], st, en, r[i_par], None, 0]
    feat.n_spans += len(spans)
    if not spans:
        return {}
    if by_file:
        fm = file_minute(path)
        to_min = lambda t_ns: fm
        keep = {fm}
    else:
        to_min = lambda t_ns: feat.bucket(t_ns / NS_PER_S)
        keep = _full_buckets(feat, min(s[2] for s in spans.values()) / NS_PER_S,
                             max(s[2] for s in spans.values()) / NS_PER_S)
    for s in spans.values():
        p = spans.get(s[4])
        if p is not None:
            if p[5] is None:
                p[5] = []
            p[5].append((s[2], s[3], s[0]))
            p[6] += 1

    agg = {}

    def slot(m, svc):
        a = agg.get((m, svc))
        if a is None:
            a = agg[(m, svc)] = {'n': 0, 'entry': [], 'self': [], 'resp': {}, 'req': {},
                                 'inc': {}, 'ops': {}, 'ent': {}}
        return a

    for s in spans.values():
        svc, op, st, en, par, kids = s[0], s[1], s[2], s[3], s[4], s[5]
        m = to_min(st)
        dur = (en - st) / 1e6                      # ms
        a = slot(m, svc)
        a['n'] += 1
        o = a['ops'].get(op)
        if o is None:
            o = a['ops'][op] = [[], [], 0, 0]      # durations, self times, children, count
        o[2] += s[6]
        o[3] += 1
        callee = None
        if kids:
            for k in kids:
                if k[2] != svc:
                    callee = k[2]
                    break
        if callee is not None and FEATURE_FLAGS['client_to_callee']:
            # client span: its duration is the callee's latency as seen by
            # the caller (network included): credited to the callee, and its
            # "exclusive time" (= network time) is not the caller's own work
            slot(m, callee)['inc'].setdefault(svc, []).append(dur)
        else:
            self_t = dur - _union_len([(k[0], k[1]) for k in kids]) / 1e6 if kids else dur
            self_t = max(0.0, self_t)
            o[0].append(dur)
            o[1].append(self_t)
            a['self'].append(self_t)
        p = spans.get(par)
        if par == 'root':
            a['entry'].append(dur)
        elif p is not None and p[0] != svc:
            a['entry'].append(dur)
            # response gap: parent (client) end - child (server) end, at the child
            a['resp'].setdefault(p[0], []).append((p[3] - en) / 1e6)
            # request gap: child start - parent start, at the parent
            slot(to_min(p[2]), p[0])['req'].setdefault(svc, []).append((st - p[2]) / 1e6)
        if p is None or p[0] != svc:
            a['ent'][op] = a['ent'].get(op, 0) + 1

    # entry operation of every span: walk up while the parent is in the same service
    entry_op = {}
    for sid, s in spans.items():
        chain, cur_id, cur = [], sid, s
        while True:
            if cur_id in entry_op:
                eo = entry_op[cur_id]
                break
            chain.append(cur_id)
            p = spans.get(cur[4])
            if p is None or p[0] != cur[0] or len(chain) > 64:
                eo = cur[1]
                break
            cur_id, cur = cur[4], p
        for c in chain:
            entry_op[c] = eo

    put = feat.put
    for (m, svc), a in agg.items():
        if m not in keep:
            continue
        feat.trace_minutes.add(m)
        put(m, svc, 'T|n_span', a['n'])
        put(m, svc, 'T|n_entry', len(a['entry']))
        for op, n in a['ent'].items():
            put(m, svc, 'T|ent|' + op, n)
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
        for key, name in (('resp', 'netresp'), ('req', 'netreq'), ('inc', 'in')):
            allv = []
            for peer, vals in a[key].items():
                vals.sort()
                allv.extend(vals)
                put(m, svc, 'T|%s|%s' % (name, peer), quantile(vals, 0.9))
            if allv:
                allv.sort()
                put(m, svc, 'T|%s_p90' % name, quantile(allv, 0.9))
                if key == 'resp':
                    put(m, svc, 'T|netresp_mean', sum(allv) / len(allv))
        for op, (durs, selfs, kids, n) in a['ops'].items():
            put(m, svc, 'T|op|%s|cnt' % op, n)
            put(m, svc, 'T|op|%s|kids' % op, kids / n)
            if durs:
                durs.sort()
                selfs.sort()
                put(m, svc, 'T|op|%s|p90' % op, quantile(durs, 0.9))
                put(m, svc, 'T|op|%s|self90' % op, quantile(selfs, 0.9))
    return entry_op


def load_log_file(feat, path, by_file, entry_op):
    """Per (minute, service): line count, ERROR/WARN counts, lines mentioning
    exception/error, per-template counts, and per (entry operation of the
    line's span, template) counts via the line's SpanID."""
    fm = file_minute(path)
    counts = {}
    t_lo, t_hi = float('inf'), 0.0
    with gzip.open(path, 'rt', newline='') as fh:
        rd = csv.reader(fh)
        ix = {h: i for i, h in enumerate(next(rd))}
        i_t, i_pod, i_log, i_sp = ix['TimeUnixNano'], ix['PodName'], ix['Log'], ix.get('SpanID')
        for r in rd:
            try:
                t = int(r[i_t]) / NS_PER_S
            except ValueError:
                continue
            if by_file:
                m = fm
            else:
                m = feat.bucket(t)
                t_lo, t_hi = min(t_lo, t), max(t_hi, t)
            svc = service_of(r[i_pod])
            level, msg = parse_log(r[i_log])
            feat.n_logs += 1
            tpl = template_of(level, msg)
            names = ['L|n', 'L|tpl|' + tpl]
            if entry_op and i_sp is not None:
                eo = entry_op.get(r[i_sp])
                if eo is not None:
                    names.append('L|ev|%s|%s' % (eo, tpl))
            if level in ('ERROR', 'FATAL'):
                names.append('L|err')
            elif level == 'WARN':
                names.append('L|warn')
            low = msg.lower()
            if 'exception' in low or 'error' in low:
                names.append('L|exc')
            for n in names:
                counts[(m, svc, n)] = counts.get((m, svc, n), 0) + 1
    keep = {fm} if by_file else _full_buckets(feat, t_lo, t_hi)
    for (m, svc, n), c in counts.items():
        if m in keep:
            feat.add(m, svc, n, c)
            feat.log_minutes.add(m)


def _span_s(path):
    """Seconds between the first and the last record of a trace/log file."""
    lo = hi = None
    with gzip.open(path, 'rt', newline='') as fh:
        rd = csv.reader(fh)
        header = next(rd)
        i = header.index('StartTimeUnixNano' if 'StartTimeUnixNano' in header else 'TimeUnixNano')
        for r in rd:
            if r[i].isdigit():
                t = int(r[i])
                lo = t if lo is None or t < lo else lo
                hi = t if hi is None or t > hi else hi
    return 0 if lo is None else (hi - lo) / NS_PER_S


def add_shares(feat):
    """Traffic-independent ratios, per minute and service:
         L|share|<tpl>          template lines / log lines of the service
         L|errshare             ERROR lines / log lines
         L|evshare|<op>|<tpl>   lines of <tpl> in requests whose service entry
                                operation is <op> / entry spans of <op>
                                ("log events per request")
         T|opshare|<op>         spans of <op> / spans of the service"""
    for d in feat.series.values():
        add = {}
        for (svc, name), v in d.items():
            if name.startswith('L|tpl|'):
                n = d.get((svc, 'L|n'))
                if n:
                    add[(svc, 'L|share|' + name[6:])] = v / n
            elif name == 'L|n':
                add[(svc, 'L|errshare')] = d.get((svc, 'L|err'), 0.0) / v
            elif name.startswith('L|ev|'):
                eo = name[5:].split('|', 1)[0]
                n = d.get((svc, 'T|ent|' + eo))
                if n:
                    add[(svc, 'L|evshare|' + name[5:])] = v / n
            elif name.startswith('T|op|') and name.endswith('|cnt'):
                n = d.get((svc, 'T|n_span'))
                if n:
                    add[(svc, 'T|opshare|' + name[5:-4])] = v / n
        d.update(add)


def build_day(root, day):
    """Loads rca_data/<day> and construct_data/<day> (fault-free baseline)."""
    feat = DayFeatures(day)
    feat.phase = estimate_phase(os.path.join(root, 'rca_data', day, 'trace'), feat.midnight)
    load_metrics(feat, os.path.join(root, 'rca_data', day, 'metric'))
    for part in ('rca_data', 'construct_data'):
        before = feat.trace_minutes | feat.log_minutes
        entry_maps = {}
        for path in sorted(glob.glob(os.path.join(root, part, day, 'trace', '*_trace.csv.gz'))):
            by_file = part == 'rca_data' or _span_s(path) <= 65
            entry_maps[os.path.basename(path)[:5]] = load_trace_file(feat, path, by_file)
        for path in sorted(glob.glob(os.path.join(root, part, day, 'log', '*_log.csv.gz'))):
            by_file = part == 'rca_data' or _span_s(path) <= 65
            load_log_file(feat, path, by_file, entry_maps.get(os.path.basename(path)[:5]))
        entry_maps.clear()
        if part == 'construct_data':
            feat.baseline_minutes = (feat.trace_minutes | feat.log_minutes) - before
    add_shares(feat)
    return feat


def load_cases(root, day):
    with open(os.path.join(root, 'rca_data', day, day + '-fault_list.json')) as fh:
        fl = json.load(fh)
    cases = []
    for _, lst in sorted(fl.items()):
        for c in lst:
            hh, mm = c['inject_time'][11:16].split(':')
            cases.append({'day': day, 'inject_time': c['inject_time'],
                          'm0': int(hh) * 60 + int(mm),      # first file of the case
                          'pod': c['inject_pod'], 'service': service_of(c['inject_pod']),
                          'type': c['inject_type']})
    return cases


# ==========================================================================
# 4. Scoring
# ==========================================================================
def group_of(name):
    """Series family; decides direction, noise floor and whether it is used."""
    if name.startswith('X|'):
        return 'edge_attr'
    if name.startswith('M|'):
        c = name[2:]
        for prefix, g in (('Node', 'node'), ('Cpu', 'cpu'), ('Memory', 'mem'),
                          ('Syscall', 'sys'), ('Network', 'net'), ('PodWorkload', 'wl'),
                          ('PodSuccess', 'succ'), ('PodServerLatency', 'srvlat'),
                          ('PodClientLatency', 'clilat')):
            if c.startswith(prefix):
                return g
        return 'other'
    if name.startswith('E|'):
        return 'edge'
    if name.startswith('T|'):
        if name.startswith('T|opshare|'):
            return 'tshare'
        if name.startswith('T|op|'):
            return {'cnt': 'tcnt', 'p90': 'tdur', 'self90': 'tself',
                    'kids': 'tkids'}[name.rsplit('|', 1)[1]]
        if name.startswith('T|in'):
            return 'tin'
        if name.startswith('T|netresp|') or name.startswith('T|netreq|'):
            return 'tnete'
        if name.startswith('T|net'):
            return 'tnet'
        if name.startswith('T|dur'):
            return 'tdur'
        if name.startswith('T|self'):
            return 'tself'
        return 'tcnt'           # n_span, n_entry, ent|<op>
    if name.startswith('L|'):
        if name.startswith('L|evshare|'):
            return 'levshare'
        if name.startswith('L|share|') or name == 'L|errshare':
            return 'lshare'
        if name.startswith('L|tpl|') or name.startswith('L|ev|'):
            return 'ltpl'
        if name == 'L|n':
            return 'lcnt'
        return 'lerr'
    return 'other'


# +1: only increases are anomalous, -1: only decreases, 0: both
DIRECTION = {'cpu': 1, 'mem': 1, 'srvlat': 1, 'clilat': 1, 'edge': 1, 'tdur': 1,
             'tself': 1, 'tnet': 1, 'tin': 1, 'tnete': 1, 'lerr': 1, 'succ': -1}
COUNT_GROUPS = {'tcnt', 'lcnt', 'ltpl', 'lerr'}
SHARE_GROUPS = {'tshare', 'lshare', 'levshare'}
# absolute noise floor of the scale, in the series' unit
ABS_FLOOR = {'cpu': 1.0, 'mem': 1.0, 'sys': 10.0, 'net': 1000.0, 'wl': 0.5, 'succ': 1.0,
             'srvlat': 0.005, 'clilat': 0.005, 'edge': 0.005, 'tdur': 1.0, 'tself': 1.0,
             'tnet': 1.0, 'tin': 1.0, 'tnete': 1.0, 'tkids': 0.1}
LOCAL_GROUPS = {'cpu', 'tself', 'edge_attr', 'lerr', 'lshare', 'ltpl', 'tkids', 'tshare',
                'levshare'}

EXCL_OP_P90 = r'^T\|op\|.*\|p90$'
EXCL_AGG_GAPS = r'^T\|(netresp_p90|netresp_mean|netreq_p90|in_p90)$'

FINAL = {
    'metric_ref': 60,          # metric reference: the last 60 metric minutes before m0
    'metric_post': (1, 4),     # metric post window: minutes m0+1 .. m0+4
    'trace_post': (0, 2),      # trace/log post window: the case's 3 files m0 .. m0+2
    'trace_ref': 'pool',       # trace/log reference: all other minutes of the day
    'pool_exclude': (-2, 5),   #   except m0-2 .. m0+5
    'min_ref': 5,              # at least 5 reference values
    'k': 2,                    # series score = 2nd largest z over the post minutes
    'scale': 'max',            # max(IQR/1.349, 1.4826*MAD, floor)
    'rel_floor': 0.1,          # floor >= 10 % of |median| (2 % for memory)
    'share_floor': 0.02,
    'two_sided': False,
    'exclude_groups': {'node', 'clilat'},
    # propagated (op latency p90) or replaced-by-edge-attribution series
    'exclude_re': EXCL_OP_P90 + '|' + EXCL_AGG_GAPS,
    'edge_attribution': True,
    'weights': {},             # group -> weight (default 1)
    'tiebreak': 'scores',      # 'scores': 2nd and 3rd best series, then name
    'callee_pref': 'tie',      # equal scores: a callee goes before its caller
    'sources': 'MELT',         # which sources to use (M metrics, E edges, T traces, L logs)
}


def robust(values):
    s = sorted(values)
    med = quantile(s, 0.5)
    mad = 1.4826 * statistics.median([abs(x - med) for x in s])
    iqr = (quantile(s, 0.75) - quantile(s, 0.25)) / 1.349
    return med, mad, iqr


def series_score(group, name, ref, post, cfg):
    """k-th largest robust z of the post values against the reference."""
    med, mad, iqr = robust(ref)
    scale = {'max': max(iqr, mad), 'iqr': iqr, 'mad': mad}[cfg['scale']]
    if group in COUNT_GROUPS:
        floor = max(1.0, math.sqrt(abs(med)))
    elif group in SHARE_GROUPS:
        floor = max(cfg['share_floor'], cfg['rel_floor'] * abs(med))
    else:
        rel = min(cfg['rel_floor'], 0.02) if group == 'mem' else cfg['rel_floor']
        a = ABS_FLOOR.get(group, 1e-3)
        if group == 'cpu' and '%' not in name:
            a = 10.0                              # CpuUsage(m): millicores
        floor = max(a, rel * abs(med))
    scale = max(scale, floor)
    d = 0 if cfg['two_sided'] else DIRECTION.get(group, 0)
    zs = []
    for x in post:
        z = (x - med) / scale
        zs.append(z if d == 1 else -z if d == -1 else abs(z))
    zs.sort(reverse=True)
    return zs[min(cfg['k'], len(zs)) - 1]


def case_windows(feat, case, cfg):
    m0 = case['m0']
    mm = sorted(feat.metric_minutes)
    w = {'metric_ref': [x for x in mm if x < m0][-cfg['metric_ref']:],
         'metric_post': [x for x in mm if m0 + cfg['metric_post'][0] <= x <= m0 + cfg['metric_post'][1]]}
    lo, hi = cfg['pool_exclude']
    for src, mins in (('T', feat.trace_minutes), ('L', feat.log_minutes)):
        tm = sorted(mins)
        w[src + '_post'] = [x for x in tm if m0 + cfg['trace_post'][0] <= x <= m0 + cfg['trace_post'][1]]
        if cfg['trace_ref'] == 'pool':
            w[src + '_ref'] = [x for x in tm if not (m0 + lo <= x <= m0 + hi)]
        else:   # 'past': causal -- earlier minutes and the fault-free baseline only
            w[src + '_ref'] = [x for x in tm if x < m0 + lo or x in feat.baseline_minutes]
    return w


def score_case(feat, case, cfg):
    """{(service, series): score} for one case."""
    w = case_windows(feat, case, cfg)
    excl = re.compile(cfg['exclude_re']) if cfg['exclude_re'] else None
    out = {}

    def run(prefixes, ref_mins, post_mins):
        keys = set()
        for x in post_mins:
            keys.update(k for k in feat.series[x] if k[1][0] in prefixes)
        for key in keys:
            svc, name = key
            g = group_of(name)
            if g in cfg['exclude_groups'] or (excl and excl.search(name)):
                continue
            ref = [feat.series[x].get(key) for x in ref_mins]
            post = [feat.series[x].get(key) for x in post_mins]
            if g in COUNT_GROUPS:          # absent in a minute with data = 0
                ref = [0.0 if v is None else v for v in ref]
                post = [0.0 if v is None else v for v in post]
            elif g in SHARE_GROUPS:        # 0 if the denominator exists
                den = (svc, 'T|n_span' if g == 'tshare' else 'L|n' if g == 'lshare'
                       else 'T|ent|' + name.split('|')[2])
                ref = [0.0 if v is None and den in feat.series[x] else v
                       for v, x in zip(ref, ref_mins)]
                post = [0.0 if v is None and den in feat.series[x] else v
                        for v, x in zip(post, post_mins)]
            ref = [v for v in ref if v is not None]
            post = [v for v in post if v is not None]
            if len(ref) >= cfg['min_ref'] and post:
                out[key] = series_score(g, name, ref, post, cfg)

    srcs = cfg['sources']
    run(''.join(s for s in 'ME' if s in srcs), w['metric_ref'], w['metric_post'])
    if 'T' in srcs:
        run('T', w['T_ref'], w['T_post'])
    if 'L' in srcs:
        run('L', w['L_ref'], w['L_post'])
    if cfg['edge_attribution']:
        out = attribute_edges(out)
    return out


def edge_of(svc, name):
    """(kind, caller, callee) of a per-edge series, else None."""
    if name.startswith('T|netresp|'):
        return 'resp', name[10:], svc
    if name.startswith('T|netreq|'):
        return 'req', svc, name[9:]
    if name.startswith('T|in|'):
        return 'in', name[5:], svc
    if name.startswith('E|'):
        pc, kind = name[2:].rsplit('|', 1)
        p, c = pc.split('_', 1)
        return 'e' + kind, p, c
    return None


def attribute_edges(scores):
    """An edge anomaly is caused by one of its two ends.  A slow or
    network-delayed service makes *all* its edges anomalous; a healthy
    neighbour only the one edge it shares with the culprit.  So each edge
    score max(0, z) is credited to both ends and a node's score per edge kind
    is  sum(credits) / (number of its edges with data + 1)."""
    out, per = {}, {}
    for (svc, name), v in scores.items():
        e = edge_of(svc, name)
        if e is None:
            out[(svc, name)] = v
            continue
        kind, p, c = e
        for node in (p, c):
            per.setdefault((node, kind), []).append(max(0.0, v))
    for (node, kind), lst in per.items():
        out[(node, 'X|' + kind)] = sum(lst) / (len(lst) + 1)
    return out


def call_graph(feat, case, cfg):
    """Caller -> callees seen in the case's trace minutes (from the
    per-edge response-gap series, which exist for every cross-service
    parent/child span pair)."""
    g = {}
    w = case_windows(feat, case, cfg)
    for x in w['T_post']:
        for (svc, name) in feat.series[x]:
            if name.startswith('T|netresp|'):
                g.setdefault(name[10:], set()).add(svc)
    return g


LOG_GROUPS = {'lerr', 'lshare', 'levshare', 'ltpl'}


def rank_services(scores, cfg, graph=None):
    """[(service, score, winning series)], best first."""
    best, allv = {}, {}
    for (svc, name), v in scores.items():
        wgt = cfg['weights'].get(group_of(name), 1.0)
        if wgt <= 0:
            continue
        v *= wgt
        allv.setdefault(svc, []).append(v)
        if svc not in best or v > best[svc][0]:
            best[svc] = (v, name)
    if cfg['tiebreak'] == 'scores':
        def key(item):
            rest = sorted(allv[item[0]], reverse=True)[1:3]
            rest += [-1e9] * (2 - len(rest))
            return (-item[1][0], -rest[0], -rest[1], item[0])
    else:
        def key(item):
            return (-item[1][0], item[0])
    if graph and cfg.get('callee_pref') == 'explain':
        # a caller whose best evidence is log errors is explained by a callee
        # with log evidence at least as strong: halve the caller
        adj = {}
        for a, (va, na) in best.items():
            if group_of(na) in LOG_GROUPS:
                for b in graph.get(a, ()):
                    if b != a and b in best and group_of(best[b][1]) in LOG_GROUPS \
                            and best[b][0] >= cfg.get('explain_ratio', 1.0) * va:
                        adj[a] = (va * 0.5, na)
                        break
        best.update(adj)
    order = [(s, v, n) for s, (v, n) in sorted(best.items(), key=key)]
    if graph and cfg.get('callee_pref') in ('tie', 'explain'):
        # equal scores: the callee before its caller (failures propagate upstream)
        changed = True
        while changed:
            changed = False
            for i in range(len(order) - 1):
                a, b = order[i], order[i + 1]
                if abs(a[1] - b[1]) < 1e-9 and b[0] in graph.get(a[0], ()):
                    order[i], order[i + 1] = b, a
                    changed = True
    return order


# ---- baseline: largest robust z of any single metric-file column ---------
BASELINE_CFG = dict(FINAL, exclude_groups=set(), exclude_re=None, edge_attribution=False,
                    sources='M', k=1, two_sided=True, tiebreak='name', callee_pref=None)


def score_case_baseline(feat, case):
    """|x - median| / max(1.4826*MAD, 1 % of |median|, 1e-6) of every column of
    every per-pod metric file, max over m0+1..m0+4, against the 60 metric
    minutes before m0; a service = its largest z."""
    w = case_windows(feat, case, BASELINE_CFG)
    out = {}
    keys = set()
    for x in w['metric_post']:
        keys.update(k for k in feat.series[x] if k[1].startswith('M|'))
    for key in keys:
        ref = [v for v in (feat.series[x].get(key) for x in w['metric_ref']) if v is not None]
        post = [v for v in (feat.series[x].get(key) for x in w['metric_post']) if v is not None]
        if len(ref) < BASELINE_CFG['min_ref'] or not post:
            continue
        med, mad, _ = robust(ref)
        scale = max(mad, 0.01 * abs(med), 1e-6)
        out[key] = max(abs(x - med) / scale for x in post)
    return out


# ==========================================================================
# 5. Indicator level
# ==========================================================================
def indicator_of(name):
    """Maps a series onto the vocabulary of the Nezha labels:
    'CpuUsageRate(%)' (the CPU columns; with INDICATOR_PROXY also the
    exclusive span time, the trace-side symptom of CPU starvation),
    'NetworkP90(ms)' (edge/network latency, which Nezha derives from parent
    end minus child end of spans), 'log:<template>' for log-derived series,
    else the series itself."""
    if name.startswith('M|Cpu'):
        return 'CpuUsageRate(%)'
    if INDICATOR_PROXY['on'] and (name.startswith('T|self') or name.endswith('|self90')):
        return 'CpuUsageRate(%)'
    if name.startswith('X|') or name.startswith('T|net') or name.startswith('E|'):
        return 'NetworkP90(ms)'
    if name.startswith('L|'):
        parts = name.split('|')
        if parts[1] in ('tpl', 'share'):
            return 'log:' + parts[2]
        if parts[1] in ('ev', 'evshare'):
            return 'log:' + parts[3]
        return 'log:' + parts[1]
    return name


INDICATOR_PROXY = {'on': False}


def indicator_matches(ind, label):
    if label in ('CpuUsageRate(%)', 'NetworkP90(ms)'):
        return ind == label
    if not ind.startswith('log:'):
        return False
    # a log label is an event pair "A_B" (span or log statement names);
    # a hit if the template names A or B (TS: "Class#line", hipster: text)
    tpl = ind[4:]
    for ev in label.split('_'):
        ev = ev.strip()
        if ev and (ev in tpl or (tpl.split(' ', 1)[-1] and tpl.split(' ', 1)[-1] in ev)):
            return True
    return False


def rank_indicators(scores, cfg):
    """[(service, indicator, score)] best first: one entry per (service,
    indicator) with its best series score, ordered like the services."""
    best = {}
    for (svc, name), v in scores.items():
        wgt = cfg['weights'].get(group_of(name), 1.0)
        if wgt <= 0:
            continue
        key = (svc, indicator_of(name))
        if v * wgt > best.get(key, -1e18):
            best[key] = v * wgt
    return sorted(((s, i, v) for (s, i), v in best.items()), key=lambda t: (-t[2], t[0], t[1]))


# ==========================================================================
# 6. Evaluation
# ==========================================================================
def evaluate(days, labels, cfg, scorer=None, verbose=False, collect=None):
    """Returns {system: {'svc': (AC1, AC3, AC5), 'ind': (...), 'n': n,
    'ranks': [...]}}."""
    res = {}
    for system, day_list in SYSTEMS:
        ranks, iranks = [], []
        for day in day_list:
            feat, cases = days[day]
            for case in cases:
                t0 = time.perf_counter()
                scores = scorer(feat, case) if scorer else score_case(feat, case, cfg)
                order = rank_services(scores, cfg, call_graph(feat, case, cfg))
                dt = time.perf_counter() - t0
                svcs = [s for s, _, _ in order]
                r = svcs.index(case['service']) + 1 if case['service'] in svcs else None
                ranks.append(r)
                label = labels[system].get(case['service'], {}).get(case['type'])
                ir = wr = None
                if label is not None:
                    inds = rank_indicators(scores, cfg)
                    mine = [ind for s, ind, _ in inds if s == case['service']]
                    for pos, (s, ind, _) in enumerate(inds, 1):
                        if s == case['service'] and indicator_matches(ind, label):
                            ir = pos
                            break
                    for pos, ind in enumerate(mine, 1):
                        if indicator_matches(ind, label):
                            wr = pos
                            break
                iranks.append((ir, label, wr))
                if collect is not None:
                    collect.append({'day': day, 'inject_time': case['inject_time'],
                                    'service': case['service'], 'type': case['type'],
                                    'rank': r, 'indicator_label': label, 'indicator_rank': ir,
                                    'indicator_rank_within_service': wr,
                                    'seconds': round(dt, 4),
                                    'top': [{'service': s, 'score': round(v, 3), 'series': n}
                                            for s, v, n in order[:5]]})
                if verbose:
                    top = ' | '.join('%s %.1f %s' % (s, v, n[:48]) for s, v, n in order[:3])
                    true = ''
                    if r and r > 1:
                        true = '  [true: %.1f %s]' % (order[r - 1][1], order[r - 1][2][:60])
                    print('  %s %s %-14s %-28s rank %-4s ind %-4s | %s%s' % (
                        day, case['inject_time'][11:16], case['type'], case['service'],
                        r if r else '-', ir if ir else '-', top, true))
                    if label is not None and verbose == 'ind':
                        print('       label %-40s  true-service indicators: %s' % (
                            label[:40], ', '.join(mine[:4])[:150]))
        n = len(ranks)
        ac = lambda rs, k: 100.0 * sum(1 for x in rs if x is not None and x <= k) / n
        res[system] = {'svc': tuple(ac(ranks, k) for k in (1, 3, 5)),
                       'ind': tuple(ac([x for x, _, _ in iranks], k) for k in (1, 3, 5)),
                       'ind_within': tuple(ac([x for _, _, x in iranks], k) for k in (1, 3, 5)),
                       'n': n, 'n_labelled': sum(1 for _, l, _ in iranks if l is not None),
                       'ranks': ranks}
    return res


def fmt(res, level='svc'):
    h, t = res['hipster'][level], res['ts'][level]
    return 'hipster %5.1f %5.1f %5.1f | ts %5.1f %5.1f %5.1f' % (h + t)


def variants():
    """(label, config overrides) of the ablations reported in FINDINGS.md."""
    naive = dict(exclude_groups=set(), exclude_re=None, edge_attribution=False, k=1,
                 two_sided=True, tiebreak='name', callee_pref=None)
    return [
        ('final', {}),
        ('naive start: every series, |z|, max over post, no edge attribution', naive),
        ('  naive + drop node & PodClientLatency', dict(naive, exclude_groups={'node', 'clilat'})),
        ('  ... + 2nd-largest z (persistence)', dict(naive, exclude_groups={'node', 'clilat'}, k=2)),
        ('  ... + one-sided z', dict(naive, exclude_groups={'node', 'clilat'}, k=2, two_sided=False)),
        ('  ... + edge attribution', dict(naive, exclude_groups={'node', 'clilat'}, k=2,
                                         two_sided=False, edge_attribution=True,
                                         exclude_re=EXCL_AGG_GAPS)),
        ('  ... + drop op latency p90 (name tie-break)', dict(tiebreak='name', callee_pref=None)),
        ('  ... + tie-break by 2nd/3rd best series', dict(callee_pref=None)),
        ('  ... + equal scores: callee before caller (= final)', {}),
        ('callers with log evidence explained by a callee halved',
         dict(callee_pref='explain')),
        ('k=1: max z over the post minutes', dict(k=1)),
        ('k=3: 3rd largest z', dict(k=3)),
        ('two-sided |z| for every series', dict(two_sided=True)),
        ('scale = IQR/1.349 only (+floor)', dict(scale='iqr')),
        ('scale = 1.4826*MAD only (+floor)', dict(scale='mad')),
        ('relative floor 5 %', dict(rel_floor=0.05)),
        ('relative floor 20 %', dict(rel_floor=0.2)),
        ('share floor 0.01', dict(share_floor=0.01)),
        ('share floor 0.05', dict(share_floor=0.05)),
        ('keep node-level metrics', dict(exclude_groups={'clilat'})),
        ('keep PodClientLatency metrics', dict(exclude_groups={'node'})),
        ('keep op latency p90 (propagated)', dict(exclude_re=EXCL_AGG_GAPS)),
        ('no edge attribution (raw edge + aggregate gap series)',
         dict(edge_attribution=False, exclude_re=EXCL_OP_P90)),
        ('no per-request log events (L|evshare)', dict(exclude_groups={'node', 'clilat', 'levshare'})),
        ('no log/op shares at all', dict(exclude_groups={'node', 'clilat', 'levshare', 'lshare', 'tshare'})),
        ('metric post window m0+1..m0+5', dict(metric_post=(1, 5))),
        ('metric post window m0+2..m0+5', dict(metric_post=(2, 5))),
        ('metric reference 30 min', dict(metric_ref=30)),
        ('metric reference 120 min', dict(metric_ref=120)),
        ('trace/log post window m0+1..m0+2', dict(trace_post=(1, 2))),
        ('trace/log reference causal (earlier minutes + baseline)', dict(trace_ref='past')),
        ('non-local groups weighted 0.5', dict(weights={g: 0.5 for g in (
            'mem', 'sys', 'net', 'wl', 'succ', 'srvlat', 'edge', 'tdur', 'tnet', 'tcnt', 'lcnt',
            'tin', 'tnete', 'other')})),
        ('local groups only', dict(weights={g: 0.0 for g in (
            'mem', 'sys', 'net', 'wl', 'succ', 'srvlat', 'edge', 'tdur', 'tnet', 'tcnt', 'lcnt',
            'tin', 'tnete', 'other')})),
        ('metrics only (M, E)', dict(sources='ME')),
        ('traces only (T)', dict(sources='T')),
        ('logs only (L)', dict(sources='L')),
        ('metrics + traces (no logs)', dict(sources='MET')),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default='/work/shared/datasets/nezha-dev')
    ap.add_argument('--verbose', action='store_true')
    ap.add_argument('--variants', action='store_true')
    ap.add_argument('--json')
    ap.add_argument('--no-client-reattribution', action='store_true')
    ap.add_argument('--no-location-templates', action='store_true')
    ap.add_argument('--indicator-proxy', action='store_true',
                    help='count exclusive span time as the CPU indicator')
    ap.add_argument('--verbose-indicators', action='store_true')
    args = ap.parse_args()
    INDICATOR_PROXY['on'] = args.indicator_proxy
    if args.verbose_indicators:
        args.verbose = 'ind'
    FEATURE_FLAGS['client_to_callee'] = not args.no_client_reattribution
    FEATURE_FLAGS['location_templates'] = not args.no_location_templates

    labels = {}
    for system in ('hipster', 'ts'):
        with open(os.path.join(args.data, 'construct_data', 'root_cause_%s.json' % system)) as fh:
            labels[system] = json.load(fh)

    days, t_load = {}, {}
    for system, day_list in SYSTEMS:
        for day in day_list:
            t0 = time.perf_counter()
            feat = build_day(args.data, day)
            t_load[day] = time.perf_counter() - t0
            days[day] = (feat, load_cases(args.data, day))
            print('loaded %s: phase %.1f s, %d metric rows, %d spans, %d log lines, '
                  '%d cases, %.1f s' % (day, feat.phase, feat.n_metric_rows, feat.n_spans,
                                        feat.n_logs, len(days[day][1]), t_load[day]),
                  file=sys.stderr)

    cfg = dict(FINAL)
    print('== final method (service level; indicator level; development set) ==')
    collect = []
    t0 = time.perf_counter()
    res = evaluate(days, labels, cfg, verbose=args.verbose, collect=collect)
    t_score = time.perf_counter() - t0
    print('baseline (max robust z of one metric column):')
    base = evaluate(days, labels, BASELINE_CFG,
                    scorer=score_case_baseline, verbose=args.verbose)
    n_cases = sum(len(c) for _, c in days.values())
    print()
    print('%-10s %-10s %6s %6s %6s   %s' % ('system', 'method', 'AC@1', 'AC@3', 'AC@5', 'cases'))
    for system, _ in SYSTEMS:
        for label, r in (('final', res), ('baseline', base)):
            print('%-10s %-10s %6.1f %6.1f %6.1f   %d' % ((system, label) + r[system]['svc'] +
                                                          (r[system]['n'],)))
        print('%-10s %-10s %6.1f %6.1f %6.1f   indicator level, (service, indicator) pairs '
              'ranked globally; %d of %d cases labelled' % (
                  (system, 'final/ind') + res[system]['ind'] +
                  (res[system]['n_labelled'], res[system]['n'])))
        print('%-10s %-10s %6.1f %6.1f %6.1f   indicator level' % (
            (system, 'base/ind') + base[system]['ind']))
        print('%-10s %-10s %6.1f %6.1f %6.1f   indicator rank within the true service' % (
            (system, 'final/in-s') + res[system]['ind_within']))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print()
    print('time: feature extraction %.1f s for %d days (%.2f s per case amortised), '
          'scoring %.3f s per case; peak RSS %.0f MiB' % (
              sum(t_load.values()), len(t_load), sum(t_load.values()) / n_cases,
              t_score / n_cases, rss))

    if args.json:
        with open(args.json, 'w') as fh:
            json.dump(collect, fh, indent=1)

    if args.variants:
        print()
        print('== variants (AC@1 AC@3 AC@5, service level, development set) ==')
        print('%-62s %s' % ('variant', 'hipster AC@1/3/5    | ts AC@1/3/5'))
        for label, over in variants():
            r = evaluate(days, labels, dict(FINAL, **over))
            print('%-62s %s' % (label, fmt(r)))


if __name__ == '__main__':
    main()
