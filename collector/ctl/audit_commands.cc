// custosctl audit export | verify: the compliance officer's side of the audit log.
#include <unistd.h>

#include <cstdio>

#include "collector/api/http_api.h"
#include "collector/audit/audit_log.h"
#include "collector/audit/verify.h"
#include "collector/ctl/commands.h"
#include "collector/ctl/flags.h"
#include "collector/store/sqlite_db.h"
#include "common/clock.h"

namespace custos::ctl {
namespace {

constexpr const char* kDefaultDb = "/var/lib/custos/collector/custos.db";

int PrintReport(const audit::VerifyReport& r, const std::string& what) {
  if (!r.ok()) {
    std::fprintf(stderr, "FAILED: %s: %s\n", what.c_str(), r.first_error.c_str());
    return 1;
  }
  std::printf("OK: %s: %llu records, %llu checkpoints, %llu payloads checked, %llu erased, %llu inclusion proofs\n",
              what.c_str(), static_cast<unsigned long long>(r.records),
              static_cast<unsigned long long>(r.checkpoints), static_cast<unsigned long long>(r.payloads_checked),
              static_cast<unsigned long long>(r.payloads_erased), static_cast<unsigned long long>(r.selected_proofs));
  return 0;
}

int AuditExport(const Args& args) {
  const char* usage = "custosctl audit export --out DIR [--db PATH] [--since T] [--until T] [--kind K]";
  Flags f(args, {"--out", "--db", "--since", "--until", "--kind"}, {});
  if (!f.ok()) return Usage("audit export", f.error(), usage);
  if (!f.Has("--out")) return Usage("audit export", "--out is required", usage);
  audit::ExportFilter filter;
  int64_t now = Clock::Real().NowUnixNanos();
  if (f.Has("--since")) {
    auto t = api::ParseTimeArg(f.Get("--since"), now);
    if (!t.ok()) return Fail("audit export: --since: " + t.status().message());
    filter.since_unix_nanos = *t;
  }
  if (f.Has("--until")) {
    auto t = api::ParseTimeArg(f.Get("--until"), now);
    if (!t.ok()) return Fail("audit export: --until: " + t.status().message());
    filter.until_unix_nanos = *t;
  }
  filter.kind = f.Get("--kind");
  std::string path = f.Get("--db", kDefaultDb);
  auto db = store::Db::Open(path, /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return Fail("audit export: " + db.status().ToString());
  bool tty = isatty(STDERR_FILENO) != 0;
  Status s = audit::ExportAudit(**db, f.Get("--out"), filter, [tty](uint64_t done, uint64_t total) {
    if (!tty || total == 0) return;
    int pct = static_cast<int>(100 * done / total);
    std::fprintf(stderr, "\r[%-40s] %3d%% %llu/%llu records", std::string(static_cast<size_t>(pct * 40 / 100), '#').c_str(),
                 pct, static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
    if (done == total) std::fprintf(stderr, "\n");
  });
  if (!s.ok()) return Fail("audit export: " + s.ToString());
  std::printf("exported to %s (verify with: custosctl audit verify %s --key LOG.vkey)\n", f.Get("--out").c_str(),
              f.Get("--out").c_str());
  return 0;
}

int AuditVerify(const Args& args) {
  const char* usage =
      "custosctl audit verify DIR --key LOG.vkey [--witness W.vkey ...] [--quorum K]\n"
      "       custosctl audit verify --db PATH --key LOG.vkey";
  Args rest;
  std::string dir;
  for (const std::string& a : args) {
    if (dir.empty() && !a.empty() && a[0] != '-' && (rest.empty() || rest.back().rfind("--", 0) != 0)) {
      dir = a;
    } else {
      rest.push_back(a);
    }
  }
  Flags f(rest, {"--key", "--witness", "--quorum", "--db"}, {});
  if (!f.ok()) return Usage("audit verify", f.error(), usage);
  if (!f.Has("--key") || (dir.empty() == !f.Has("--db"))) {
    return Usage("audit verify", "--key and exactly one of DIR or --db are required", usage);
  }
  audit::VerifyOptions options;
  for (const std::string& k : f.GetAll("--key")) {
    auto key = audit::ReadVerifierKeyFile(k);
    if (!key.ok()) return Fail("audit verify: " + key.status().ToString());
    options.log_keys.push_back(*key);
  }
  for (const std::string& w : f.GetAll("--witness")) {
    auto key = audit::ReadVerifierKeyFile(w);
    if (!key.ok()) return Fail("audit verify: " + key.status().ToString());
    options.witness_keys.push_back(*key);
  }
  if (f.Has("--quorum")) options.witness_quorum = std::atoi(f.Get("--quorum").c_str());
  if (!dir.empty()) {
    auto report = audit::VerifyExport(dir, options);
    if (!report.ok()) return Fail("audit verify: " + report.status().ToString());
    return PrintReport(*report, dir);
  }
  auto db = store::Db::Open(f.Get("--db"), /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return Fail("audit verify: " + db.status().ToString());
  auto data = audit::LoadAuditData(**db);
  if (!data.ok()) return Fail("audit verify: " + data.status().ToString());
  return PrintReport(audit::VerifyAuditData(*data, options), f.Get("--db"));
}

}  // namespace

int RunAudit(const Args& args) {
  if (args.empty()) {
    std::fputs("usage: custosctl audit export|verify ...\n", stderr);
    return 2;
  }
  Args rest(args.begin() + 1, args.end());
  if (args[0] == "export") return AuditExport(rest);
  if (args[0] == "verify") return AuditVerify(rest);
  std::fprintf(stderr, "custosctl audit: unknown subcommand '%s' (export, verify)\n", args[0].c_str());
  return 2;
}

}  // namespace custos::ctl
