// custosctl rca: the root-cause analysis of an incident, from the store file.
#include <cstdio>

#include "collector/api/http_api.h"
#include "collector/ctl/commands.h"
#include "collector/ctl/flags.h"
#include "collector/ctl/format.h"
#include "collector/rca/analyzer.h"
#include "common/clock.h"

namespace custos::ctl {
namespace {

constexpr const char* kDefaultDb = "/var/lib/custos/collector/custos.db";

struct StoredIncident {
  int64_t opened = 0;
  std::string rca;  // the analysis kept with it (JSON), "" before it ran
  int64_t rca_at = 0;
};

Result<StoredIncident> LoadIncident(store::Db& db, const std::string& id) {
  char* end = nullptr;
  long long n = std::strtoll(id.c_str(), &end, 10);
  if (id.empty() || *end != '\0' || n <= 0) return Status(StatusCode::kInvalidArgument, "not an incident id: " + id);
  auto st = db.Prepare("SELECT opened, coalesce(rca, ''), coalesce(rca_at, 0) FROM incidents WHERE id = ?1");
  if (!st.ok()) return st.status().WithContext("this store has no incidents table (a collector older than incidents)");
  (*st)->Bind(1, static_cast<int64_t>(n));
  CUSTOS_ASSIGN_OR_RETURN(bool row, (*st)->Step());
  if (!row) return Status(StatusCode::kNotFound, "no incident " + id + " (custosctl incidents lists them)");
  return StoredIncident{(*st)->Int(0), (*st)->Text(1), (*st)->Int(2)};
}

}  // namespace

int RunRca(const Args& args) {
  const char* usage =
      "custosctl rca INCIDENT [--rerun] | --at T [--db PATH] [--reference around|before] [--top N] [--json]\n"
      "  INCIDENT: an incident id (custosctl incidents): the analysis kept with it, or with --rerun a new one\n"
      "  on everything stored now; T: the onset, as 2026-11-26T14:00:00Z, Unix seconds\n"
      "  or an age such as 15m. --reference around (default) compares with the data on both sides of the\n"
      "  incident (after the fact); before uses only what was known at the onset.";
  // The incident id comes first: custosctl rca 12 [--json].
  std::string incident = !args.empty() && !args[0].empty() && args[0][0] != '-' ? args[0] : "";
  Args rest(args.begin() + (incident.empty() ? 0 : 1), args.end());
  Flags f(rest, {"--at", "--db", "--reference", "--top"}, {"--json", "--rerun"});
  if (!f.ok()) return Usage("rca", f.error(), usage);
  if (incident.empty() == !f.Has("--at")) return Usage("rca", "give exactly one of INCIDENT or --at", usage);
  std::string reference = f.Get("--reference", "around");
  if (reference != "around" && reference != "before") return Usage("rca", "--reference is around or before", usage);
  auto db = store::Db::Open(f.Get("--db", kDefaultDb), /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return Fail("rca: " + db.status().message());
  rca::AnalyzeOptions options;
  options.load.scoring.reference = reference == "before" ? rca::ReferenceMode::kBefore : rca::ReferenceMode::kAround;
  if (f.Has("--top")) {
    int top = std::atoi(f.Get("--top").c_str());
    if (top <= 0 || top > 1000) return Usage("rca", "--top is 1..1000", usage);
    options.max_candidates = static_cast<size_t>(top);
  }
  if (f.Has("--at")) {
    auto t = api::ParseTimeArg(f.Get("--at"), Clock::Real().NowUnixNanos());
    if (!t.ok()) return Fail("rca: --at: " + t.status().message());
    options.load.onset_unix_nanos = *t;
  } else {
    auto stored = LoadIncident(**db, incident);
    if (!stored.ok()) return Fail("rca: " + stored.status().message());
    options.load.onset_unix_nanos = stored->opened;
    if (!stored->rca.empty() && !f.Has("--rerun")) {
      // The analysis the collector made and delivered with the alerts.
      auto j = nlohmann::json::parse(stored->rca, nullptr, false);
      if (!j.is_object()) return Fail("rca: the analysis kept with incident " + incident + " is not JSON");
      if (f.Has("--json")) {
        j["incident"] = std::stoll(incident);
        j["analysed_at"] = FormatTime(stored->rca_at);
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        std::printf("Incident %s (analysed by the collector at %s; --rerun for a new analysis)\n", incident.c_str(),
                    FormatTime(stored->rca_at).c_str());
        std::fputs(rca::ReportText(rca::ReportFromJson(j)).c_str(), stdout);
      }
      return 0;
    }
  }
  auto report = rca::Analyze(**db, options);
  if (!report.ok()) return Fail("rca: " + report.status().message());
  if (f.Has("--json")) {
    nlohmann::json j = rca::ReportJson(*report);
    if (!incident.empty()) j["incident"] = std::stoll(incident);
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    if (!incident.empty()) std::printf("Incident %s\n", incident.c_str());
    std::fputs(rca::ReportText(*report).c_str(), stdout);
  }
  return 0;
}

int RunIncidents(const Args& args) {
  const char* usage =
      "custosctl incidents [--db PATH] [--all] [--limit N] [--json]\n"
      "  open incidents (with --all, resolved ones too), newest first, with their likely cause;\n"
      "  custosctl rca ID shows the analysis in full";
  Flags f(args, {"--db", "--limit"}, {"--all", "--json"});
  if (!f.ok()) return Usage("incidents", f.error(), usage);
  int limit = std::atoi(f.Get("--limit", "50").c_str());
  if (limit <= 0) return Usage("incidents", "--limit is a positive number", usage);
  auto db = store::Db::Open(f.Get("--db", kDefaultDb), /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return Fail("incidents: " + db.status().message());
  auto st = (*db)->Prepare(std::string("SELECT id, opened, last_signal, resolved, severity, alerts, title, "
                                       "coalesce(rca_summary, '') FROM incidents ") +
                           (f.Has("--all") ? "" : "WHERE resolved IS NULL ") + "ORDER BY id DESC LIMIT ?1");
  if (!st.ok()) return Fail("incidents: " + st.status().message() + " (a store from before incidents?)");
  (*st)->Bind(1, static_cast<int64_t>(limit));
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {
      {"ID", "OPENED", "STATE", "SEVERITY", "ALERTS", "TITLE", "LIKELY CAUSE"}};
  for (;;) {
    auto row = (*st)->Step();
    if (!row.ok()) return Fail("incidents: " + row.status().message());
    if (!*row) break;
    bool resolved = !(*st)->IsNull(3);
    std::string summary = (*st)->Text(7);
    out.push_back({{"id", (*st)->Int(0)},
                   {"opened", FormatTime((*st)->Int(1))},
                   {"last_signal", FormatTime((*st)->Int(2))},
                   {"resolved", resolved ? nlohmann::json(FormatTime((*st)->Int(3))) : nlohmann::json(nullptr)},
                   {"severity", (*st)->Text(4)},
                   {"alerts", (*st)->Int(5)},
                   {"title", (*st)->Text(6)},
                   {"rca", summary}});
    std::string cause = summary.empty() ? "(analysis pending)" : summary.substr(0, summary.find(';'));
    rows.push_back({std::to_string((*st)->Int(0)), FormatTime((*st)->Int(1)),
                    resolved ? "resolved " + FormatTime((*st)->Int(3)) : "open", (*st)->Text(4),
                    std::to_string((*st)->Int(5)), (*st)->Text(6).substr(0, 60), cause.substr(0, 80)});
  }
  if (f.Has("--json")) {
    std::printf("%s\n", out.dump(2).c_str());
  } else if (rows.size() == 1) {
    std::printf(f.Has("--all") ? "No incidents.\n" : "No open incidents (--all shows resolved ones).\n");
  } else {
    std::fputs(RenderTable(rows).c_str(), stdout);
  }
  return 0;
}

}  // namespace custos::ctl
