// Agent cost with every source on, at the mixed load of the capture issue:
// 1,000 log lines/s (500 appended to a log file, 500 written to a journal by
// systemd-journal-remote, a second's worth at a time), 200 spans/s over
// OTLP/HTTP (20 a request), 200 access events/s on the access socket
// (fanotify watching an idle dataset root too), host and
// cgroup metrics every 10 s and the GPU stand-in sampled every 10 s, shipped
// to a real collector over CURVE. CPU as % of one core and RSS of the agent
// process, from /proc; the load generators run in this process and are not
// counted. At the end, every generated record must be in the store.
//
//   agent_mixed_bench [seconds=60] [json] [close] [spans=N]
//
// Spans go as OTLP/protobuf over one kept-alive connection by default, as
// the OpenTelemetry SDKs' exporters send them; `json` sends OTLP/JSON and
// `close` opens a connection for every request (the costlier cases).
// `spans=N` sends N spans a request (default 20, ten requests a second; an
// SDK's batch span processor sends up to 512 every 5 s).
//
// Prints one summary line; see bench/README.md.
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

#include <httplib.h>

#include "agent/sources/journald/journal_remote_testing.h"
#include "agent/sources/otlp/otlp_compat.pb.h"
#include "bench/proc_stats.h"
#include "common/files.h"
#include "common/hex.h"
#include "tests/e2e/harness.h"

namespace {

using custos::bench::CpuSeconds;
using custos::bench::RssMiB;

using SteadyClock = std::chrono::steady_clock;

std::string RandomBytes(std::mt19937_64& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>(rng());
  return s;
}

// How the load generator sends its spans.
struct OtlpClient {
  bool protobuf = true;    // the OTLP/HTTP default encoding; false: OTLP/JSON
  bool keep_alive = true;  // one kept-alive connection, as SDK exporters hold; false: a connection a request
  int spans_per_request = 20;
};

// OTLP/JSON: ids in hex.
std::string JsonSpans(int n, const std::string& trace_id, int64_t now, std::mt19937_64& rng) {
  const std::string trace = custos::HexLower(trace_id);
  std::string spans;
  for (int i = 0; i < n; ++i) {
    spans += std::string(i ? "," : "") + R"({"traceId":")" + trace + R"(","spanId":")" +
             custos::HexLower(RandomBytes(rng, 8)) + R"(","name":"GET /predict","kind":2,"startTimeUnixNano":")" + std::to_string(now) +
             R"(","endTimeUnixNano":")" + std::to_string(now + 1'500'000) +
             R"(","attributes":[{"key":"http.status_code","value":{"intValue":"200"}}],"status":{"code":1}})";
  }
  return R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
         R"({"stringValue":"inference"}}]},"scopeSpans":[{"spans":[)" + spans + "]}]}]}";
}

// The same spans as JsonSpans, in protobuf.
std::string ProtoSpans(int n, const std::string& trace_id, int64_t now, std::mt19937_64& rng) {
  custos::otlp_compat::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("inference");
  auto* ss = rs->add_scope_spans();
  for (int i = 0; i < n; ++i) {
    auto* s = ss->add_spans();
    s->set_trace_id(trace_id);
    s->set_span_id(RandomBytes(rng, 8));
    s->set_name("GET /predict");
    s->set_kind(custos::otlp_compat::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(static_cast<uint64_t>(now));
    s->set_end_time_unix_nano(static_cast<uint64_t>(now + 1'500'000));
    auto* attr = s->add_attributes();
    attr->set_key("http.status_code");
    attr->mutable_value()->set_int_value(200);
    s->mutable_status()->set_code(custos::otlp_compat::Status::STATUS_CODE_OK);
  }
  return req.SerializeAsString();
}

// One OTLP request with `n` spans; returns the HTTP status (0 on I/O failure).
int PostSpans(httplib::Client& client, const OtlpClient& how, int n, std::mt19937_64& rng) {
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string trace_id = RandomBytes(rng, 16);
  auto res = how.protobuf ? client.Post("/v1/traces", ProtoSpans(n, trace_id, now, rng), "application/x-protobuf")
                          : client.Post("/v1/traces", JsonSpans(n, trace_id, now, rng), "application/json");
  return res ? res->status : 0;
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
  OtlpClient how;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "json") {
      how.protobuf = false;
    } else if (a == "close") {
      how.keep_alive = false;
    } else if (a.rfind("spans=", 0) == 0 && std::atoi(a.c_str() + 6) > 0) {
      how.spans_per_request = std::atoi(a.c_str() + 6);
    } else {
      std::fprintf(stderr, "usage: agent_mixed_bench [seconds=60] [json] [close] [spans=N a request]\n");
      return 2;
    }
  }
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

  httplib::Client otlp_client("127.0.0.1", otlp_port);
  otlp_client.set_keep_alive(how.keep_alive);
  std::ofstream log_file(in + "/logs/app.log", std::ios::app);
  std::mt19937_64 rng(1);
  std::vector<agent::journald::ExportEntry> journal_batch;
  const pid_t pid = c.agent_pid();
  const double cpu0 = CpuSeconds(pid);
  std::vector<double> rss;
  int64_t lines = 0, entries = 0, spans = 0, spans_due = 0, events = 0, http_errors = 0, busy = 0;
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
    // 20 spans are due every tick; they go out `spans_per_request` at a time.
    spans_due += 20;
    if (spans_due >= how.spans_per_request) {
      spans_due -= how.spans_per_request;
      if (int code = PostSpans(otlp_client, how, how.spans_per_request, rng); code == 200) {
        spans += how.spans_per_request;
      } else {
        ++http_errors;
      }
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
      "agent_mixed: %d s, %.0f file lines/s + %.0f journal entries/s + %.0f spans/s (OTLP/%s, %d a request, %s) + "
      "%.0f access events/s, "
      "metrics and 2 stand-in GPUs every 10 s: agent CPU %.2f%% of one core, RSS max %.1f MiB "
      "(http errors %lld, busy replies %lld, all stored: %s) | target < 2%% and < 30 MiB\n",
      seconds, static_cast<double>(lines) / elapsed, static_cast<double>(entries) / elapsed,
      static_cast<double>(spans) / elapsed, how.protobuf ? "protobuf" : "JSON", how.spans_per_request,
      how.keep_alive ? "one kept-alive connection" : "a connection a request", static_cast<double>(events) / elapsed,
      cpu_pct, rss_max,
      static_cast<long long>(http_errors), static_cast<long long>(busy), all ? "yes" : "NO");
  std::string rm = "rm -rf '" + in + "'";
  (void)std::system(rm.c_str());
  return all ? 0 : 1;
}
