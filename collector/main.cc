// custos-collector: stores what agents send, and serves it to custosctl.
// See README.md and deploy/collector.toml.
#include <google/protobuf/stubs/logging.h>

#include <cstdio>

#include "collector/collector.h"
#include "common/daemon.h"
#include "common/log.h"

int main(int argc, char** argv) {
  using namespace custos;
  DaemonArgs args;
  if (int rc = ParseDaemonArgs(argc, argv, "custos-collector", "/etc/custos/collector.toml", &args); rc >= 0) {
    return rc;
  }

  SignalWaiter signals;  // before any thread starts
  // libprotobuf would log every undecodable frame an agent sends (invalid
  // UTF-8, ...) to stderr; the ingest stage already refuses, counts and logs
  // each one, so protobuf's own lines are dropped.
  google::protobuf::SetLogHandler(nullptr);
  auto file = ConfigFile::Load(args.config_path);
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
    log::Error("collector", "cannot start", {{"config", args.config_path}, {"error", c.status().ToString()}});
    return 1;
  }
  if (args.check_only) {
    std::printf("%s: OK\n", args.config_path.c_str());
    return 0;
  }
  if (Status s = (*c)->Start(); !s.ok()) {
    log::Error("collector", "cannot start", {{"error", s.ToString()}});
    return 1;
  }
  RunService(signals, [&] { return (*c)->StatusLine(); }, [&] { (*c)->Reload(); });
  (*c)->Stop();
  return 0;
}
