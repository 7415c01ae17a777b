#include "collector/ctl/commands.h"

#include <httplib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "collector/ctl/flags.h"
#include "collector/ctl/format.h"
#include "common/curve_keys.h"
#include "common/files.h"

namespace custos::ctl {
namespace {

std::string ApiUrl(const Flags& f) {
  if (f.Has("--api")) return f.Get("--api");
  const char* env = std::getenv("CUSTOS_API");
  return env != nullptr ? env : "http://127.0.0.1:7080";
}

// GETs (or POSTs to) a JSON document of the collector's API, with errors a
// person can act on.
Result<nlohmann::json> GetJson(const std::string& base, const std::string& path, bool post = false) {
  httplib::Client cli(base);
  cli.set_connection_timeout(3, 0);
  cli.set_read_timeout(30, 0);
  auto res = post ? cli.Post(path) : cli.Get(path);
  if (!res) {
    return Unavailable("cannot reach the collector API at " + base + " (" + httplib::to_string(res.error()) +
                       "); is custos-collector running? (--api URL or CUSTOS_API to point elsewhere)");
  }
  auto json = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Internal("collector answered HTTP " + std::to_string(res->status) + " without JSON");
  if (res->status != 200) {
    return InvalidArgument(json.value("error", "HTTP " + std::to_string(res->status)));
  }
  return json;
}

const std::regex& NodeIdPattern() {
  static const std::regex kPattern("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  return kPattern;
}

}  // namespace

int RunKeygen(const Args& args) {
  const char* usage = "custosctl keygen --out DIR --name NAME [--force]";
  Flags f(args, {"--out", "--name"}, {"--force"});
  if (!f.ok()) return Usage("keygen", f.error(), usage);
  if (!f.Has("--out") || !f.Has("--name")) return Usage("keygen", "--out and --name are required", usage);
  if (!std::regex_match(f.Get("--name"), NodeIdPattern())) return Fail("keygen: --name must be a plain file name");
  auto kp = GenerateCurveKeyPair();
  if (!kp.ok()) return Fail(kp.status().ToString());
  Status s = WriteCurveKeyPair(f.Get("--out"), f.Get("--name"), *kp, f.Has("--force"));
  if (!s.ok()) return Fail("keygen: " + s.ToString());
  std::printf("wrote %s/%s.key (secret, mode 0600) and %s/%s.pub\npublic key: %s\n", f.Get("--out").c_str(),
              f.Get("--name").c_str(), f.Get("--out").c_str(), f.Get("--name").c_str(), kp->public_z85.c_str());
  return 0;
}

int RunEnroll(const Args& args) {
  const char* usage = "custosctl enroll --node NODE_ID --key AGENT.pub [--dir /etc/custos/collector/agents] [--force]";
  Flags f(args, {"--node", "--key", "--dir"}, {"--force"});
  if (!f.ok()) return Usage("enroll", f.error(), usage);
  if (!f.Has("--node") || !f.Has("--key")) return Usage("enroll", "--node and --key are required", usage);
  std::string node = f.Get("--node");
  if (!std::regex_match(node, NodeIdPattern())) {
    return Fail("enroll: node id '" + node + "' must be letters, digits, '.', '_' or '-' (as /etc/machine-id is)");
  }
  auto key = ReadCurvePublicKey(f.Get("--key"));
  if (!key.ok()) return Fail("enroll: " + key.status().ToString());
  std::string dir = f.Get("--dir", "/etc/custos/collector/agents");
  Status s = MakeDirs(dir, 0750);
  if (!s.ok()) return Fail("enroll: " + s.ToString());
  std::string path = dir + "/" + node + ".pub";
  if (!f.Has("--force") && ::access(path.c_str(), F_OK) == 0) {
    auto existing = ReadCurvePublicKey(path);
    if (existing.ok() && *existing == *key) {
      std::printf("%s is already enrolled with this key\n", node.c_str());
      return 0;
    }
    return Fail("enroll: " + node + " is already enrolled with another key (" + path +
                "); --force replaces it");
  }
  s = WriteFileAtomic(path, *key + "\n", 0644);
  if (!s.ok()) return Fail("enroll: " + s.ToString());
  std::printf("enrolled %s (%s); the collector admits it on its next handshake\n", node.c_str(), path.c_str());
  return 0;
}

int RunUnenroll(const Args& args) {
  const char* usage = "custosctl unenroll --node NODE_ID [--dir /etc/custos/collector/agents]";
  Flags f(args, {"--node", "--dir"}, {});
  if (!f.ok()) return Usage("unenroll", f.error(), usage);
  if (!f.Has("--node")) return Usage("unenroll", "--node is required", usage);
  std::string node = f.Get("--node");
  if (!std::regex_match(node, NodeIdPattern())) return Fail("unenroll: bad node id '" + node + "'");
  std::string dir = f.Get("--dir", "/etc/custos/collector/agents");
  std::string path = dir + "/" + node + ".pub";
  if (::unlink(path.c_str()) != 0) return Fail("unenroll: " + ErrnoStatus("remove " + path, errno).ToString());
  Status s = FsyncDir(dir);
  if (!s.ok()) return Fail("unenroll: " + s.ToString());
  std::printf("unenrolled %s: new connections with its key are refused\n", node.c_str());
  return 0;
}

int RunStatus(const Args& args) {
  const char* usage = "custosctl status [--json] [--api URL]";
  Flags f(args, {"--api"}, {"--json"});
  if (!f.ok()) return Usage("status", f.error(), usage);
  auto status = GetJson(ApiUrl(f), "/api/v1/status");
  if (!status.ok()) return Fail("status: " + status.status().message());
  if (f.Has("--json")) {
    std::printf("%s\n", status->dump(2).c_str());
  } else {
    std::fputs(RenderStatus(*status).c_str(), stdout);
  }
  return 0;
}

int RunQuery(const Args& args) {
  const char* usage =
      "custosctl query [--kind metrics|logs|spans|gpu_samples|gpu_events|access|gaps|alerts] [--node ID|HOST]\n"
      "                [--name NAME] [--since T] [--until T] [--limit N] [--json] [--api URL]\n"
      "  NAME: the metric or span name, log source, access dataset id, GPU uuid or alert rule\n"
      "  T: 2026-11-26T14:00:00Z, Unix seconds, or an age such as 15m";
  Flags f(args, {"--kind", "--node", "--name", "--since", "--until", "--limit", "--api"}, {"--json"});
  if (!f.ok()) return Usage("query", f.error(), usage);
  httplib::Params params;
  params.emplace("kind", f.Get("--kind", "metrics"));
  for (const char* flag : {"--node", "--name", "--since", "--until", "--limit"}) {
    if (f.Has(flag)) params.emplace(std::string(flag + 2), f.Get(flag));
  }
  if (!params.count("limit")) params.emplace("limit", "20");
  auto result = GetJson(ApiUrl(f), httplib::append_query_params("/api/v1/query", params));
  if (!result.ok()) return Fail("query: " + result.status().message());
  if (f.Has("--json")) {
    std::printf("%s\n", result->at("records").dump(2).c_str());
  } else {
    std::fputs(RenderRecords(*result).c_str(), stdout);
  }
  return 0;
}

int RunSilence(const Args& args) {
  const char* usage =
      "custosctl silence add --match NAME=VALUE [--match ...] [--duration 2h] --comment TEXT [--actor NAME]\n"
      "       custosctl silence list [--json]\n"
      "       custosctl silence expire ID\n"
      "  matchers: name=value, name!=value, name=~regex, name!~regex over the alert's labels\n"
      "  (alertname = the rule, severity, node, dataset, ...); silenced alerts are stored and audited, not sent";
  if (args.empty()) return Usage("silence", "name a subcommand", usage);
  Args rest(args.begin() + 1, args.end());
  const char* user = std::getenv("USER");
  std::string default_actor = user != nullptr ? std::string("operator:") + user : "operator";
  if (args[0] == "add") {
    Flags f(rest, {"--match", "--duration", "--comment", "--actor", "--api"}, {});
    if (!f.ok()) return Usage("silence add", f.error(), usage);
    if (!f.Has("--match") || !f.Has("--comment")) return Usage("silence add", "--match and --comment are required", usage);
    httplib::Params params{{"duration", f.Get("--duration", "2h")}, {"comment", f.Get("--comment")},
                           {"actor", f.Get("--actor", default_actor)}};
    for (const auto& m : f.GetAll("--match")) params.emplace("match", m);
    auto r = GetJson(ApiUrl(f), httplib::append_query_params("/api/v1/silences", params), /*post=*/true);
    if (!r.ok()) return Fail("silence add: " + r.status().message());
    std::printf("silence %lld active until %s (audited)\n", static_cast<long long>(r->value("id", int64_t{0})),
                r->value("ends", std::string()).c_str());
    return 0;
  }
  if (args[0] == "list") {
    Flags f(rest, {"--api"}, {"--json"});
    if (!f.ok()) return Usage("silence list", f.error(), usage);
    auto r = GetJson(ApiUrl(f), "/api/v1/silences");
    if (!r.ok()) return Fail("silence list: " + r.status().message());
    if (f.Has("--json")) {
      std::printf("%s\n", (*r)["silences"].dump(2).c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {{"ID", "STATE", "ENDS", "MATCHERS", "BY", "COMMENT"}};
    for (const auto& s : (*r)["silences"]) {
      std::string matchers;
      for (const auto& m : s["matchers"]) matchers += (matchers.empty() ? "" : ",") + m.get<std::string>();
      rows.push_back({std::to_string(s.value("id", int64_t{0})), s.value("state", ""), s.value("ends", ""), matchers,
                      s.value("created_by", ""), s.value("comment", "")});
    }
    std::fputs(RenderTable(rows).c_str(), stdout);
    return 0;
  }
  if (args[0] == "expire") {
    if (rest.empty()) return Usage("silence expire", "name the silence id", usage);
    Args flags(rest.begin() + 1, rest.end());
    Flags f(flags, {"--actor", "--api"}, {});
    if (!f.ok()) return Usage("silence expire", f.error(), usage);
    httplib::Params params{{"id", rest[0]}, {"actor", f.Get("--actor", default_actor)}};
    auto r = GetJson(ApiUrl(f), httplib::append_query_params("/api/v1/silences/expire", params), /*post=*/true);
    if (!r.ok()) return Fail("silence expire: " + r.status().message());
    std::printf("silence %s expired (audited)\n", rest[0].c_str());
    return 0;
  }
  return Usage("silence", "unknown subcommand '" + args[0] + "'", usage);
}

int RunAlerts(const Args& args) {
  Args query = {"--kind", "alerts"};
  for (size_t i = 0; i < args.size(); ++i) {
    // --rule R is --name R for alerts.
    query.push_back(args[i] == "--rule" ? "--name" : args[i]);
  }
  return RunQuery(query);
}

}  // namespace custos::ctl
