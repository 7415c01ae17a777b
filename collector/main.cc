// custos-collector: stores what agents send, and serves it to custosctl.
// See README.md and deploy/collector.toml.
#include <cstdio>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "collector/collector.h"
#include "common/daemon.h"
#include "common/log.h"

namespace {

constexpr const char* kUsage =
    "usage: custos-collector [--config PATH] [--check-config] [--version]\n"
    "  --config PATH     collector configuration (default /etc/custos/collector.toml)\n"
    "  --check-config    validate the configuration and keys, then exit\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace custos;
  std::string config_path = "/etc/custos/collector.toml";
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--version") {
      std::printf("custos-collector %s\n", CUSTOS_VERSION);
      return 0;
    } else {
      std::fputs(kUsage, stderr);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }

  SignalWaiter signals;  // before any thread starts
  // libprotobuf would log every undecodable frame an agent sends (invalid
  // UTF-8, ...) to stderr; the ingest stage already refuses, counts and logs
  // each one, rate-limited by reason, so protobuf's own lines are dropped.
  google::protobuf::SetLogHandler(nullptr);
  auto file = ConfigFile::Load(config_path);
  if (!file.ok()) {
    log::Error("collector", "cannot load configuration", {{"error", file.status().ToString()}});
    return 1;
  }
  auto config = collector::ReadCollectorConfig(*file);
  if (!config.ok()) {
    log::Error("collector", "invalid configuration", {{"error", config.status().ToString()}});
    return 1;
  }
  auto c = collector::Collector::Create(*config);
  if (!c.ok()) {
    log::Error("collector", "cannot start", {{"config", config_path}, {"error", c.status().ToString()}});
    return 1;
  }
  if (check_only) {
    std::printf("%s: OK\n", config_path.c_str());
    return 0;
  }
  Status s = (*c)->Start();
  if (!s.ok()) {
    log::Error("collector", "cannot start", {{"error", s.ToString()}});
    return 1;
  }
  systemd::NotifyReady((*c)->StatusLine());
  int64_t ping = systemd::WatchdogPingIntervalNanos();
  int64_t tick = ping > 0 ? std::min<int64_t>(ping, 5'000'000'000) : 5'000'000'000;
  while (!signals.WaitForStop(tick)) {
    if (signals.TakeReload()) (*c)->Reload();
    systemd::NotifyWatchdog();
    systemd::NotifyStatus((*c)->StatusLine());
  }
  systemd::NotifyStopping();
  (*c)->Stop();
  return 0;
}
