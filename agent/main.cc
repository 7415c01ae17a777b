// custos-agent: captures this node's telemetry and ships it, durably and
// encrypted, to custos-collector. See README.md and deploy/agent.toml.
#include <cstdio>
#include <cstring>
#include <string>

#include "agent/agent.h"
#include "common/daemon.h"
#include "common/log.h"

namespace {

constexpr const char* kUsage =
    "usage: custos-agent [--config PATH] [--check-config] [--version]\n"
    "  --config PATH     agent configuration (default /etc/custos/agent.toml)\n"
    "  --check-config    validate the configuration and keys, then exit\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace custos;
  std::string config_path = "/etc/custos/agent.toml";
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--version") {
      std::printf("custos-agent %s\n", CUSTOS_VERSION);
      return 0;
    } else {
      std::fputs(kUsage, stderr);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }

  SignalWaiter signals;  // before any thread starts
  auto file = ConfigFile::Load(config_path);
  if (!file.ok()) {
    log::Error("agent", "cannot load configuration", {{"error", file.status().ToString()}});
    return 1;
  }
  auto agent = agent::Agent::Create(*file);
  if (!agent.ok()) {
    log::Error("agent", "cannot start", {{"config", config_path}, {"error", agent.status().ToString()}});
    return 1;
  }
  if (check_only) {
    std::printf("%s: OK (node %s)\n", config_path.c_str(), (*agent)->config().node_id.c_str());
    return 0;
  }
  Status s = (*agent)->Start();
  if (!s.ok()) {
    log::Error("agent", "cannot start", {{"error", s.ToString()}});
    return 1;
  }
  systemd::NotifyReady((*agent)->StatusLine());
  int64_t ping = systemd::WatchdogPingIntervalNanos();
  int64_t tick = ping > 0 ? std::min<int64_t>(ping, 5'000'000'000) : 5'000'000'000;
  while (!signals.WaitForStop(tick)) {
    systemd::NotifyWatchdog();
    systemd::NotifyStatus((*agent)->StatusLine());
  }
  systemd::NotifyStopping();
  (*agent)->Stop();
  return 0;
}
