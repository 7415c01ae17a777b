// The journald source against REAL journal files, written by
// systemd-journal-remote (Debian package systemd-journal-remote: a required
// test package) from the journal export format.
#include "agent/sources/journald/journald_source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "agent/core/spool.h"
#include "agent/core/spool_testing.h"
#include "agent/sources/journald/journal_remote_testing.h"

namespace custos::agent::journald {
namespace {

constexpr uint64_t kBaseRealtimeUsec = 1'700'000'000'000'000;

std::string TempDir() {
  char tmpl[] = "/tmp/custos_journald_XXXXXX";
  char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d != nullptr ? d : "/nonexistent";
}

// Entry number i: realtime and monotonic grow with i (files written later sort
// later), MESSAGE "entry <i>", TEST_INDEX i, then `extra` fields.
ExportEntry Entry(int i, std::vector<std::pair<std::string, std::string>> extra = {}) {
  ExportEntry e;
  e.realtime_usec = kBaseRealtimeUsec + static_cast<uint64_t>(i) * 1000;
  e.monotonic_usec = 1'000'000 + static_cast<uint64_t>(i) * 1000;
  e.fields = {{"MESSAGE", "entry " + std::to_string(i)}, {"TEST_INDEX", std::to_string(i)}};
  for (auto& f : extra) e.fields.push_back(std::move(f));
  return e;
}

std::vector<ExportEntry> Entries(int first, int last) {
  std::vector<ExportEntry> out;
  for (int i = first; i <= last; ++i) out.push_back(Entry(i));
  return out;
}

class JournaldSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    journal_remote_ = FindJournalRemote();
    ASSERT_FALSE(journal_remote_.empty())
        << "systemd-journal-remote not found (looked at $CUSTOS_JOURNAL_REMOTE, /lib/systemd and /usr/lib/systemd): "
           "install the Debian package systemd-journal-remote, a required test package";
    journal_dir_ = TempDir();
    spool_dir_ = TempDir();
  }
  void TearDown() override {
    if (HasFailure()) return;  // keep the journal and spool for a look
    std::error_code ignored;
    std::filesystem::remove_all(journal_dir_, ignored);
    std::filesystem::remove_all(spool_dir_, ignored);
  }

  void Write(const std::string& file, const std::vector<ExportEntry>& entries) {
    Status s = WriteJournal(journal_remote_, journal_dir_ + "/" + file, entries);
    ASSERT_TRUE(s.ok()) << s.ToString() << " (see " << journal_dir_ << "/" << file << ".stderr)";
  }

  std::string journal_remote_;
  std::string journal_dir_;
  std::string spool_dir_;
};

// One agent "process": spool, batcher (flushed by the test) and a source.
struct Harness {
  explicit Harness(const std::string& spool_dir, BatcherOptions options = {.agent_id = "node-1"}) {
    auto s = Spool::Open(SpoolOptions{.dir = spool_dir}, metrics);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    spool = std::move(*s);
    node.set_node_id("node-1");
    batcher = std::make_unique<Batcher>(options, *spool, node, metrics, clock);
    context = std::make_unique<SourceContext>(SourceContext{*batcher, metrics, clock, node});
  }
  ~Harness() {
    if (source) source->Stop();
  }

  // Builds the source from a [sources.journald] body.
  void Make(const std::string& body) {
    auto file = ConfigFile::Parse("[sources.journald]\n" + body, "agent.toml");
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    ConfigSection section = file->Section("sources").Section("journald");
    auto src = CreateJournaldSource(section, *context);
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    ASSERT_TRUE(file->Finish().ok());
    source = std::move(*src);
  }

  struct Got {
    v1::LogRecord log;
    v1::Resource resource;
  };
  std::vector<Got> Spooled() {
    std::vector<Got> out;
    for (const v1::Batch& b : PendingBatches(*spool)) {
      for (const v1::Record& r : b.records()) {
        if (!r.has_log()) continue;
        EXPECT_LT(r.log().resource_ref(), static_cast<uint32_t>(b.resources_size()));
        out.push_back({r.log(), b.resources(static_cast<int>(r.log().resource_ref()))});
      }
    }
    return out;
  }
  std::vector<int> SpooledIndexes() {
    std::vector<int> out;
    for (const Got& g : Spooled()) out.push_back(std::stoi(g.log.fields().at("TEST_INDEX")));
    return out;
  }
  size_t EmptyBatches() {
    size_t n = 0;
    for (const v1::Batch& b : PendingBatches(*spool)) n += b.records_size() == 0;
    return n;
  }

  // Flushes until `done` holds; bounded (60 s) so a broken source fails, not hangs.
  bool WaitUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 6000; ++i) {
      Status s = batcher->FlushNow();
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  bool WaitForRecords(size_t n) {
    return WaitUntil([&] { return Spooled().size() >= n; });
  }
  double Metric(const std::string& name, const MetricLabels& labels = {}) { return metrics.Value(name, labels); }

  MetricsRegistry metrics;
  FakeClock clock;
  v1::Resource node;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<SourceContext> context;
  std::unique_ptr<Source> source;
};

std::vector<int> Range(int first, int last) {
  std::vector<int> out;
  for (int i = first; i <= last; ++i) out.push_back(i);
  return out;
}

TEST_F(JournaldSourceTest, MapsFieldsOfRealEntries) {
  const std::string kMultibyte = [] {
    std::string s;
    for (int i = 0; i < 40; ++i) s += "\xC3\xA9";  // 40 × 'é', 80 bytes
    return s;
  }();
  Write("a.journal",
        {Entry(1, {{"PRIORITY", "3"},
                   {"_SYSTEMD_UNIT", "nginx.service"},
                   {"_PID", "4242"},
                   {"_COMM", "nginx"},
                   {"_HOSTNAME", "web-1"},
                   {"SYSLOG_IDENTIFIER", "nginx"},
                   {"_UID", "33"},
                   {"TRACE_ID", "4bf92f3577b34da6a3ce929d0e0e4736"},
                   {"SPAN_ID", "00F067AA0BA902B7"}}),
         [] {
           ExportEntry e = Entry(2, {{"PRIORITY", "0"}});
           e.fields[0].second = std::string("bad \xFF\xFE bytes\nsecond line");  // binary MESSAGE
           return e;
         }(),
         Entry(3, {{"PRIORITY", "7"}, {"_PID", "not-a-pid"}, {"TRACE_ID", "xyz"}, {"BIG", std::string(5000, 'x')}}),
         [&] {
           ExportEntry e = Entry(4, {{"PRIORITY", "6"}, {"_SYSTEMD_UNIT", "cron.service"}});
           e.fields[0].second = kMultibyte;
           return e;
         }()});
  Harness h(spool_dir_);
  h.Make("directory = \"" + journal_dir_ + "\"\nstart_at = \"beginning\"\nfields = [\"TEST_INDEX\", \"BIG\"]\n"
         "max_field_bytes = \"1KiB\"\nmax_message_bytes = 64\n");
  ASSERT_TRUE(h.source->Start("").ok());
  ASSERT_TRUE(h.WaitForRecords(4));
  h.source->Stop();
  std::vector<Harness::Got> got = h.Spooled();
  ASSERT_EQ(got.size(), 4u);

  const v1::LogRecord& a = got[0].log;
  EXPECT_EQ(a.message(), "entry 1");
  EXPECT_EQ(a.severity(), v1::SEVERITY_ERROR);
  EXPECT_EQ(a.time_unix_nano(), (kBaseRealtimeUsec + 1000) * 1000);
  EXPECT_EQ(a.source(), "journald");
  EXPECT_EQ(a.pid(), 4242);
  EXPECT_EQ(a.comm(), "nginx");
  EXPECT_EQ(a.fields().at("hostname"), "web-1");
  EXPECT_EQ(a.fields().at("syslog_identifier"), "nginx");
  EXPECT_EQ(a.fields().at("uid"), "33");
  EXPECT_EQ(a.trace_id(), std::string("\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36", 16));
  EXPECT_EQ(a.span_id(), std::string("\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8));
  EXPECT_EQ(got[0].resource.systemd_unit(), "nginx.service");
  EXPECT_EQ(got[0].resource.node_id(), "node-1");

  const v1::LogRecord& b = got[1].log;
  EXPECT_EQ(b.message(), "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes\nsecond line");
  EXPECT_EQ(b.severity(), v1::SEVERITY_EMERGENCY);
  EXPECT_EQ(got[1].resource.systemd_unit(), "");  // the node itself

  const v1::LogRecord& c = got[2].log;
  EXPECT_EQ(c.severity(), v1::SEVERITY_DEBUG);
  EXPECT_EQ(c.pid(), 0);
  EXPECT_EQ(c.fields().at("_PID"), "not-a-pid");
  EXPECT_EQ(c.trace_id(), "");
  EXPECT_EQ(c.fields().at("TRACE_ID"), "xyz");
  EXPECT_EQ(c.fields().at("BIG"), std::string(1024, 'x'));

  const v1::LogRecord& d = got[3].log;
  EXPECT_EQ(d.message(), kMultibyte.substr(0, 64));  // cut between characters
  EXPECT_EQ(d.severity(), v1::SEVERITY_INFO);
  EXPECT_EQ(got[3].resource.systemd_unit(), "cron.service");

  EXPECT_EQ(h.Metric("custos_agent_journald_entries_read_total"), 4);
  EXPECT_GT(h.Metric("custos_agent_journald_bytes_read_total"), 5000);
  EXPECT_EQ(h.Metric("custos_agent_journald_field_issues_total", {{"kind", "invalid_utf8"}}), 1);
  EXPECT_EQ(h.Metric("custos_agent_journald_field_issues_total", {{"kind", "malformed"}}), 2);
  EXPECT_EQ(h.Metric("custos_agent_journald_field_issues_total", {{"kind", "truncated"}}), 2);
}

TEST_F(JournaldSourceTest, FiltersByUnitAndPriority) {
  std::vector<ExportEntry> entries;
  std::vector<int> expected;
  const std::vector<std::string> units = {"a.service", "b.service", "c.service"};
  int i = 0;
  for (const std::string& unit : units) {
    for (int p = 0; p <= 7; ++p) {
      ++i;
      entries.push_back(Entry(i, {{"_SYSTEMD_UNIT", unit}, {"PRIORITY", std::to_string(p)}}));
      if (unit != "c.service" && p <= 4) expected.push_back(i);
    }
  }
  entries.push_back(Entry(99, {{"_SYSTEMD_UNIT", "a.service"}}));  // no PRIORITY: filtered out
  entries.push_back(Entry(100, {{"_SYSTEMD_UNIT", "b.service"}, {"PRIORITY", "1"}}));  // the last match
  expected.push_back(100);
  Write("a.journal", entries);

  Harness h(spool_dir_);
  h.Make("directory = \"" + journal_dir_ + "\"\nstart_at = \"beginning\"\nfields = [\"TEST_INDEX\"]\n"
         "units = [\"a.service\", \"b.service\"]\npriority = \"warning\"\n");
  ASSERT_TRUE(h.source->Start("").ok());
  // Entry 100 is the last match in the journal: once it is in, all are.
  ASSERT_TRUE(h.WaitUntil([&] {
    std::vector<int> got = h.SpooledIndexes();
    return !got.empty() && got.back() == 100;
  }));
  h.source->Stop();
  EXPECT_EQ(h.SpooledIndexes(), expected);
  for (const Harness::Got& g : h.Spooled()) {
    EXPECT_NE(g.resource.systemd_unit(), "c.service");
    EXPECT_GE(g.log.severity(), v1::SEVERITY_WARNING);
  }
}

TEST_F(JournaldSourceTest, ResumesFromTheSpooledCursorWithoutRepeatOrLoss) {
  Write("a.journal", Entries(1, 30));
  const std::string config = "directory = \"" + journal_dir_ +
                             "\"\nstart_at = \"beginning\"\nfields = [\"TEST_INDEX\"]\nchunk_entries = 7\n";
  {
    Harness h(spool_dir_);
    h.Make(config);
    ASSERT_TRUE(h.source->Start("").ok());
    ASSERT_TRUE(h.WaitForRecords(30));
    h.source->Stop();
    EXPECT_EQ(h.SpooledIndexes(), Range(1, 30));
  }
  // While the agent is down: more entries in the same file, and a new file.
  Write("a.journal", Entries(31, 40));
  Write("b.journal", Entries(41, 55));

  // A new process recovers the position from the spool alone.
  Harness h(spool_dir_);
  ASSERT_TRUE(h.spool->RecoveredPositions().contains("journald"));
  const std::string cursor = h.spool->RecoveredPositions().at("journald");
  EXPECT_NE(cursor.find(";i=1e;"), std::string::npos) << cursor;  // the 30th (0x1e) entry of a.journal
  h.Make(config);
  ASSERT_TRUE(h.source->Start(cursor).ok());
  ASSERT_TRUE(h.WaitForRecords(55));
  h.source->Stop();
  EXPECT_EQ(h.SpooledIndexes(), Range(1, 55));  // the first 30 are still unacked in the spool
  EXPECT_EQ(h.Metric("custos_agent_journald_entries_read_total"), 25);
  EXPECT_EQ(h.Metric("custos_agent_journald_cursor_resets_total", {{"reason", "not_found"}}), 0);
  EXPECT_EQ(h.Metric("custos_agent_journald_cursor_resets_total", {{"reason", "unparseable"}}), 0);
}

TEST_F(JournaldSourceTest, StartsAtTheEndAndFollowsAppendsAndNewFiles) {
  Write("a.journal", Entries(1, 5));
  Harness h(spool_dir_);
  h.Make("directory = \"" + journal_dir_ + "\"\nfields = [\"TEST_INDEX\"]\n");  // start_at = "end"
  ASSERT_TRUE(h.source->Start("").ok());
  // The starting point (entry 5) is saved first, as a batch without records.
  ASSERT_TRUE(h.WaitUntil([&] { return h.EmptyBatches() == 1; }));

  Write("a.journal", Entries(6, 10));  // appended while followed
  ASSERT_TRUE(h.WaitForRecords(5));
  Write("b.journal", Entries(11, 20));  // a new file appears in the directory
  ASSERT_TRUE(h.WaitForRecords(15));
  h.source->Stop();
  EXPECT_EQ(h.SpooledIndexes(), Range(6, 20));
}

TEST_F(JournaldSourceTest, StartAtEndPositionSurvivesARestartBeforeAnyNewEntry) {
  Write("a.journal", Entries(1, 5));
  const std::string config = "directory = \"" + journal_dir_ + "\"\nfields = [\"TEST_INDEX\"]\n";
  {
    Harness h(spool_dir_);
    h.Make(config);
    ASSERT_TRUE(h.source->Start("").ok());
    ASSERT_TRUE(h.WaitUntil([&] { return h.EmptyBatches() == 1; }));
    h.source->Stop();
  }
  Write("a.journal", Entries(6, 8));  // written while the agent was down
  Harness h(spool_dir_);
  ASSERT_TRUE(h.spool->RecoveredPositions().contains("journald"));
  h.Make(config);
  ASSERT_TRUE(h.source->Start(h.spool->RecoveredPositions().at("journald")).ok());
  ASSERT_TRUE(h.WaitForRecords(3));
  h.source->Stop();
  EXPECT_EQ(h.SpooledIndexes(), Range(6, 8));
}

TEST_F(JournaldSourceTest, FullBatcherMakesTheSourceWaitAndRetryTheSameChunk) {
  Write("a.journal", Entries(1, 40));
  // At most 10 records pending and nobody flushing: the third chunk of 4 is refused.
  Harness h(spool_dir_, BatcherOptions{.agent_id = "node-1", .max_pending_records = 10});
  h.Make("directory = \"" + journal_dir_ +
         "\"\nstart_at = \"beginning\"\nfields = [\"TEST_INDEX\"]\nchunk_entries = 4\n");
  ASSERT_TRUE(h.source->Start("").ok());
  for (int i = 0; i < 6000 && h.Metric("custos_agent_journald_backpressure_waits_total") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(h.Metric("custos_agent_journald_backpressure_waits_total"), 0);
  ASSERT_TRUE(h.WaitForRecords(40));
  h.source->Stop();
  EXPECT_EQ(h.SpooledIndexes(), Range(1, 40));
  EXPECT_EQ(h.Metric("custos_agent_records_dropped_total"), 0);
}

TEST_F(JournaldSourceTest, UnparseableCursorStartsFromStartAt) {
  Write("a.journal", Entries(1, 5));
  Harness h(spool_dir_);
  h.Make("directory = \"" + journal_dir_ + "\"\nstart_at = \"beginning\"\nfields = [\"TEST_INDEX\"]\n");
  ASSERT_TRUE(h.source->Start("garbage;not a cursor").ok());
  ASSERT_TRUE(h.WaitForRecords(5));
  h.source->Stop();
  EXPECT_EQ(h.SpooledIndexes(), Range(1, 5));
  EXPECT_EQ(h.Metric("custos_agent_journald_cursor_resets_total", {{"reason", "unparseable"}}), 1);
}

TEST_F(JournaldSourceTest, VacuumedCursorResumesAtTheNextEntry) {
  Write("a.journal", Entries(1, 5));
  const std::string config = "directory = \"" + journal_dir_ +
                             "\"\nstart_at = \"beginning\"\nfields = [\"TEST_INDEX\"]\n";
  {
    Harness h(spool_dir_);
    h.Make(config);
    ASSERT_TRUE(h.source->Start("").ok());
    ASSERT_TRUE(h.WaitForRecords(5));
    h.source->Stop();
  }
  // The file holding the saved entry is vacuumed; newer entries are in another.
  ASSERT_EQ(unlink((journal_dir_ + "/a.journal").c_str()), 0);
  Write("b.journal", Entries(6, 10));
  Harness h(spool_dir_);
  h.Make(config);
  ASSERT_TRUE(h.source->Start(h.spool->RecoveredPositions().at("journald")).ok());
  ASSERT_TRUE(h.WaitForRecords(10));
  h.source->Stop();
  EXPECT_EQ(h.SpooledIndexes(), Range(1, 10));
  EXPECT_EQ(h.Metric("custos_agent_journald_cursor_resets_total", {{"reason", "not_found"}}), 1);
}

TEST_F(JournaldSourceTest, UnreadableFilesAreCountedAndGoodFilesStillRead) {
  // A real file with enough entries to span several pages, then truncated.
  std::vector<ExportEntry> many;
  for (int i = 1000; i < 3000; ++i) many.push_back(Entry(i));
  Write("big.journal", many);
  ASSERT_EQ(truncate((journal_dir_ + "/big.journal").c_str(), 100'000), 0);
  {
    std::ofstream garbage(journal_dir_ + "/garbage.journal", std::ios::binary);
    for (int i = 0; i < 4096; ++i) garbage.put(static_cast<char>((i * 7919) & 0xff));
  }
  Write("good.journal", Entries(1, 5));
  Harness h(spool_dir_);
  h.Make("directory = \"" + journal_dir_ + "\"\nstart_at = \"beginning\"\nfields = [\"TEST_INDEX\"]\n");
  ASSERT_TRUE(h.source->Start("").ok());
  ASSERT_TRUE(h.WaitForRecords(5));
  h.source->Stop();
  EXPECT_EQ(h.SpooledIndexes(), Range(1, 5));
  EXPECT_EQ(h.Metric("custos_agent_journald_bad_files_total"), 2);
}

TEST_F(JournaldSourceTest, MissingDirectoryIsLoggedOnceAndReadOnceItAppears) {
  const std::string dir = journal_dir_ + "/later";
  Harness h(spool_dir_);
  h.Make("directory = \"" + dir + "\"\nfields = [\"TEST_INDEX\"]\nretry_interval = \"20ms\"\n");
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(h.source->Start("").ok());
  for (int i = 0; i < 6000 && h.Metric("custos_agent_journald_errors_total", {{"op", "open"}}) < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(h.Metric("custos_agent_journald_errors_total", {{"op", "open"}}), 5);
  // The journal appears: all of it is new (it did not exist when first tried),
  // so start_at = "end" does not skip it.
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  Status s = WriteJournal(journal_remote_, dir + "/a.journal", Entries(1, 3));
  ASSERT_TRUE(s.ok()) << s.ToString();
  bool arrived = h.WaitForRecords(3);
  h.source->Stop();
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(arrived);
  EXPECT_EQ(h.SpooledIndexes(), Range(1, 3));
  size_t lines = 0;
  for (size_t pos = 0; (pos = err.find("cannot open the journal", pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(lines, 1u) << err;
  EXPECT_NE(err.find("ENOENT"), std::string::npos) << err;
  EXPECT_NE(err.find("journal opened after earlier failures"), std::string::npos) << err;
}

// An empty journal directory (systemd-journal-remote's target before the
// first upload): the files that appear in it are new, and must be read whole.
TEST_F(JournaldSourceTest, FilesAppearingInAnEmptyDirectoryAreReadWhole) {
  const std::string dir = journal_dir_ + "/empty";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  Harness h(spool_dir_);
  h.Make("directory = \"" + dir + "\"\nfields = [\"TEST_INDEX\"]\nretry_interval = \"20ms\"\n");
  ASSERT_TRUE(h.source->Start("").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the source waits on the empty journal
  Status s = WriteJournal(journal_remote_, dir + "/a.journal", Entries(1, 3));
  ASSERT_TRUE(s.ok()) << s.ToString();
  bool arrived = h.WaitForRecords(3);
  h.source->Stop();
  ASSERT_TRUE(arrived);
  EXPECT_EQ(h.SpooledIndexes(), Range(1, 3));
}

// A writer that keeps its file open and appends (systemd-journal-remote
// receiving a live stream) into a directory that was empty at start: the
// file may be caught half-created, which sd-journal does not retry on its
// own; the entries must still arrive while the writer is running.
TEST_F(JournaldSourceTest, EntriesOfAFileStillBeingWrittenArrive) {
  const std::string dir = journal_dir_ + "/live";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  Harness h(spool_dir_);
  h.Make("directory = \"" + dir + "\"\nfields = [\"TEST_INDEX\"]\nretry_interval = \"20ms\"\n");
  ASSERT_TRUE(h.source->Start("").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // settled on the empty journal
  JournalRemoteWriter writer(journal_remote_, dir + "/remote.journal");
  for (int i = 1; i <= 20; ++i) {
    writer.Add(Entry(i, {{"_SYSTEMD_UNIT", "train.service"}, {"PRIORITY", "6"}, {"_PID", "4242"}}));
    writer.Flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bool arrived = h.WaitForRecords(20);
  h.source->Stop();
  EXPECT_TRUE(writer.Close().ok());
  ASSERT_TRUE(arrived) << "spooled " << h.SpooledIndexes().size() << " of 20";
  EXPECT_EQ(h.SpooledIndexes(), Range(1, 20));
}

// A journal that exists but cannot be opened at first (here: the configured
// path is a symlink to a regular file, ENOTDIR, then it is pointed at the real
// directory) must not turn start_at = "end" into "beginning": the first open
// that succeeds starts at the end, as if it had been the first attempt.
TEST_F(JournaldSourceTest, TransientOpenFailureOfAnExistingJournalKeepsStartAtEnd) {
  Write("a.journal", Entries(1, 5));
  const std::string other = TempDir();
  const std::string link = other + "/journal";
  { std::ofstream(other + "/not_a_directory") << "x"; }
  ASSERT_EQ(symlink((other + "/not_a_directory").c_str(), link.c_str()), 0);
  Harness h(spool_dir_);
  h.Make("directory = \"" + link + "\"\nfields = [\"TEST_INDEX\"]\nretry_interval = \"20ms\"\n");
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(h.source->Start("").ok());
  for (int i = 0; i < 6000 && h.Metric("custos_agent_journald_errors_total", {{"op", "open"}}) < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(h.Metric("custos_agent_journald_errors_total", {{"op", "open"}}), 3);
  // Atomically point the path at the journal directory.
  ASSERT_EQ(symlink(journal_dir_.c_str(), (link + ".new").c_str()), 0);
  ASSERT_EQ(rename((link + ".new").c_str(), link.c_str()), 0);
  // Opened: the starting point (entry 5) is saved, nothing of 1..5 is read.
  bool started = h.WaitUntil([&] { return h.EmptyBatches() == 1; });
  Write("a.journal", Entries(6, 8));
  bool arrived = started && h.WaitForRecords(3);
  h.source->Stop();
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(started) << err;
  ASSERT_TRUE(arrived) << err;
  EXPECT_EQ(h.SpooledIndexes(), Range(6, 8));
  EXPECT_NE(err.find("ENOTDIR"), std::string::npos) << err;
  std::error_code ignored;
  std::filesystem::remove_all(other, ignored);
}

// The default: the local system journal. Without journald (as on the build
// machine) this is the "no journal files" path; with it, the real journal.
// Either way: Start() succeeds, at most one warning line, Stop() returns.
TEST(JournaldSystemJournalTest, StartsAndStopsWithOrWithoutJournald) {
  const std::string spool_dir = TempDir();
  Harness h(spool_dir);
  h.Make("retry_interval = \"20ms\"\n");
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(h.source->Start("").ok());
  h.WaitUntil([&] {
    return h.Metric("custos_agent_journald_errors_total", {{"op", "open"}}) >= 5 || h.EmptyBatches() > 0 ||
           !h.Spooled().empty();
  });
  h.source->Stop();
  std::string err = ::testing::internal::GetCapturedStderr();
  size_t lines = 0;
  for (size_t pos = 0; (pos = err.find("cannot open the journal", pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_LE(lines, 1u) << err;
  std::error_code ignored;
  std::filesystem::remove_all(spool_dir, ignored);
}

TEST(JournaldConfigTest, RefusesBadValues) {
  struct Case {
    const char* name;
    const char* body;
    const char* error;  // expected in the factory's or Finish()'s message
  };
  const Case cases[] = {
      {"unknown priority", "priority = \"loud\"\n", "priority 'loud'"},
      {"unknown start_at", "start_at = \"middle\"\n", "start_at"},
      {"bad field name", "fields = [\"lower_case\"]\n", "lower_case"},
      {"empty unit", "units = [\"\"]\n", "empty unit"},
      {"tiny message bound", "max_message_bytes = 4\n", "max_message_bytes"},
      {"unknown key", "colour = \"blue\"\n", "colour"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MetricsRegistry metrics;
    FakeClock clock;
    v1::Resource node;
    const std::string spool_dir = TempDir();
    auto spool = Spool::Open(SpoolOptions{.dir = spool_dir}, metrics);
    ASSERT_TRUE(spool.ok());
    Batcher batcher(BatcherOptions{}, **spool, node, metrics, clock);
    SourceContext context{batcher, metrics, clock, node};
    auto file = ConfigFile::Parse(std::string("[sources.journald]\n") + c.body, "agent.toml");
    ASSERT_TRUE(file.ok());
    ConfigSection section = file->Section("sources").Section("journald");
    auto src = CreateJournaldSource(section, context);
    Status finish = file->Finish();
    std::string message = !src.ok() ? src.status().message() : finish.message();
    EXPECT_TRUE(!src.ok() || !finish.ok());
    EXPECT_NE(message.find(c.error), std::string::npos) << message;
    std::error_code ignored;
    std::filesystem::remove_all(spool_dir, ignored);
  }
}

TEST(JournaldConfigTest, ParsesPriorityNamesAndNumbers) {
  const std::pair<const char*, int> cases[] = {{"emerg", 0}, {"alert", 1},   {"crit", 2},  {"err", 3},
                                               {"error", 3}, {"warning", 4}, {"warn", 4},  {"notice", 5},
                                               {"info", 6},  {"debug", 7},   {"0", 0},     {"7", 7}};
  for (const auto& [text, want] : cases) {
    auto p = ParsePriority(text);
    ASSERT_TRUE(p.ok()) << text;
    EXPECT_EQ(*p, want) << text;
  }
  EXPECT_FALSE(ParsePriority("8").ok());
  EXPECT_FALSE(ParsePriority("").ok());
}

}  // namespace
}  // namespace custos::agent::journald
