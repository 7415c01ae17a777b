// End-to-end: one agent with every source enabled against a real collector.
// Real inputs throughout: journal files written by systemd-journal-remote, a
// log file, the stand-in libnvidia-ml, the OpenTelemetry JS SDK, a data
// service on the access socket and a real process (perl) reading a dataset file
// under fanotify. Every record kind must reach the collector's store, and
// the audit log must still verify.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "agent/sources/journald/journal_remote_testing.h"
#include "common/files.h"
#include "tests/e2e/harness.h"

namespace custos::e2e {
namespace {

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Runs `cmd` through the shell; returns its exit status and its stdout.
int Shell(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(AllSourcesE2E, EveryRecordKindReachesTheStore) {
  const std::string journal_remote = agent::journald::FindJournalRemote();
  ASSERT_FALSE(journal_remote.empty()) << "systemd-journal-remote is needed (scripts/bootstrap.sh installs it)";
  const char* source_dir = std::getenv("CUSTOS_SOURCE_DIR");
  ASSERT_NE(source_dir, nullptr);
  const std::string js_dir = std::string(source_dir) + "/agent/sources/otlp/js";
  ASSERT_TRUE(access((js_dir + "/node_modules").c_str(), F_OK) == 0)
      << "run scripts/bootstrap.sh: the OpenTelemetry JS SDK is missing from " << js_dir;

  char tmpl[] = "/tmp/custos_all_XXXXXX";
  const std::string in = mkdtemp(tmpl);
  for (const char* d : {"/journal", "/logs", "/data/imagenet", "/run"}) ASSERT_TRUE(MakeDirs(in + d).ok());

  // Inputs that exist before the agent starts.
  // Current times: the collector's retention (7 days) removes older records.
  const uint64_t now_usec = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::vector<agent::journald::ExportEntry> entries;
  for (int i = 1; i <= 3; ++i) {
    entries.push_back({.realtime_usec = now_usec + static_cast<uint64_t>(i),
                       .monotonic_usec = static_cast<uint64_t>(i),
                       .fields = {{"MESSAGE", "journal entry " + std::to_string(i)},
                                  {"PRIORITY", "3"},
                                  {"_SYSTEMD_UNIT", "train.service"},
                                  {"_PID", "4242"}}});
  }
  ASSERT_TRUE(agent::journald::WriteJournal(journal_remote, in + "/journal/remote.journal", entries).ok());
  ASSERT_TRUE(WriteFileAtomic(in + "/logs/app.log", "file line 1\nfile line 2\nfile line 3\n").ok());
  ASSERT_TRUE(WriteFileAtomic(in + "/data/imagenet/shard-0.tar", std::string(64 * 1024, 'x')).ok());
  ASSERT_TRUE(WriteFileAtomic(in + "/nvml.scenario",
                              "gpus = 1\ngpu0.uuid = GPU-e2e\ngpu0.name = Stand-in H100\n"
                              "gpu0.utilization = 87,40\ngpu0.memory = 85899345920,1000,2000\n"
                              "gpu0.power_mw = 312500\ngpu0.temperature = 61\nevent.1 = 0:xid:79\n")
                  .ok());
  setenv("CUSTOS_FAKE_NVML_SCENARIO", (in + "/nvml.scenario").c_str(), 1);

  const int otlp_port = FreePort();
  const std::string socket_path = in + "/run/access.sock";
  Cluster c("[batch]\nflush_interval = \"50ms\"\n"
            "[sender]\nheartbeat = \"1s\"\n"
            "[sources.host_metrics]\ninterval = \"1s\"\ncgroups = false\n"
            "[sources.journald]\nenabled = true\ndirectory = \"" + in + "/journal\"\nstart_at = \"beginning\"\n"
            "[sources.files]\nenabled = true\npaths = [\"" + in + "/logs/*.log\"]\nstart_at = \"beginning\"\n"
            "poll_interval = \"50ms\"\n"
            "[sources.gpu]\nenabled = true\nlibrary = \"" CUSTOS_FAKE_NVML "\"\ninterval = \"1s\"\n"
            "[sources.otlp]\nenabled = true\nlisten = \"127.0.0.1:" + std::to_string(otlp_port) + "\"\n"
            "[sources.access]\nenabled = true\nroots = [\"" + in + "/data\"]\nsocket = \"" + socket_path + "\"\n"
            "coalesce_window = \"100ms\"\n"
            "[[sources.access.datasets]]\nid = \"imagenet\"\nclassification = \"internal\"\n"
            "home_region = \"eu-central-1\"\npaths = [\"" + in + "/data/imagenet/**\"]\n"
            "uris = [\"s3://ml-datasets/imagenet/*\"]\n");
  c.StartCollector();
  c.StartAgent();
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i, SleepMs(50)) ready = access(socket_path.c_str(), F_OK) == 0;
  ASSERT_TRUE(ready) << "the access socket never appeared\n" << c.ReadLog("agent");

  // Inputs while it runs: a span tree, a data service's report, a real read.
  std::string out;
  EXPECT_EQ(Shell("cd '" + js_dir + "' && node send_spans.js http://127.0.0.1:" + std::to_string(otlp_port) +
                      "/v1/traces proto 2>&1",
                  &out),
            0)
      << out;
  EXPECT_EQ(SendAccessLine(socket_path, R"({"action":"read","object":"s3://ml-datasets/imagenet/shard-7.tar",)"
                                        R"("service_identity":"svc:trainer","bytes":4096,"outcome":"success"})"),
            R"({"ok":true})");
  out.clear();
  // The reader outlives its read by a second, as a training job does: the
  // agent names a process from /proc, which a process that exits at once
  // may leave before its close event is read.
  EXPECT_EQ(Shell("perl -e 'open(my $f, \"<\", $ARGV[0]) or die; local $/; my $d = <$f>; close $f; "
                  "print length($d); sleep 1' '" + in + "/data/imagenet/shard-0.tar'",
                  &out),
            0);
  EXPECT_EQ(Trim(out), "65536");

  struct Expect {
    const char* what;
    std::string sql;
    int64_t want;
  } expects[] = {
      {"journald logs", "SELECT count(*) FROM logs WHERE source = 'journald' AND message LIKE 'journal entry %'", 3},
      {"file logs", "SELECT count(*) FROM logs WHERE source LIKE 'file:%' AND message LIKE 'file line %'", 3},
      {"host metrics", "SELECT count(*) FROM metrics WHERE name LIKE 'node_%'", 1},
      {"spans", "SELECT count(DISTINCT span_id) FROM spans", 2},
      {"gpu samples", "SELECT count(*) FROM gpu_samples WHERE gpu_uuid = 'GPU-e2e' AND sm_utilization_pct = 87", 1},
      {"gpu xid event", "SELECT count(*) FROM gpu_events WHERE kind = 'xid' AND code = 79", 1},
      {"socket access", "SELECT count(*) FROM access_events WHERE source = 'socket' AND dataset_id = 'imagenet' "
                        "AND service_identity = 'svc:trainer'", 1},
      {"fanotify access", "SELECT count(*) FROM access_events WHERE source = 'fanotify' AND dataset_id = 'imagenet' "
                          "AND executable LIKE '%perl%' AND action = 1", 1},
  };
  for (const Expect& e : expects) {
    EXPECT_TRUE(c.WaitFor(e.sql, e.want, 60)) << e.what << ": " << c.QueryInt(e.sql) << " rows, want " << e.want
                                              << "\nagent log:\n" << c.ReadLog("agent").substr(0, 6000);
  }
  // The span tree kept its shape: the child's parent is the other span.
  EXPECT_EQ(c.QueryInt("SELECT count(*) FROM spans a JOIN spans b ON a.parent_span_id = b.span_id "
                       "AND a.trace_id = b.trace_id"),
            1);
  EXPECT_EQ(c.QueryInt("SELECT count(*) FROM gaps"), 0);
  // Both access events are in the audit log, which verifies. (An export
  // holds what a checkpoint covers, so wait for both, not just the first.)
  EXPECT_GE(c.CountAuditRecords("access", "", /*at_least=*/2), 2);
  c.KillCollector(SIGTERM);
  out.clear();
  EXPECT_EQ(c.VerifyAudit(&out), 0) << out;
  unsetenv("CUSTOS_FAKE_NVML_SCENARIO");
  std::string rm = "rm -rf '" + in + "'";
  (void)std::system(rm.c_str());
}

}  // namespace
}  // namespace custos::e2e
