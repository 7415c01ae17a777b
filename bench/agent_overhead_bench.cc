// Agent cost at a steady 1,000 records/s (generator) plus host and cgroup
// metrics every 10 s, shipping to a real collector over CURVE: CPU as % of one
// core and RSS, read from /proc/<pid> of the agent process.
//
//   agent_overhead_bench [seconds=30] [rate=1000]
//
// Prints one summary line; see bench/README.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench/proc_stats.h"
#include "tests/e2e/harness.h"

namespace {

using custos::bench::CpuSeconds;
using custos::bench::RssMiB;

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 30;
  int rate = argc > 2 ? std::atoi(argv[2]) : 1000;
  custos::e2e::Cluster c("[sources.host_metrics]\ninterval = \"10s\"\n"
                         "[sources.generator]\nenabled = true\nrate = " + std::to_string(rate) + "\n");
  c.StartCollector();
  c.StartAgent();
  std::this_thread::sleep_for(std::chrono::seconds(5));  // warm up: connect, first samples
  pid_t pid = c.agent_pid();
  int64_t stored0 = c.QueryInt("SELECT count(*) FROM logs");
  double cpu0 = CpuSeconds(pid);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<double> rss;
  for (int i = 0; i < seconds; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    rss.push_back(RssMiB(pid));
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = CpuSeconds(pid) - cpu0;
  int64_t stored = c.QueryInt("SELECT count(*) FROM logs") - stored0;
  std::vector<double> sorted = rss;
  std::sort(sorted.begin(), sorted.end());
  std::printf(
      "agent_overhead: %d records/s + host metrics/10s for %.0f s: CPU %.2f %% of one core, RSS median %.1f MiB "
      "(max %.1f) | delivered %.0f records/s | target < 2 %% and < 30 MiB\n",
      rate, wall, 100.0 * cpu / wall, sorted[sorted.size() / 2], sorted.back(), stored / wall);
  return 0;
}
