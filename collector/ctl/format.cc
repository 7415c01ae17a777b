#include "collector/ctl/format.h"

#include "common/time_format.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace custos::ctl {

std::string RenderTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatTime(int64_t unix_nanos) { return FormatUtc(unix_nanos, 3); }

std::string FormatAge(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  int64_t s = nanos / 1'000'000'000;
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh%lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>((s % 86400) / 3600));
  }
  return buf;
}

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

namespace {

uint64_t U(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<uint64_t>();
}

double Counter(const nlohmann::json& counters, const std::string& name) {
  auto it = counters.find(name);
  return it == counters.end() ? 0 : it->get<double>();
}

std::string Num(double v) { return std::to_string(static_cast<uint64_t>(v)); }

std::string ShortId(const std::string& id) { return id.size() > 12 ? id.substr(0, 12) : id; }

// "ACTION_READ" → "read": schema enum names as people say them.
std::string EnumWord(const std::string& name, const std::string& prefix) {
  std::string out = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string RenderStatus(const nlohmann::json& status) {
  const nlohmann::json& c = status.at("collector");
  int64_t now = c.value("now", int64_t{0});
  const nlohmann::json& counters = c.at("counters");
  std::string out = "collector " + c.value("version", std::string("?")) + ", up " +
                    FormatAge(now - c.value("started", now)) + "\n";
  out += "  stored:   ";
  std::string sep;
  for (auto& [kind, n] : c.at("records").items()) {
    out += sep + kind + " " + std::to_string(n.get<int64_t>());
    sep = ", ";
  }
  out += "\n";
  double refused = 0;
  for (auto& [name, v] : counters.items()) {
    if (name.rfind("custos_collector_frames_refused_total", 0) == 0) refused += v.get<double>();
  }
  out += "  ingest:   " + Num(Counter(counters, "custos_collector_frames_received_total")) + " frames, " +
         Num(Counter(counters, "custos_collector_batches_stored_total")) + " batches stored, " +
         Num(Counter(counters, "custos_collector_batches_duplicate_total")) + " duplicates, " + Num(refused) +
         " refused frames, " + Num(Counter(counters, "custos_collector_handshakes_refused_total")) +
         " refused handshakes\n";
  out += "  loss:     " + Num(Counter(counters, "custos_collector_gaps_reported_total")) + " gaps reported by agents (" +
         Num(Counter(counters, "custos_collector_agent_lost_records_total")) + " records lost)\n\n";

  const nlohmann::json& agents = status.at("agents");
  if (agents.empty()) {
    out += "no agent has delivered yet (enrol one with: custosctl enroll --node NODE --key AGENT.pub)\n";
    return out;
  }
  std::vector<std::vector<std::string>> rows = {
      {"AGENT", "HOST", "STATE", "LAST SEEN", "LAG", "SPOOL", "RECORDS", "DROPPED", "RESENT", "REFUSED", "GAPS"}};
  for (const nlohmann::json& a : agents) {
    std::string lag = a.contains("lag_seconds") ? FormatAge(static_cast<int64_t>(a["lag_seconds"].get<double>() * 1e9))
                                                : "-";
    rows.push_back({ShortId(a.value("agent_id", std::string())), a.value("hostname", std::string()),
                    a.value("connected", false) ? "connected" : "silent",
                    FormatAge(now - a.value("last_seen", now)) + " ago", lag,
                    std::to_string(U(a, "spool_batches")) + " batches / " + FormatBytes(U(a, "spool_bytes")),
                    std::to_string(U(a, "records")), std::to_string(U(a, "agent_records_dropped")),
                    std::to_string(U(a, "agent_batches_resent")), std::to_string(U(a, "agent_batches_refused")),
                    std::to_string(U(a, "lost_records"))});
  }
  return out + RenderTable(rows);
}

std::string RenderRecords(const nlohmann::json& result) {
  const nlohmann::json& records = result.at("records");
  std::string kind = result.value("kind", std::string());
  if (records.empty()) return "no " + kind + " records match\n";
  std::vector<std::vector<std::string>> rows;
  auto attrs = [](const nlohmann::json& r, const char* key) {
    if (!r.contains(key) || !r[key].is_object()) return std::string();
    std::string s;
    for (auto& [k, v] : r[key].items()) s += (s.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    return s;
  };
  auto str = [](const nlohmann::json& r, const char* key) {
    auto it = r.find(key);
    if (it == r.end() || it->is_null()) return std::string();
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  if (kind == "metrics") {
    rows.push_back({"TIME", "HOST", "UNIT", "NAME", "VALUE", "ATTRIBUTES"});
    for (const auto& r : records) {
      char v[64];
      double value = r.value("value", 0.0);
      // Whole numbers (bytes, counts) print in full; fractions with 6 significant digits.
      if (value == static_cast<double>(static_cast<int64_t>(value)) && value < 1e15 && value > -1e15) {
        std::snprintf(v, sizeof v, "%lld", static_cast<long long>(value));
      } else {
        std::snprintf(v, sizeof v, "%.6g", value);
      }
      rows.push_back({FormatTime(r.value("ts", int64_t{0})), str(r, "hostname"), str(r, "unit"), str(r, "name"), v,
                      attrs(r, "attributes")});
    }
  } else if (kind == "logs") {
    rows.push_back({"TIME", "HOST", "SOURCE", "SEV", "MESSAGE"});
    for (const auto& r : records) {
      rows.push_back({FormatTime(r.value("ts", int64_t{0})), str(r, "hostname"), str(r, "source"), str(r, "severity"),
                      str(r, "message")});
    }
  } else if (kind == "gaps") {
    rows.push_back({"TIME", "AGENT", "REASON", "LOST RECORDS", "LOST BATCHES", "SOURCE", "DETAIL"});
    for (const auto& r : records) {
      rows.push_back({FormatTime(r.value("ts", int64_t{0})), ShortId(str(r, "agent_id")), str(r, "reason"),
                      str(r, "lost_records"), str(r, "lost_batches"), str(r, "source"), str(r, "detail")});
    }
  } else if (kind == "access") {
    rows.push_back({"TIME", "HOST", "PRINCIPAL", "ACTION", "OBJECT", "DATASET", "OUTCOME", "VERDICT", "COUNT", "SOURCE",
                    "PROCESS"});
    for (const auto& r : records) {
      // The most specific identity the record has: the service's name for it,
      // else the user, else the uid.
      std::string who = str(r, "service_identity");
      if (who.empty()) who = str(r, "user");
      if (who.empty() && r.value("uid", int64_t{-1}) >= 0) who = "uid:" + str(r, "uid");
      std::string process = str(r, "executable");
      if (r.value("pid", int64_t{0}) > 0) process += "[" + str(r, "pid") + "]";
      if (!str(r, "principal_unit").empty()) process += " " + str(r, "principal_unit");
      std::string action = str(r, "action"), outcome = str(r, "outcome");
      rows.push_back({FormatTime(r.value("ts", int64_t{0})), str(r, "hostname"), who,
                      EnumWord(action, "ACTION_"), str(r, "object"),
                      str(r, "dataset_id") + (str(r, "classification").empty() ? "" : " (" + str(r, "classification") + ")"),
                      EnumWord(outcome, "OUTCOME_"),
                      str(r, "verdict") + (str(r, "violations").empty() ? "" : " (" + str(r, "violations") + ")"),
                      str(r, "count"), str(r, "source"), process});
    }
  } else if (kind == "spans") {
    rows.push_back({"TIME", "HOST", "NAME", "KIND", "DURATION", "STATUS", "TRACE", "SPAN", "PARENT"});
    for (const auto& r : records) {
      int64_t start = r.value("ts", int64_t{0}), end = r.value("end_ts", int64_t{0});
      char duration[32];
      std::snprintf(duration, sizeof duration, "%.3f ms", static_cast<double>(end - start) / 1e6);
      std::string status = EnumWord(str(r, "status_code"), "STATUS_");
      if (!str(r, "status_message").empty()) status += ": " + str(r, "status_message");
      rows.push_back({FormatTime(start), str(r, "hostname"), str(r, "name"),
                      EnumWord(str(r, "span_kind"), "KIND_"), duration, status, str(r, "trace_id"),
                      str(r, "span_id"), str(r, "parent_span_id")});
    }
  } else if (kind == "gpu_samples") {
    rows.push_back({"TIME", "HOST", "GPU", "NAME", "SM %", "MEM %", "MEMORY USED", "POWER W", "TEMP C", "PROCESS"});
    for (const auto& r : records) {
      char sm[16], mem[16], power[16];
      std::snprintf(sm, sizeof sm, "%.0f", r.value("sm_utilization_pct", 0.0));
      std::snprintf(mem, sizeof mem, "%.0f", r.value("memory_utilization_pct", 0.0));
      std::snprintf(power, sizeof power, "%.1f", r.value("power_watts", 0.0));
      std::string process = r.value("pid", int64_t{0}) > 0 ? str(r, "executable") + "[" + str(r, "pid") + "]" : "";
      if (!process.empty() && !str(r, "unit").empty()) process += " " + str(r, "unit");
      rows.push_back({FormatTime(r.value("ts", int64_t{0})), str(r, "hostname"), str(r, "gpu_index"),
                      str(r, "gpu_name"), sm, mem,
                      FormatBytes(static_cast<uint64_t>(r.value("memory_used_bytes", int64_t{0}))), power,
                      str(r, "temperature_celsius"), process});
    }
  } else if (kind == "gpu_events") {
    rows.push_back({"TIME", "HOST", "GPU", "UUID", "KIND", "CODE", "DESCRIPTION"});
    for (const auto& r : records) {
      rows.push_back({FormatTime(r.value("ts", int64_t{0})), str(r, "hostname"), str(r, "gpu_index"),
                      str(r, "gpu_uuid"), str(r, "event_kind"),
                      str(r, "code"), str(r, "description")});
    }
  } else if (kind == "alerts") {
    rows.push_back({"TIME", "SEVERITY", "RULE", "NODE", "COUNT", "MESSAGE"});
    for (const auto& r : records) {
      rows.push_back({FormatTime(r.value("ts", int64_t{0})), str(r, "severity"), str(r, "rule"), ShortId(str(r, "alert_node")),
                      str(r, "count"), str(r, "message")});
    }
  } else {
    // Generic: every column, in the API's order.
    std::vector<std::string> header;
    for (auto& [k, v] : records.front().items()) header.push_back(k);
    rows.push_back(header);
    for (const auto& r : records) {
      std::vector<std::string> row;
      for (const std::string& k : header) row.push_back(str(r, k.c_str()));
      rows.push_back(row);
    }
  }
  return RenderTable(rows) + "(" + std::to_string(records.size()) + " " + kind + " records, newest first)\n";
}

}  // namespace custos::ctl
