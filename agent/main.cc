// custos-agent: captures this node's telemetry and ships it, durably and
// encrypted, to custos-collector. See README.md and deploy/agent.toml.
#include <cstdio>

#include "agent/agent.h"
#include "common/daemon.h"
#include "common/log.h"

int main(int argc, char** argv) {
  using namespace custos;
  DaemonArgs args;
  if (int rc = ParseDaemonArgs(argc, argv, "custos-agent", "/etc/custos/agent.toml", &args); rc >= 0) return rc;

  SignalWaiter signals;  // before any thread starts
  auto file = ConfigFile::Load(args.config_path);
  if (!file.ok()) {
    log::Error("agent", "cannot load configuration", {{"error", file.status().ToString()}});
    return 1;
  }
  auto agent = agent::Agent::Create(*file);
  if (!agent.ok()) {
    log::Error("agent", "cannot start", {{"config", args.config_path}, {"error", agent.status().ToString()}});
    return 1;
  }
  if (args.check_only) {
    std::printf("%s: OK (node %s)\n", args.config_path.c_str(), (*agent)->config().node_id.c_str());
    return 0;
  }
  if (Status s = (*agent)->Start(); !s.ok()) {
    log::Error("agent", "cannot start", {{"error", s.ToString()}});
    return 1;
  }
  RunService(signals, [&] { return (*agent)->StatusLine(); }, nullptr);
  (*agent)->Stop();
  return 0;
}
