#include "tests/e2e/nezha_data.h"

#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

namespace custos::nezha {
namespace {

constexpr int kChunk = 2000;

// A gzip CSV file read row by row (RFC 4180 quoting, "" inside quotes).
class CsvReader {
 public:
  static Result<std::unique_ptr<CsvReader>> Open(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr) return Status(StatusCode::kNotFound, "cannot open " + path);
    gzbuffer(f, 1 << 18);
    auto r = std::unique_ptr<CsvReader>(new CsvReader(f));
    if (!r->Next(&r->header_)) return Status(StatusCode::kInvalidArgument, path + ": no header line");
    return r;
  }
  ~CsvReader() { gzclose(f_); }
  int Column(const std::string& name) const {
    auto it = std::find(header_.begin(), header_.end(), name);
    return it == header_.end() ? -1 : static_cast<int>(it - header_.begin());
  }
  const std::vector<std::string>& header() const { return header_; }

  bool Next(std::vector<std::string>* row) {
    row->clear();
    std::string field;
    bool quoted = false, any = false;
    for (;;) {
      int c = gzgetc(f_);
      if (c == -1) {
        if (any) row->push_back(std::move(field));
        return any;
      }
      any = true;
      if (quoted) {
        if (c == '"') {
          int n = gzgetc(f_);
          if (n == '"') {
            field.push_back('"');
          } else {
            quoted = false;
            if (n == -1) continue;
            gzungetc(n, f_);
          }
        } else {
          field.push_back(static_cast<char>(c));
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        row->push_back(std::move(field));
        field.clear();
      } else if (c == '\n') {
        row->push_back(std::move(field));
        return true;
      } else if (c != '\r') {
        field.push_back(static_cast<char>(c));
      }
    }
  }

 private:
  explicit CsvReader(gzFile f) : f_(f) {}
  gzFile f_;
  std::vector<std::string> header_;
};

std::vector<std::string> ListFiles(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// "08_42_trace.csv.gz" → 522.
int FileMinute(const std::string& name) { return std::stoi(name.substr(0, 2)) * 60 + std::stoi(name.substr(3, 2)); }

bool ParseInt(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// Hex ids become bytes, as OTLP carries them; anything else stays as is.
std::string IdBytes(const std::string& hex) {
  if (hex.empty() || hex.size() % 2 != 0) return hex;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nib = [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10);
    };
    if (!std::isxdigit(static_cast<unsigned char>(hex[i])) || !std::isxdigit(static_cast<unsigned char>(hex[i + 1])))
      return hex;
    out.push_back(static_cast<char>(nib(hex[i]) * 16 + nib(hex[i + 1])));
  }
  return out;
}

v1::Resource PodResource(const std::string& pod, const std::string& node) {
  v1::Resource r;
  r.set_node_id(node.empty() ? "nezha" : node);
  r.set_service_name(ServiceOfPod(pod));
  (*r.mutable_labels())["k8s.pod.name"] = pod;
  return r;
}

class Chunker {
 public:
  explicit Chunker(RecordSink& sink) : sink_(sink) {}
  v1::Record* Next() {
    chunk_.emplace_back();
    return &chunk_.back();
  }
  Status MaybeFlush() { return chunk_.size() >= kChunk ? Flush() : Status::Ok(); }
  Status Flush() {
    if (chunk_.empty()) return Status::Ok();
    std::vector<v1::Record> out;
    out.swap(chunk_);
    return sink_.add(std::move(out));
  }
  uint32_t Ref(const std::string& pod, const std::string& node = "") {
    auto key = pod + "\n" + node;
    auto it = refs_.find(key);
    if (it != refs_.end()) return it->second;
    return refs_[key] = sink_.resource_ref(PodResource(pod, node));
  }
  // A service's resource with no pod (the edge files name services only).
  uint32_t ServiceRef(const std::string& service) {
    auto key = "service\n" + service;
    auto it = refs_.find(key);
    if (it != refs_.end()) return it->second;
    v1::Resource r;
    r.set_node_id("nezha");
    r.set_service_name(service);
    return refs_[key] = sink_.resource_ref(r);
  }

 private:
  RecordSink& sink_;
  std::vector<v1::Record> chunk_;
  std::map<std::string, uint32_t> refs_;
};

Status SendTraceFile(const std::string& path, Chunker& out, ReplayCounts& n, std::vector<int64_t>* starts) {
  CUSTOS_ASSIGN_OR_RETURN(auto csv, CsvReader::Open(path));
  int tid = csv->Column("TraceID"), sid = csv->Column("SpanID"), par = csv->Column("ParentID"),
      pod = csv->Column("PodName"), op = csv->Column("OperationName"), st = csv->Column("StartTimeUnixNano"),
      en = csv->Column("EndTimeUnixNano");
  if (std::min({tid, sid, par, pod, op, st, en}) < 0)
    return Status(StatusCode::kInvalidArgument, path + ": missing a trace column");
  std::vector<std::string> row;
  while (csv->Next(&row)) {
    int64_t start, end;
    if (row.size() < csv->header().size() || !ParseInt(row[st], &start) || !ParseInt(row[en], &end)) {
      ++n.bad_rows;
      continue;
    }
    v1::Span* s = out.Next()->mutable_span();
    s->set_resource_ref(out.Ref(row[pod]));
    s->set_trace_id(IdBytes(row[tid]));
    s->set_span_id(IdBytes(row[sid]));
    if (row[par] != "root") s->set_parent_span_id(IdBytes(row[par]));
    s->set_name(row[op]);
    s->set_start_time_unix_nano(static_cast<uint64_t>(start));
    s->set_end_time_unix_nano(static_cast<uint64_t>(end));
    if (starts != nullptr) starts->push_back(start);
    ++n.spans;
    CUSTOS_RETURN_IF_ERROR(out.MaybeFlush());
  }
  return Status::Ok();
}

Status SendLogFile(const std::string& path, Chunker& out, ReplayCounts& n) {
  CUSTOS_ASSIGN_OR_RETURN(auto csv, CsvReader::Open(path));
  int t = csv->Column("TimeUnixNano"), node = csv->Column("Node"), pod = csv->Column("PodName"),
      tid = csv->Column("TraceID"), sid = csv->Column("SpanID"), log = csv->Column("Log");
  if (std::min({t, node, pod, tid, sid, log}) < 0)
    return Status(StatusCode::kInvalidArgument, path + ": missing a log column");
  std::vector<std::string> row;
  while (csv->Next(&row)) {
    int64_t ts;
    if (row.size() < csv->header().size() || !ParseInt(row[t], &ts)) {
      ++n.bad_rows;
      continue;
    }
    std::string line = row[log];
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("log") && j["log"].is_string()) line = j["log"].get<std::string>();
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    v1::LogRecord* l = out.Next()->mutable_log();
    l->set_resource_ref(out.Ref(row[pod], row[node]));
    l->set_time_unix_nano(static_cast<uint64_t>(ts));
    l->set_message(line);
    l->set_source("container");
    l->set_trace_id(IdBytes(row[tid]));
    l->set_span_id(IdBytes(row[sid]));
    ++n.logs;
    CUSTOS_RETURN_IF_ERROR(out.MaybeFlush());
  }
  return Status::Ok();
}

void AddGauge(Chunker& out, uint32_t ref, const std::string& name, int64_t ts, double v, const std::string& peer = "") {
  v1::MetricPoint* m = out.Next()->mutable_metric();
  m->set_resource_ref(ref);
  m->set_name(name);
  m->set_type(v1::MetricPoint::TYPE_GAUGE);
  m->set_time_unix_nano(static_cast<uint64_t>(ts) * 1'000'000'000ULL);
  m->set_start_time_unix_nano(static_cast<uint64_t>(ts - 60) * 1'000'000'000ULL);
  m->set_value(v);
  if (!peer.empty()) (*m->mutable_attributes())["peer.service"] = peer;
}

bool InRange(const Selection& sel, int64_t ts) {
  if (sel.metric_ranges.empty()) return true;
  for (const auto& [from, to] : sel.metric_ranges)
    if (ts >= from && ts < to) return true;
  return false;
}

Status SendMetricFile(const std::string& path, const Selection& sel, Chunker& out, ReplayCounts& n) {
  CUSTOS_ASSIGN_OR_RETURN(auto csv, CsvReader::Open(path));
  int ts_col = csv->Column("TimeStamp"), pod = csv->Column("PodName"), time_col = csv->Column("Time");
  if (ts_col < 0 || pod < 0) return Status(StatusCode::kInvalidArgument, path + ": missing TimeStamp or PodName");
  std::vector<int> cols;
  for (size_t i = 0; i < csv->header().size(); ++i) {
    const std::string& h = csv->header()[i];
    if (h != "Time" && h != "TimeStamp" && h != "PodName" && h.rfind("Node", 0) != 0)
      cols.push_back(static_cast<int>(i));
  }
  std::vector<std::string> row;
  while (csv->Next(&row)) {
    double tsd;
    if (row.size() < csv->header().size() || !ParseDouble(row[ts_col], &tsd)) {
      ++n.bad_rows;
      continue;
    }
    auto ts = static_cast<int64_t>(tsd);
    std::tm tm{};
    if (time_col >= 0 && strptime(row[time_col].c_str(), "%Y-%m-%d %H:%M:%S", &tm) != nullptr) {
      int64_t from_time = timegm(&tm);
      if (std::llabs(from_time - ts) > 3600) {
        ts = from_time;
        ++n.retimed_rows;
      }
    }
    if (!InRange(sel, ts)) continue;
    uint32_t ref = out.Ref(row[pod]);
    for (int c : cols) {
      double v;
      if (!ParseDouble(row[c], &v)) continue;
      AddGauge(out, ref, csv->header()[c], ts, v);
      ++n.metric_points;
    }
    CUSTOS_RETURN_IF_ERROR(out.MaybeFlush());
  }
  return Status::Ok();
}

// source_50 / destination_50: columns "caller_callee".
Status SendEdgeFile(const std::string& path, const std::string& metric, const Selection& sel, Chunker& out,
                    ReplayCounts& n) {
  CUSTOS_ASSIGN_OR_RETURN(auto csv, CsvReader::Open(path));
  std::vector<std::string> row;
  while (csv->Next(&row)) {
    double tsd;
    if (row.size() < 2 || !ParseDouble(row[1], &tsd)) {
      ++n.bad_rows;
      continue;
    }
    auto ts = static_cast<int64_t>(tsd);
    if (!InRange(sel, ts)) continue;
    for (size_t i = 2; i < row.size() && i < csv->header().size(); ++i) {
      const std::string& edge = csv->header()[i];
      size_t us = edge.find('_');
      double v;
      if (us == std::string::npos || !ParseDouble(row[i], &v)) continue;
      AddGauge(out, out.ServiceRef(edge.substr(us + 1)), metric, ts, v, edge.substr(0, us));
      ++n.metric_points;
    }
    CUSTOS_RETURN_IF_ERROR(out.MaybeFlush());
  }
  return Status::Ok();
}

// The phase (0.1 s grid) that puts the most spans into their own file.
double EstimatePhase(const std::vector<std::pair<int64_t, int>>& start_and_file_end) {
  std::map<int64_t, int64_t> hist;  // tenths of a second after the file's end minute
  for (const auto& [start, end_sec] : start_and_file_end)
    ++hist[static_cast<int64_t>(std::llround((static_cast<double>(start) / 1e9 - end_sec) * 10))];
  int best = 0;
  int64_t best_n = -1;
  for (int ph = 0; ph < 600; ++ph) {
    int64_t count = 0;
    for (auto it = hist.lower_bound(ph - 600); it != hist.end() && it->first < ph; ++it) count += it->second;
    if (count > best_n) best = ph, best_n = count;
  }
  return best / 10.0;
}

}  // namespace

std::string ServiceOfPod(const std::string& pod) {
  size_t b = pod.rfind('-');
  if (b == std::string::npos || b == 0) return pod;
  size_t a = pod.rfind('-', b - 1);
  return a == std::string::npos ? pod : pod.substr(0, a);
}

Result<std::vector<Day>> ListDays(const std::string& root) {
  std::vector<Day> days;
  std::map<std::string, nlohmann::json> labels;
  for (const char* system : {"hipster", "ts"}) {
    std::ifstream f(root + "/construct_data/root_cause_" + system + ".json");
    labels[system] = nlohmann::json::parse(f, nullptr, false);
  }
  DIR* d = opendir((root + "/rca_data").c_str());
  if (d == nullptr) return Status(StatusCode::kNotFound, "no rca_data under " + root);
  std::vector<std::string> names;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    Day day;
    day.name = name;
    day.system = name < "2023" ? "hipster" : "ts";
    std::tm tm{};
    if (strptime(name.c_str(), "%Y-%m-%d", &tm) == nullptr) continue;
    day.midnight_unix = timegm(&tm);
    std::ifstream f(root + "/rca_data/" + name + "/" + name + "-fault_list.json");
    auto list = nlohmann::json::parse(f, nullptr, false);
    if (!list.is_object()) return Status(StatusCode::kInvalidArgument, "bad fault list for " + name);
    for (auto& [hour, cases] : list.items()) {
      for (auto& c : cases) {
        Case k;
        k.system = day.system;
        k.day = name;
        k.inject_time = c.value("inject_time", "");
        k.pod = c.value("inject_pod", "");
        k.type = c.value("inject_type", "");
        k.service = ServiceOfPod(k.pod);
        if (k.inject_time.size() < 16) return Status(StatusCode::kInvalidArgument, "bad inject_time in " + name);
        k.minute = std::stoi(k.inject_time.substr(11, 2)) * 60 + std::stoi(k.inject_time.substr(14, 2));
        const auto& l = labels[day.system];
        if (l.is_object() && l.contains(k.service) && l[k.service].contains(k.type))
          k.indicator_label = l[k.service][k.type].get<std::string>();
        day.cases.push_back(std::move(k));
      }
    }
    std::sort(day.cases.begin(), day.cases.end(), [](const Case& a, const Case& b) { return a.minute < b.minute; });
    days.push_back(std::move(day));
  }
  return days;
}

Result<ReplayCounts> ReplayDay(const std::string& root, Day& day, const Selection& sel, RecordSink& sink) {
  ReplayCounts n;
  Chunker out(sink);
  std::vector<std::pair<int64_t, int>> starts;  // (span start, its file's end minute in unix seconds)
  std::string rca = root + "/rca_data/" + day.name, base = root + "/construct_data/" + day.name;
  for (const std::string& f : ListFiles(rca + "/trace", "_trace.csv.gz")) {
    int minute = FileMinute(f);
    if (!sel.trace_minutes.empty() && !sel.trace_minutes.count(minute)) continue;
    std::vector<int64_t> s;
    CUSTOS_RETURN_IF_ERROR(SendTraceFile(rca + "/trace/" + f, out, n, &s));
    int end = static_cast<int>(day.midnight_unix + minute * 60);
    for (int64_t t : s) starts.push_back({t, end});
  }
  for (const std::string& f : ListFiles(rca + "/log", "_log.csv.gz")) {
    if (!sel.trace_minutes.empty() && !sel.trace_minutes.count(FileMinute(f))) continue;
    CUSTOS_RETURN_IF_ERROR(SendLogFile(rca + "/log/" + f, out, n));
  }
  if (sel.baseline) {
    for (const std::string& f : ListFiles(base + "/trace", "_trace.csv.gz"))
      CUSTOS_RETURN_IF_ERROR(SendTraceFile(base + "/trace/" + f, out, n, nullptr));
    for (const std::string& f : ListFiles(base + "/log", "_log.csv.gz"))
      CUSTOS_RETURN_IF_ERROR(SendLogFile(base + "/log/" + f, out, n));
  }
  for (const std::string& f : ListFiles(rca + "/metric", "_metric.csv.gz"))
    CUSTOS_RETURN_IF_ERROR(SendMetricFile(rca + "/metric/" + f, sel, out, n));
  for (auto [file, metric] : {std::pair{"source_50.csv.gz", "EdgeLatencyP50Src(s)"},
                              std::pair{"destination_50.csv.gz", "EdgeLatencyP50Dst(s)"}}) {
    std::string path = rca + "/metric/" + file;
    if (access(path.c_str(), R_OK) == 0) CUSTOS_RETURN_IF_ERROR(SendEdgeFile(path, metric, sel, out, n));
  }
  CUSTOS_RETURN_IF_ERROR(out.Flush());
  day.phase_seconds = EstimatePhase(starts);
  for (Case& c : day.cases) {
    double onset = static_cast<double>(day.midnight_unix) + (c.minute - 1) * 60 + day.phase_seconds;
    c.onset_unix_nanos = static_cast<int64_t>(std::llround(onset * 1e9));
  }
  return n;
}

std::string IndicatorOf(const std::string& s) {
  auto starts = [&](const char* p) { return s.rfind(p, 0) == 0; };
  if (starts("M|Cpu")) return "CpuUsageRate(%)";
  if (starts("X|") || starts("T|net") || starts("E|")) return "NetworkP90(ms)";
  if (starts("L|")) {
    std::vector<std::string> parts;
    std::stringstream ss(s);
    for (std::string p; std::getline(ss, p, '|');) parts.push_back(p);
    if (parts.size() >= 3 && (parts[1] == "tpl" || parts[1] == "share")) return "log:" + parts[2];
    if (parts.size() >= 4 && (parts[1] == "ev" || parts[1] == "evshare")) return "log:" + parts[3];
    return "log:" + (parts.size() > 1 ? parts[1] : s);
  }
  return s;
}

bool IndicatorMatches(const std::string& ind, const std::string& label) {
  if (label == "CpuUsageRate(%)" || label == "NetworkP90(ms)") return ind == label;
  if (ind.rfind("log:", 0) != 0) return false;
  std::string tpl = ind.substr(4);
  size_t sp = tpl.find(' ');
  std::string body = sp == std::string::npos ? "" : tpl.substr(sp + 1);
  // "#31" must not match "#314": an event ends where the template's token does.
  auto names = [](const std::string& text, const std::string& ev) {
    for (size_t at = text.find(ev); at != std::string::npos; at = text.find(ev, at + 1)) {
      size_t end = at + ev.size();
      if (end == text.size() || !std::isalnum(static_cast<unsigned char>(text[end]))) return true;
    }
    return false;
  };
  std::stringstream ss(label);
  for (std::string ev; std::getline(ss, ev, '_');) {
    if (ev.empty()) continue;
    // A location label names the statement; a text label ("Charge successfully") is matched both ways.
    if (names(tpl, ev) || (!body.empty() && body.size() >= 8 && ev.find(body) != std::string::npos)) return true;
  }
  return false;
}

}  // namespace custos::nezha
