// custosctl: the operator's and compliance officer's command line.
#include <cstdio>
#include <string>

#include "collector/ctl/commands.h"

namespace {

constexpr const char* kUsage =
    "usage: custosctl COMMAND [ARGS]\n"
    "\n"
    "keys and enrolment:\n"
    "  keygen    --out DIR --name NAME        write a CURVE key pair (NAME.key 0600, NAME.pub)\n"
    "  enroll    --node ID --key AGENT.pub    admit an agent's key on the collector\n"
    "  unenroll  --node ID                    refuse an agent's key from now on\n"
    "observing:\n"
    "  status    [--json]                     collector counters and every agent's state\n"
    "  query     [--kind K] [--node N] ...    latest records (custosctl query --help)\n"
    "  alerts    [--rule R] [--since T]       alerts raised by policy rules and violations\n"
    "  silence   add|list|expire              mute matching alerts for a while (audited)\n"
    "  incidents [--all] [--db PATH]          alerts grouped into incidents, with their likely cause\n"
    "  rca       INCIDENT | --at T            what most likely caused an incident, with evidence\n"
    "policy:\n"
    "  policy check [--strict] PATH...        check policy files: errors and warnings with file:line:col\n"
    "  policy test [--now T] PATH...          run the policy's test blocks\n"
    "  policy explain EVENT.json --policy P   the verdict of one access, and why\n"
    "  policy diff OLD NEW [--since 7d]       stored accesses whose verdict a policy change would change\n"
    "  policy unused --policy P [--window 90d] grants never used, grants broader than used, idle principals\n"
    "audit:\n"
    "  audit export --out DIR [--db PATH] [--since T] [--until T] [--kind K]\n"
    "                                         a self-contained, offline-verifiable export\n"
    "  audit verify DIR --key LOG.vkey [--witness W.vkey --quorum K]\n"
    "  audit verify --db PATH --key LOG.vkey  check the live store the same way\n"
    "  audit prove --index I [--db PATH]      a receipt: record + inclusion proof + checkpoint\n"
    "  audit verify-receipt FILE --key LOG.vkey\n"
    "  audit erase --subject user:NAME        erase personal payloads (audited; chain still verifies)\n"
    "  audit witness-keygen --name N --out DIR\n"
    "  audit witness DIR --log-key LOG.vkey --key W.key --state W.json\n"
    "                                         cosign an export's newest checkpoint if consistent\n"
    "\n"
    "The collector API defaults to http://127.0.0.1:7080 (--api URL or CUSTOS_API).\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  custos::ctl::Args args(argv + 2, argv + argc);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("custosctl %s\n", CUSTOS_VERSION);
    return 0;
  }
  if (cmd == "keygen") return custos::ctl::RunKeygen(args);
  if (cmd == "enroll") return custos::ctl::RunEnroll(args);
  if (cmd == "unenroll") return custos::ctl::RunUnenroll(args);
  if (cmd == "status") return custos::ctl::RunStatus(args);
  if (cmd == "query") return custos::ctl::RunQuery(args);
  if (cmd == "alerts") return custos::ctl::RunAlerts(args);
  if (cmd == "silence") return custos::ctl::RunSilence(args);
  if (cmd == "rca") return custos::ctl::RunRca(args);
  if (cmd == "incidents") return custos::ctl::RunIncidents(args);
  if (cmd == "audit") return custos::ctl::RunAudit(args);
  if (cmd == "policy") return custos::ctl::RunPolicy(args);
  std::fprintf(stderr, "custosctl: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
  return 2;
}
