// custosctl audit export | verify: the compliance officer's side of the audit log.
#include <unistd.h>

#include <cstdio>

#include "collector/api/http_api.h"
#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "collector/audit/audit_log.h"
#include "collector/audit/receipt.h"
#include "collector/audit/witness.h"
#include "common/files.h"
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
  std::printf("OK: %s: %llu records, %llu checkpoints, %llu payloads checked, %llu erased, %llu inclusion proofs, "
              "%llu recorded stops\n",
              what.c_str(), static_cast<unsigned long long>(r.records),
              static_cast<unsigned long long>(r.checkpoints), static_cast<unsigned long long>(r.payloads_checked),
              static_cast<unsigned long long>(r.payloads_erased), static_cast<unsigned long long>(r.selected_proofs),
              static_cast<unsigned long long>(r.recorded_stops));
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

int AuditProve(const Args& args) {
  const char* usage = "custosctl audit prove --index I [--db PATH] [--out FILE]";
  Flags f(args, {"--index", "--db", "--out"}, {});
  if (!f.ok()) return Usage("audit prove", f.error(), usage);
  const std::string index = f.Get("--index");
  if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos || index.size() > 19) {
    return Usage("audit prove", "--index must be a record index", usage);
  }
  auto db = store::Db::Open(f.Get("--db", kDefaultDb), /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return Fail("audit prove: " + db.status().ToString());
  auto receipt = audit::MakeReceipt(**db, std::stoull(index));
  if (!receipt.ok()) return Fail("audit prove: " + receipt.status().ToString());
  std::string text = receipt->dump(2) + "\n";
  if (f.Has("--out")) {
    Status s = WriteFileAtomic(f.Get("--out"), text, 0640);
    if (!s.ok()) return Fail("audit prove: " + s.ToString());
    std::printf("wrote %s (check with: custosctl audit verify-receipt %s --key LOG.vkey)\n", f.Get("--out").c_str(),
                f.Get("--out").c_str());
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return 0;
}

int AuditVerifyReceipt(const Args& args) {
  const char* usage = "custosctl audit verify-receipt FILE --key LOG.vkey";
  if (args.empty() || args[0].rfind("--", 0) == 0) return Usage("audit verify-receipt", "FILE is required", usage);
  Flags f(Args(args.begin() + 1, args.end()), {"--key"}, {});
  if (!f.ok()) return Usage("audit verify-receipt", f.error(), usage);
  if (!f.Has("--key")) return Usage("audit verify-receipt", "--key is required", usage);
  std::vector<audit::VerifierKey> keys;
  for (const std::string& k : f.GetAll("--key")) {
    auto key = audit::ReadVerifierKeyFile(k);
    if (!key.ok()) return Fail("audit verify-receipt: " + key.status().ToString());
    keys.push_back(*key);
  }
  auto text = ReadFile(args[0]);
  if (!text.ok()) return Fail("audit verify-receipt: " + text.status().ToString());
  auto receipt = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  Status s = receipt.is_discarded() ? InvalidArgument(args[0] + " is not JSON") : audit::VerifyReceipt(receipt, keys);
  if (!s.ok()) {
    std::fprintf(stderr, "FAILED: %s: %s\n", args[0].c_str(), s.ToString().c_str());
    return 1;
  }
  std::printf("OK: record %llu is in the log, under a checkpoint signed by the log's key\n",
              static_cast<unsigned long long>(receipt["index"].get<uint64_t>()));
  return 0;
}

int AuditErase(const Args& args) {
  const char* usage = "custosctl audit erase --subject SUBJECT [--actor NAME] [--api URL]\n"
                      "  SUBJECT as recorded: user:NAME, uid:N or service:ID";
  Flags f(args, {"--subject", "--actor", "--api"}, {});
  if (!f.ok()) return Usage("audit erase", f.error(), usage);
  if (!f.Has("--subject")) return Usage("audit erase", "--subject is required", usage);
  const char* env = std::getenv("CUSTOS_API");
  std::string base = f.Has("--api") ? f.Get("--api") : (env != nullptr ? env : "http://127.0.0.1:7080");
  std::string actor = f.Get("--actor", std::getenv("USER") != nullptr ? std::string("operator:") + std::getenv("USER")
                                                                      : "operator");
  httplib::Client cli(base);
  cli.set_read_timeout(60, 0);
  httplib::Params params{{"subject", f.Get("--subject")}, {"actor", actor}};
  auto res = cli.Post(httplib::append_query_params("/api/v1/audit/erase", params));
  if (!res) return Fail("audit erase: cannot reach the collector API at " + base);
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status != 200 || body.is_discarded()) {
    return Fail("audit erase: " + (body.is_discarded() ? res->body : body.value("error", res->body)));
  }
  auto count = [&](const char* key) { return static_cast<unsigned long long>(body.value(key, uint64_t{0})); };
  std::printf(
      "erased %llu personal payloads of the subject from the audit log, and from the store its principal and "
      "paths in %llu access events and the text of %llu alerts (%llu waiting for delivery); the erasure itself is "
      "audited (record %llu)\n"
      "not reached: alerts already delivered to Alertmanager or webhooks, free-text log lines and learned error "
      "statements (retention bounds them)\n",
      count("erased_payloads"), count("erased_access_events"), count("erased_alert_messages"),
      count("erased_outbox_messages"), static_cast<unsigned long long>(body.value("audit_size", uint64_t{1}) - 1));
  return 0;
}

int AuditWitnessKeygen(const Args& args) {
  const char* usage = "custosctl audit witness-keygen --name NAME --out DIR";
  Flags f(args, {"--name", "--out"}, {});
  if (!f.ok()) return Usage("audit witness-keygen", f.error(), usage);
  if (!f.Has("--name") || !f.Has("--out")) return Usage("audit witness-keygen", "--name and --out are required", usage);
  auto key = audit::SignerKey::Generate(f.Get("--name"), audit::KeyType::kCosignatureV1);
  if (!key.ok()) return Fail("audit witness-keygen: " + key.status().ToString());
  std::string base = f.Get("--out") + "/" + f.Get("--name");
  Status s = MakeDirs(f.Get("--out"), 0700);
  if (s.ok()) s = audit::WriteSignerKeyFile(base + ".key", *key);
  if (s.ok()) s = audit::WriteVerifierKeyFile(base + ".vkey", key->verifier());
  if (!s.ok()) return Fail("audit witness-keygen: " + s.ToString());
  std::printf("wrote %s.key (secret, 0600) and %s.vkey (give it to auditors)\n", base.c_str(), base.c_str());
  return 0;
}

int AuditWitness(const Args& args) {
  const char* usage = "custosctl audit witness DIR --log-key LOG.vkey --key WITNESS.key --state WITNESS.json";
  if (args.empty() || args[0].rfind("--", 0) == 0) return Usage("audit witness", "DIR is required", usage);
  Flags f(Args(args.begin() + 1, args.end()), {"--log-key", "--key", "--state"}, {});
  if (!f.ok()) return Usage("audit witness", f.error(), usage);
  if (!f.Has("--log-key") || !f.Has("--key") || !f.Has("--state")) {
    return Usage("audit witness", "--log-key, --key and --state are required", usage);
  }
  auto log_key = audit::ReadVerifierKeyFile(f.Get("--log-key"));
  if (!log_key.ok()) return Fail("audit witness: " + log_key.status().ToString());
  auto key = audit::ReadSignerKeyFile(f.Get("--key"));
  if (!key.ok()) return Fail("audit witness: " + key.status().ToString());
  uint64_t now = static_cast<uint64_t>(Clock::Real().NowUnixNanos() / kNanosPerSecond);
  auto r = audit::WitnessExport(args[0], *log_key, *key, f.Get("--state"), now);
  if (!r.ok()) {
    std::fprintf(stderr, "REFUSED: %s\n", r.status().message().c_str());
    return 1;
  }
  if (!r->cosigned) {
    std::printf("size %llu was already cosigned by this witness; nothing new\n",
                static_cast<unsigned long long>(r->new_size));
  } else {
    std::printf("cosigned size %llu (consistent with size %llu seen before)\n",
                static_cast<unsigned long long>(r->new_size), static_cast<unsigned long long>(r->old_size));
  }
  return 0;
}

}  // namespace

int RunAudit(const Args& args) {
  if (args.empty()) {
    std::fputs("usage: custosctl audit export|verify|prove|verify-receipt|erase|witness|witness-keygen ...\n", stderr);
    return 2;
  }
  Args rest(args.begin() + 1, args.end());
  if (args[0] == "export") return AuditExport(rest);
  if (args[0] == "verify") return AuditVerify(rest);
  if (args[0] == "prove") return AuditProve(rest);
  if (args[0] == "verify-receipt") return AuditVerifyReceipt(rest);
  if (args[0] == "erase") return AuditErase(rest);
  if (args[0] == "witness") return AuditWitness(rest);
  if (args[0] == "witness-keygen") return AuditWitnessKeygen(rest);
  std::fprintf(stderr, "custosctl audit: unknown subcommand '%s' (export, verify, prove, verify-receipt, erase, witness, witness-keygen)\n",
               args[0].c_str());
  return 2;
}

}  // namespace custos::ctl
