// Agent cost with every source on, at the mixed load of the capture issue:
// 1,000 log lines/s (500 appended to a log file, 500 written to a journal by
// systemd-journal-remote, a second's worth at a time), 200 spans/s over OTLP/HTTP, 200 access events/s on
// the access socket (fanotify watching an idle dataset root too), host and
// cgroup metrics every 10 s and the GPU stand-in sampled every 10 s, shipped
// to a real collector over CURVE. CPU as % of one core and RSS of the agent
// process, from /proc; the load generators run in this process and are not
// counted. At the end, every generated record must be in the store.
//
//   agent_mixed_bench [seconds=60]
//
// Prints one summary line; see bench/README.md.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "agent/sources/journald/journal_remote_testing.h"
#include "bench/proc_stats.h"
#include "common/files.h"
#include "tests/e2e/harness.h"

namespace {

using custos::bench::CpuSeconds;
using custos::bench::RssMiB;

using SteadyClock = std::chrono::steady_clock;

std::string Hex(std::mt19937_64& rng, int bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < bytes; ++i) {
    uint64_t v = rng();
    s += d[v & 15];
    s += d[(v >> 4) & 15];
  }
  return s;
}

// One OTLP/JSON request with `n` spans; returns the HTTP status (0 on I/O failure).
int PostSpans(int port, int n, std::mt19937_64& rng) {
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  std::string trace = Hex(rng, 16);
  std::string spans;
  for (int i = 0; i < n; ++i) {
    spans += std::string(i ? "," : "") + R"({"traceId":")" + trace + R"(","spanId":")" + Hex(rng, 8) +
             R"(","name":"GET /predict","kind":2,"startTimeUnixNano":")" + std::to_string(now) +
             R"(","endTimeUnixNano":")" + std::to_string(now + 1'500'000) +
             R"(","attributes":[{"key":"http.status_code","value":{"intValue":"200"}}],"status":{"code":1}})";
  }
  std::string body = R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
                     R"({"stringValue":"inference"}}]},"scopeSpans":[{"spans":[)" + spans + "]}]}]}";
  std::string req = "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return 0;
  }
  std::string reply;
  char buf[4096];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(r));
  close(fd);
  return reply.size() > 12 ? std::atoi(reply.c_str() + 9) : 0;
}

int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace custos;
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 60;
  const std::string journal_remote = agent::journald::FindJournalRemote();
  if (journal_remote.empty()) {
    std::fprintf(stderr, "agent_mixed_bench: systemd-journal-remote is needed\n");
    return 1;
  }
  char tmpl[] = "/tmp/custos_mixed_XXXXXX";
  const std::string in = mkdtemp(tmpl);
  for (const char* d : {"/journal", "/logs", "/data", "/run"}) (void)MakeDirs(in + d);
  (void)WriteFileAtomic(in + "/nvml.scenario",
                        "gpus = 2\ngpu0.uuid = GPU-0\ngpu0.name = H100\ngpu0.utilization = 87,40\n"
                        "gpu0.memory = 85899345920,1000,2000\ngpu0.power_mw = 312500\ngpu0.temperature = 61\n"
                        "gpu1.uuid = GPU-1\ngpu1.name = H100\ngpu1.utilization = 12,3\n"
                        "gpu1.memory = 85899345920,1000,2000\ngpu1.power_mw = 90000\ngpu1.temperature = 40\n");
  setenv("CUSTOS_FAKE_NVML_SCENARIO", (in + "/nvml.scenario").c_str(), 1);
  setenv("CUSTOS_FAKE_NVML_FROZEN", "1", 1);
  const int otlp_port = e2e::FreePort();
  const std::string sock = in + "/run/access.sock";
  e2e::Cluster c("[sources.host_metrics]\ninterval = \"10s\"\n"
                 "[sources.journald]\nenabled = true\ndirectory = \"" + in + "/journal\"\n"
                 "[sources.files]\nenabled = true\npaths = [\"" + in + "/logs/*.log\"]\n"
                 "[sources.gpu]\nenabled = true\nlibrary = \"" CUSTOS_FAKE_NVML "\"\ninterval = \"10s\"\n"
                 "[sources.otlp]\nenabled = true\nlisten = \"127.0.0.1:" + std::to_string(otlp_port) + "\"\n"
                 "[sources.access]\nenabled = true\nroots = [\"" + in + "/data\"]\nsocket = \"" + sock + "\"\n"
                 "[[sources.access.datasets]]\nid = \"features\"\nclassification = \"internal\"\n"
                 "home_region = \"eu-central-1\"\nuris = [\"s3://features/**\"]\n");
  c.StartCollector();
  c.StartAgent();
  int access_fd = -1;
  for (int i = 0; i < 200 && access_fd < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    access_fd = ConnectUnix(sock);
  }
  if (access_fd < 0) {
    std::fprintf(stderr, "agent_mixed_bench: no access socket\n%s\n", c.ReadLog("agent").c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));  // warm up: connect, first samples

  std::ofstream log_file(in + "/logs/app.log", std::ios::app);
  std::mt19937_64 rng(1);
  std::vector<agent::journald::ExportEntry> journal_batch;
  const pid_t pid = c.agent_pid();
  const double cpu0 = CpuSeconds(pid);
  std::vector<double> rss;
  int64_t lines = 0, entries = 0, spans = 0, events = 0, http_errors = 0, busy = 0;
  const auto t0 = SteadyClock::now();
  // Ten ticks a second: 50 file lines, 50 journal entries, 20 spans, 20 access events.
  for (int tick = 0; tick < seconds * 10; ++tick) {
    for (int i = 0; i < 50; ++i) {
      log_file << "2026-11-26T17:00:00Z INFO request id=" << lines++ << " path=/predict status=200 latency_ms=12\n";
    }
    log_file.flush();
    for (int i = 0; i < 50; ++i, ++entries) {
      // Entries carry the current time: the collector's retention (7 days by
      // default) removes records older than that.
      journal_batch.push_back({.realtime_usec = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count()),
                               .monotonic_usec = static_cast<uint64_t>(entries) + 1,
                               .fields = {{"MESSAGE", "worker heartbeat " + std::to_string(entries)},
                                          {"PRIORITY", "6"}, {"_SYSTEMD_UNIT", "train.service"}, {"_PID", "4242"}}});
    }
    // Once a second, systemd-journal-remote appends the second's 500 entries
    // and closes the file (see bench/README.md on a writer kept open).
    if (tick % 10 == 9) {
      if (!agent::journald::WriteJournal(journal_remote, in + "/journal/remote.journal", journal_batch).ok()) {
        std::fprintf(stderr, "agent_mixed_bench: systemd-journal-remote failed\n");
        return 1;
      }
      journal_batch.clear();
    }
    if (int code = PostSpans(otlp_port, 20, rng); code == 200) {
      spans += 20;
    } else {
      ++http_errors;
    }
    std::string batch;
    for (int i = 0; i < 20; ++i) {
      batch += R"({"action":"read","object":"s3://features/user-embeddings/part-)" + std::to_string(events + i) +
               R"(.parquet","service_identity":"svc:feature-store","bytes":65536})" "\n";
    }
    (void)!write(access_fd, batch.data(), batch.size());
    std::string replies;
    char buf[4096];
    while (std::count(replies.begin(), replies.end(), '\n') < 20) {
      ssize_t r = read(access_fd, buf, sizeof buf);
      if (r <= 0) break;
      replies.append(buf, static_cast<size_t>(r));
    }
    int ok = 0;
    for (size_t at = 0; (at = replies.find("{\"ok\":true}", at)) != std::string::npos; ++at) ++ok;
    events += ok;
    busy += 20 - ok;
    if (tick % 10 == 9) rss.push_back(RssMiB(pid));
    auto next = t0 + std::chrono::milliseconds(100 * (tick + 1));
    std::this_thread::sleep_until(next);
  }
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const double cpu_pct = 100.0 * (CpuSeconds(pid) - cpu0) / elapsed;
  std::sort(rss.begin(), rss.end());
  const double rss_max = rss.empty() ? 0 : rss.back();
  close(access_fd);

  // Everything generated must arrive.
  struct Check {
    const char* what;
    std::string sql;
    int64_t want;
  } checks[] = {
      {"file lines", "SELECT count(*) FROM logs WHERE source LIKE 'file:%'", lines},
      {"journal entries", "SELECT count(*) FROM logs WHERE source = 'journald'", entries},
      {"spans", "SELECT count(*) FROM spans", spans},
      {"access events", "SELECT count(*) FROM access_events WHERE source = 'socket'", events},
  };
  bool all = true;
  for (const Check& k : checks) {
    if (!c.WaitFor(k.sql, k.want, 60)) {
      std::fprintf(stderr, "agent_mixed_bench: %s: %lld stored of %lld\n", k.what,
                   static_cast<long long>(c.QueryInt(k.sql)), static_cast<long long>(k.want));
      all = false;
    }
  }
  std::printf(
      "agent_mixed: %d s, %.0f file lines/s + %.0f journal entries/s + %.0f spans/s + %.0f access events/s, "
      "metrics and 2 stand-in GPUs every 10 s: agent CPU %.2f%% of one core, RSS max %.1f MiB "
      "(http errors %lld, busy replies %lld, all stored: %s) | target < 2%% and < 30 MiB\n",
      seconds, static_cast<double>(lines) / elapsed, static_cast<double>(entries) / elapsed,
      static_cast<double>(spans) / elapsed, static_cast<double>(events) / elapsed, cpu_pct, rss_max,
      static_cast<long long>(http_errors), static_cast<long long>(busy), all ? "yes" : "NO");
  std::string rm = "rm -rf '" + in + "'";
  (void)std::system(rm.c_str());
  return all ? 0 : 1;
}
