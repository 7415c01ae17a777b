// journald source read rate into the spool (fsync on), against the raw read
// rate of the same journal by `journalctl -o export`, in the same run.
//
//   journald_read_bench [entries=1000000] [runs=3]
//
// Writes a real journal of `entries` journald-like entries (16 fields, ~100-byte
// messages, 20 units) with systemd-journal-remote, then per run: a fresh spool,
// batcher and journald source reading it from the beginning, timed until every
// record is durable (custos_agent_records_accepted_total); then
// `journalctl --directory=DIR -o export > /dev/null`, timed. Prints one summary
// line with the medians; see bench/README.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/batcher.h"
#include "agent/core/spool.h"
#include "agent/sources/journald/journal_remote_testing.h"
#include "agent/sources/journald/journald_source.h"
#include "common/config.h"

namespace {

using custos::agent::journald::ExportEntry;

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string MakeTemp(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "_XXXXXX";
  char* d = mkdtemp(tmpl.data());
  if (d == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return d;
}

ExportEntry BenchEntry(uint64_t i) {
  ExportEntry e;
  e.realtime_usec = 1'700'000'000'000'000 + i * 10;
  e.monotonic_usec = 1'000'000 + i * 10;
  const std::string unit = "app" + std::to_string(i % 20) + ".service";
  const std::string pid = std::to_string(1000 + i % 20);
  e.fields = {
      {"_TRANSPORT", "stdout"},
      {"PRIORITY", i % 50 == 0 ? "4" : "6"},
      {"SYSLOG_FACILITY", "3"},
      {"SYSLOG_IDENTIFIER", "app" + std::to_string(i % 20)},
      {"_PID", pid},
      {"_UID", "998"},
      {"_GID", "998"},
      {"_COMM", "app" + std::to_string(i % 20)},
      {"_EXE", "/usr/bin/app" + std::to_string(i % 20)},
      {"_CMDLINE", "/usr/bin/app" + std::to_string(i % 20) + " --config /etc/app.toml"},
      {"_SYSTEMD_CGROUP", "/system.slice/" + unit},
      {"_SYSTEMD_UNIT", unit},
      {"_SYSTEMD_SLICE", "system.slice"},
      {"_MACHINE_ID", "fedcba9876543210fedcba9876543210"},
      {"_HOSTNAME", "bench-host"},
      {"MESSAGE", "request " + std::to_string(i) + " served: GET /api/v1/items?page=" + std::to_string(i % 997) +
                      " status=200 bytes=" + std::to_string(i % 65536) + " duration_ms=" + std::to_string(i % 300)},
  };
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t entries = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::string journal_remote = custos::agent::journald::FindJournalRemote();
  if (journal_remote.empty()) {
    std::fprintf(stderr, "systemd-journal-remote not found: install the Debian package systemd-journal-remote\n");
    return 1;
  }
  const std::string dir = MakeTemp("custos_journald_bench");
  auto t0 = std::chrono::steady_clock::now();
  {
    custos::agent::journald::JournalRemoteWriter w(journal_remote, dir + "/bench.journal");
    for (uint64_t i = 0; i < entries; ++i) w.Add(BenchEntry(i));
    custos::Status s = w.Close();
    if (!s.ok()) {
      std::fprintf(stderr, "writing the journal: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "wrote %llu entries with journal-remote in %.1f s (%s)\n",
               static_cast<unsigned long long>(entries), Seconds(t0), dir.c_str());
  (void)!std::system(("du -sh --apparent-size " + dir + " >&2; ls " + dir + " >&2").c_str());

  std::vector<double> source_rates, journalctl_rates;
  for (int run = 0; run < runs; ++run) {
    const std::string spool_dir = MakeTemp("custos_journald_bench_spool");
    double source_rate = 0;
    {
      custos::MetricsRegistry metrics;
      custos::Clock& clock = custos::Clock::Real();
      auto spool = custos::agent::Spool::Open(custos::agent::SpoolOptions{.dir = spool_dir, .quota_bytes = 8ULL << 30},
                                              metrics);
      if (!spool.ok()) {
        std::fprintf(stderr, "spool: %s\n", spool.status().ToString().c_str());
        return 1;
      }
      custos::v1::Resource node;
      node.set_node_id("bench");
      custos::agent::Batcher batcher(custos::agent::BatcherOptions{.agent_id = "bench"}, **spool, node, metrics,
                                     clock);
      custos::agent::SourceContext context{batcher, metrics, clock, node};
      auto config = custos::ConfigFile::Parse(
          "[sources.journald]\ndirectory = \"" + dir + "\"\nstart_at = \"beginning\"\n", "bench.toml");
      custos::ConfigSection section = config->Section("sources").Section("journald");
      auto source = custos::agent::journald::CreateJournaldSource(section, context);
      if (!source.ok() || !config->Finish().ok()) {
        std::fprintf(stderr, "config: %s\n", source.status().ToString().c_str());
        return 1;
      }
      batcher.Start();
      auto start = std::chrono::steady_clock::now();
      if (!(*source)->Start("").ok()) return 1;
      while (metrics.Value("custos_agent_records_accepted_total") < static_cast<double>(entries)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      double secs = Seconds(start);
      (*source)->Stop();
      batcher.Stop();
      source_rate = static_cast<double>(entries) / secs;
      std::fprintf(stderr, "run %d: source %.0f entries/s (%.2f s, %.1f MB entry data read)\n", run + 1, source_rate,
                   secs, metrics.Value("custos_agent_journald_bytes_read_total") / 1e6);
    }
    (void)!std::system(("rm -rf " + spool_dir).c_str());
    source_rates.push_back(source_rate);

    auto start = std::chrono::steady_clock::now();
    int rc = std::system(("journalctl --directory=" + dir + " -o export > /dev/null").c_str());
    double secs = Seconds(start);
    if (rc != 0) {
      std::fprintf(stderr, "journalctl failed (%d)\n", rc);
      return 1;
    }
    journalctl_rates.push_back(static_cast<double>(entries) / secs);
    std::fprintf(stderr, "run %d: journalctl -o export %.0f entries/s (%.2f s)\n", run + 1, journalctl_rates.back(),
                 secs);
  }
  (void)!std::system(("rm -rf " + dir).c_str());

  auto list = [](const std::vector<double>& v) {
    std::string s;
    for (double x : v) s += (s.empty() ? "" : " / ") + std::to_string(static_cast<long long>(x));
    return s;
  };
  double src = Median(source_rates), jc = Median(journalctl_rates);
  std::printf(
      "journald_read: %llu entries, median of %d: source into the spool (fsync) %.0f entries/s (%s) | "
      "journalctl -o export > /dev/null %.0f entries/s (%s) | ratio %.2f\n",
      static_cast<unsigned long long>(entries), runs, src, list(source_rates).c_str(), jc,
      list(journalctl_rates).c_str(), src / jc);
  return 0;
}
