// Tests of the files source on real files: rotation while a writer runs,
// copytruncate, restart-resume, backpressure and bad input.
#include "agent/sources/files/files_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <thread>

#include "agent/core/spool.h"
#include "agent/core/spool_testing.h"
#include "agent/sources/files/file_identity.h"
#include "common/utf8.h"

namespace custos::agent::files {
namespace {

std::string TempDir(const char* what) {
  std::string tmpl = std::string("/tmp/custos_files_") + what + "_XXXXXX";
  return mkdtemp(tmpl.data());
}

struct Rec {
  std::string message;
  std::string source;
  std::map<std::string, std::string> fields;
};

struct Harness {
  explicit Harness(const std::string& spool_dir, Clock& clk, BatcherOptions options = {.agent_id = "node-1"})
      : clock(clk) {
    auto s = Spool::Open(SpoolOptions{.dir = spool_dir}, metrics);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    spool = std::move(*s);
    node.set_node_id("node-1");
    batcher = std::make_unique<Batcher>(options, *spool, node, metrics, clock);
    context = std::make_unique<SourceContext>(SourceContext{*batcher, metrics, clock, node});
  }
  std::unique_ptr<Source> Make(const std::string& toml) {
    auto file = ConfigFile::Parse("[sources.files]\n" + toml, "agent.toml");
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    ConfigSection section = file->Section("sources").Section("files");
    auto src = CreateFilesSource(section, *context);
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    EXPECT_TRUE(file->Finish().ok());
    return src.ok() ? std::move(*src) : nullptr;
  }
  std::vector<Rec> Records() {
    std::vector<Rec> out;
    for (const v1::Batch& b : PendingBatches(*spool)) {
      for (const v1::Record& r : b.records()) {
        if (!r.has_log()) continue;
        out.push_back({r.log().message(), r.log().source(), {r.log().fields().begin(), r.log().fields().end()}});
      }
    }
    return out;
  }
  // Flushes the batcher until `n` records are spooled (bounded: 60 s).
  bool WaitForRecords(size_t n) {
    return WaitUntil([&] { return Records().size() >= n; });
  }
  bool WaitUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 3000; ++i) {
      EXPECT_TRUE(batcher->FlushNow().ok());
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  double Metric(const std::string& name, const MetricLabels& labels = {}) { return metrics.Value(name, labels); }

  Clock& clock;
  MetricsRegistry metrics;
  v1::Resource node;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<SourceContext> context;
};

void Append(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(fd);
}

std::string NumberedLine(int i) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "line %08d the quick brown fox jumps over the lazy dog 0123456789 abcdefghij\n", i);
  return buf;
}

std::string NumberedLines(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) out += NumberedLine(i);
  return out;
}

int NumberOf(const std::string& message) {
  int n = -1;
  if (std::sscanf(message.c_str(), "line %d", &n) != 1) return -1;
  return n;
}

// Every record is a numbered line, 1..n appear once each and in order.
void ExpectExactlyOnceInOrder(const std::vector<Rec>& records, int n) {
  ASSERT_EQ(records.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(NumberOf(records[i].message), i + 1) << "record " << i << ": " << records[i].message;
    ASSERT_EQ(records[i].message + "\n", NumberedLine(i + 1));
  }
}

const std::string kFast = "poll_interval = \"10ms\"\n";

TEST(FilesSourceTest, TailsLinesAndHoldsThePartialLastLine) {
  FakeClock clock;
  std::string dir = TempDir("tail");
  std::string log = dir + "/app.log";
  Append(log, "first\r\nsecond\npart");
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + dir + "/*.log\"]\nstart_at = \"beginning\"\n" + kFast);
  ASSERT_TRUE(src->Start("").ok());
  ASSERT_TRUE(h.WaitForRecords(2));
  Append(log, "ial\n");
  ASSERT_TRUE(h.WaitForRecords(3));
  src->Stop();
  std::vector<Rec> r = h.Records();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].message, "first");
  EXPECT_EQ(r[1].message, "second");
  EXPECT_EQ(r[2].message, "partial");
  EXPECT_EQ(r[0].source, "file:" + log);
  EXPECT_EQ(r[0].fields.at("path"), log);
  EXPECT_EQ(r[0].fields.at("offset"), "0");
  EXPECT_EQ(r[1].fields.at("offset"), "7");
  EXPECT_EQ(r[2].fields.at("offset"), "14");
  EXPECT_EQ(h.Metric("custos_agent_files_lines_read_total"), 3);
  EXPECT_EQ(h.Metric("custos_agent_files_opened_total"), 1);
}

// A second Start() used to assign a joinable std::thread (std::terminate).
TEST(FilesSourceTest, SecondStartIsRefusedAndChangesNothing) {
  FakeClock clock;
  std::string dir = TempDir("twice");
  std::string log = dir + "/app.log";
  Append(log, "one\n");
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + dir + "/*.log\"]\nstart_at = \"beginning\"\n" + kFast);
  ASSERT_TRUE(src->Start("").ok());
  ASSERT_TRUE(h.WaitForRecords(1));
  Status again = src->Start("");
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.ToString();
  Append(log, "two\n");  // still read, once
  ASSERT_TRUE(h.WaitForRecords(2));
  src->Stop();
  EXPECT_EQ(src->Start("").code(), StatusCode::kFailedPrecondition);  // after Stop() too
  std::vector<Rec> r = h.Records();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].message, "one");
  EXPECT_EQ(r[1].message, "two");
  EXPECT_EQ(h.Metric("custos_agent_files_opened_total"), 1);
}

TEST(FilesSourceTest, StartAtEndOnFirstStartAndNewFilesFromTheirBeginning) {
  FakeClock clock;
  std::string dir = TempDir("startend");
  Append(dir + "/old.log", "old 1\nold 2\nunfinished");
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + dir + "/*.log\"]\nrescan_interval = \"1s\"\n" + kFast);  // start_at = "end"
  ASSERT_TRUE(src->Start("").ok());
  Append(dir + "/old.log", " now\nold 3\n");
  Append(dir + "/new.log", "new 1\n");  // appears after the start: read from its beginning
  clock.Advance(2 * kNanosPerSecond);   // rescan due
  ASSERT_TRUE(h.WaitForRecords(3));
  src->Stop();
  std::vector<std::string> got;
  for (const Rec& r : h.Records()) got.push_back(r.message);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"new 1", "old 3", "unfinished now"}));
}

TEST(FilesSourceTest, RenameAndCreateRotationsWhileWriting) {
  constexpr int kPerFile = 3000, kFiles = 8;
  std::string dir = TempDir("rename");
  std::string log = dir + "/app.log";
  Harness h(TempDir("spool"), Clock::Real());
  auto src = h.Make("paths = [\"" + log + "\"]\nstart_at = \"beginning\"\nrotate_wait = \"100ms\"\n" + kFast);
  Append(log, "");
  ASSERT_TRUE(src->Start("").ok());
  std::thread writer([&] {
    int fd = open(log.c_str(), O_WRONLY | O_APPEND);
    int n = 0;
    for (int gen = 0; gen < kFiles; ++gen) {
      for (int i = 0; i < kPerFile; i += 10) {
        std::string chunk = NumberedLines(n + 1, n + 10);
        n += 10;
        if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) std::abort();
      }
      if (gen + 1 == kFiles) break;
      // logrotate's default: rename, then the application opens a new file.
      // Writes continue into the old file until the new one is open.
      std::string rotated = log + "." + std::to_string(gen + 1);
      if (rename(log.c_str(), rotated.c_str()) != 0) std::abort();
      std::string late = NumberedLines(n + 1, n + 5);
      n += 5;
      if (write(fd, late.data(), late.size()) != static_cast<ssize_t>(late.size())) std::abort();
      int next = open(log.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
      close(fd);
      fd = next;
      // A file created and renamed away within one poll would never be seen
      // (a documented limit of polling): let the source find each new file.
      for (int w = 0; w < 1000 && h.Metric("custos_agent_files_opened_total") < gen + 2; ++w) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    close(fd);
  });
  writer.join();
  constexpr int kTotal = kFiles * kPerFile + (kFiles - 1) * 5;
  ASSERT_TRUE(h.WaitForRecords(kTotal));
  ASSERT_TRUE(h.WaitUntil([&] { return h.Metric("custos_agent_files_closed_total") >= kFiles - 1; }));
  src->Stop();
  ExpectExactlyOnceInOrder(h.Records(), kTotal);
  EXPECT_EQ(h.Metric("custos_agent_files_rotations_total"), kFiles - 1);
  EXPECT_EQ(h.Metric("custos_agent_files_opened_total"), kFiles);
  EXPECT_EQ(h.Metric("custos_agent_files_truncations_total"), 0);
  EXPECT_EQ(h.Metric("custos_agent_files_open"), 1);  // rotated files closed after rotate_wait
  for (const Rec& r : h.Records()) ASSERT_EQ(r.fields.at("path"), log);
}

TEST(FilesSourceTest, CopytruncateRotationsWhileWriting) {
  // copytruncate: copy the file, then truncate it in place; the writer goes
  // on appending (O_APPEND) at the new end. Lines written between the copy and
  // the truncate that the source has not read are only in the copy: that
  // window is inherent to copytruncate, so the writer pauses across it until
  // the source has read what was written, and until it noticed the truncate.
  constexpr int kPerRound = 4000, kRounds = 5;
  std::string dir = TempDir("copytrunc");
  std::string log = dir + "/app.log";
  Append(log, "");
  Harness h(TempDir("spool"), Clock::Real());
  auto src = h.Make("paths = [\"" + log + "\"]\nstart_at = \"beginning\"\n" + kFast);
  ASSERT_TRUE(src->Start("").ok());
  int fd = open(log.c_str(), O_WRONLY | O_APPEND);
  int n = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kPerRound; i += 20) {
      std::string chunk = NumberedLines(n + 1, n + 20);
      n += 20;
      ASSERT_EQ(write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
    }
    if (round + 1 == kRounds) break;
    ASSERT_TRUE(h.WaitUntil([&] { return h.Metric("custos_agent_files_lines_read_total") >= n; }));
    ASSERT_EQ(std::system(("cp " + log + " " + log + "." + std::to_string(round + 1)).c_str()), 0);
    ASSERT_EQ(ftruncate(fd, 0), 0);
    ASSERT_TRUE(h.WaitUntil([&] { return h.Metric("custos_agent_files_truncations_total") >= round + 1; }));
  }
  close(fd);
  ASSERT_TRUE(h.WaitForRecords(kRounds * kPerRound));
  src->Stop();
  ExpectExactlyOnceInOrder(h.Records(), kRounds * kPerRound);
  EXPECT_EQ(h.Metric("custos_agent_files_truncations_total"), kRounds - 1);
  EXPECT_EQ(h.Metric("custos_agent_files_rotations_total"), 0);
}

TEST(FilesSourceTest, RestartResumesExactlyIncludingARotationWhileDown) {
  FakeClock clock;
  std::string dir = TempDir("resume");
  std::string log = dir + "/app.log";
  std::string spool_dir = TempDir("spool");
  const std::string config = "paths = [\"" + log + "\"]\n" + kFast;  // start_at = "end": must not apply on resume
  Append(log, "");
  {
    Harness h(spool_dir, clock);
    auto src = h.Make(config);
    ASSERT_TRUE(src->Start("").ok());
    Append(log, NumberedLines(1, 1000));
    std::string partial = NumberedLine(1001);
    Append(log, partial.substr(0, 20));  // the agent stops in the middle of line 1001
    ASSERT_TRUE(h.WaitForRecords(1000));
    ASSERT_TRUE(h.WaitUntil([&] { return h.Metric("custos_agent_files_bytes_read_total") >= NumberedLines(1, 1000).size() + 20; }));
    src->Stop();
  }  // batcher and spool dropped, as a new process would
  // While the agent is down: line 1001 completes, more lines, then a rotation.
  Append(log, NumberedLine(1001).substr(20) + NumberedLines(1002, 1500));
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  Append(log, NumberedLines(1501, 2000));

  Harness h(spool_dir, clock);
  ASSERT_EQ(h.spool->RecoveredPositions().count("files"), 1u);
  auto src = h.Make(config);
  ASSERT_TRUE(src->Start(h.spool->RecoveredPositions().at("files")).ok());
  ASSERT_TRUE(h.WaitForRecords(2000));
  src->Stop();
  ExpectExactlyOnceInOrder(h.Records(), 2000);
  EXPECT_EQ(h.Metric("custos_agent_files_errors_total", {{"kind", "resume_lost"}}), 0);
}

TEST(FilesSourceTest, BackpressurePausesReadingAndLosesNothing) {
  FakeClock clock;
  std::string dir = TempDir("backpressure");
  std::string log = dir + "/app.log";
  Append(log, NumberedLines(1, 20000));
  Harness h(TempDir("spool"), clock, BatcherOptions{.agent_id = "node-1", .max_pending_records = 100});
  auto src = h.Make("paths = [\"" + log + "\"]\nstart_at = \"beginning\"\n" + kFast);
  ASSERT_TRUE(src->Start("").ok());
  ASSERT_TRUE(h.WaitForRecords(20000));
  src->Stop();
  ExpectExactlyOnceInOrder(h.Records(), 20000);
  EXPECT_GT(h.Metric("custos_agent_files_backpressure_total"), 0);
}

TEST(FilesSourceTest, CorruptPositionFallsBackToStartAt) {
  FakeClock clock;
  std::string dir = TempDir("corrupt");
  std::string log = dir + "/app.log";
  Append(log, "before\n");
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + log + "\"]\n" + kFast);
  ASSERT_TRUE(src->Start("custos-files 1\n12 not a position\n").ok());
  Append(log, "after\n");
  ASSERT_TRUE(h.WaitForRecords(1));
  src->Stop();
  std::vector<Rec> r = h.Records();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].message, "after");  // start_at = "end"
  EXPECT_EQ(h.Metric("custos_agent_files_errors_total", {{"kind", "position_corrupt"}}), 1);
}

TEST(FilesSourceTest, InodeReuseIsToldApartByTheFingerprint) {
  FakeClock clock;
  std::string dir = TempDir("reuse");
  std::string log = dir + "/app.log";
  Append(log, NumberedLines(1, 50));
  struct stat st;
  ASSERT_EQ(stat(log.c_str(), &st), 0);
  // A saved position for this very inode, but of a file whose first bytes
  // were different: the inode was reused by a new file.
  FileIdentity old{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), 12, Fnv1a64("older file\n")};
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + log + "\"]\n" + kFast);
  ASSERT_TRUE(src->Start(EncodePositions({{old, log, 2000, false}})).ok());
  ASSERT_TRUE(h.WaitForRecords(50));
  src->Stop();
  ExpectExactlyOnceInOrder(h.Records(), 50);  // read from its beginning, not from 2000
  EXPECT_EQ(h.Metric("custos_agent_files_errors_total", {{"kind", "resume_lost"}}), 1);
}

TEST(FilesSourceTest, DeletedFileAndVanishedDirectory) {
  FakeClock clock;
  std::string dir = TempDir("vanish");
  std::string sub = dir + "/sub";
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  Append(sub + "/a.log", "one\ntwo\n");
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + sub + "/*.log\"]\nstart_at = \"beginning\"\nrescan_interval = \"1s\"\n" +
                    "rotate_wait = \"1s\"\n" + kFast);
  ASSERT_TRUE(src->Start("").ok());
  ASSERT_TRUE(h.WaitForRecords(2));
  // The file and its directory vanish; the open descriptor still reads the tail.
  int fd = open((sub + "/a.log").c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(std::system(("rm -rf " + sub).c_str()), 0);
  ASSERT_EQ(write(fd, "three\n", 6), 6);
  close(fd);
  ASSERT_TRUE(h.WaitForRecords(3));
  ASSERT_TRUE(h.WaitUntil([&] { return h.Metric("custos_agent_files_rotations_total") >= 1; }));
  clock.Advance(2 * kNanosPerSecond);  // rotate_wait passes: the deleted file is closed
  ASSERT_TRUE(h.WaitUntil([&] { return h.Metric("custos_agent_files_closed_total") >= 1; }));
  EXPECT_EQ(h.Metric("custos_agent_files_open"), 0);
  // The directory comes back with a new file.
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  Append(sub + "/b.log", "four\n");
  clock.Advance(2 * kNanosPerSecond);
  ASSERT_TRUE(h.WaitForRecords(4));
  src->Stop();
  std::vector<std::string> got;
  for (const Rec& r : h.Records()) got.push_back(r.message);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "three", "four"}));
}

TEST(FilesSourceTest, BinaryGarbageAndAnEnormousLine) {
  FakeClock clock;
  std::string dir = TempDir("garbage");
  std::string log = dir + "/app.log";
  std::string garbage;
  uint32_t x = 7;
  for (int i = 0; i < 200000; ++i) {
    x = x * 1664525 + 1013904223;
    garbage.push_back(static_cast<char>(x >> 24));
  }
  garbage += "\n";
  const size_t kHuge = 3 * 1024 * 1024 + 5;
  Append(log, garbage + std::string(kHuge, 'h'));  // no newline yet
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + log + "\"]\nstart_at = \"beginning\"\nmax_line_bytes = \"64KiB\"\n" + kFast);
  ASSERT_TRUE(src->Start("").ok());
  // The enormous line is handed out in 64 KiB pieces as it is read; the last
  // piece only once its newline comes.
  ASSERT_TRUE(h.WaitUntil([&] { return h.Metric("custos_agent_files_lines_truncated_total") >= kHuge / 65536; }));
  Append(log, "\nend\n");
  ASSERT_TRUE(h.WaitUntil([&] {
    std::vector<Rec> r = h.Records();
    return !r.empty() && r.back().message == "end";
  }));
  src->Stop();
  std::vector<Rec> records = h.Records();  // PendingBatches fails the test if a batch does not parse
  size_t huge_bytes = 0;
  size_t pieces = 0;
  for (const Rec& r : records) {
    EXPECT_TRUE(IsValidUtf8(r.message));
    EXPECT_LE(r.message.size(), 64u * 1024 * 3);  // a piece of garbage may triple in U+FFFD
    if (!r.message.empty() && r.message.find_first_not_of('h') == std::string::npos) {
      huge_bytes += r.message.size();
      ++pieces;
      if (r.message.size() == 65536) {
        EXPECT_EQ(r.fields.at("truncated"), "true");
      }
    }
  }
  EXPECT_EQ(huge_bytes, kHuge);
  EXPECT_EQ(pieces, kHuge / 65536 + 1);
  EXPECT_GT(h.Metric("custos_agent_files_invalid_utf8_total"), 0);
}

TEST(FilesSourceTest, MultilineRecordsAndTheirFlushTimeout) {
  FakeClock clock;
  std::string dir = TempDir("multiline");
  std::string log = dir + "/app.log";
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + log + "\"]\nstart_at = \"beginning\"\nmultiline_start = \"^[0-9]{4}-\"\n" +
                    "multiline_flush = \"2s\"\n" + kFast);
  Append(log, "");
  ASSERT_TRUE(src->Start("").ok());
  const std::string text = "2024-01-01 boom\n  at a()\n  at b()\n2024-01-01 second\n  at c()\n";
  Append(log, text);
  ASSERT_TRUE(h.WaitForRecords(1));
  ASSERT_TRUE(h.WaitUntil([&] { return h.Metric("custos_agent_files_bytes_read_total") >= text.size(); }));
  EXPECT_EQ(h.Records().size(), 1u);  // the second record waits for more lines or the timeout
  clock.Advance(2 * kNanosPerSecond);
  ASSERT_TRUE(h.WaitForRecords(2));
  src->Stop();
  std::vector<Rec> r = h.Records();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].message, "2024-01-01 boom\n  at a()\n  at b()");
  EXPECT_EQ(r[1].message, "2024-01-01 second\n  at c()");
  EXPECT_EQ(r[1].fields.at("offset"), "34");
  EXPECT_EQ(h.Metric("custos_agent_files_lines_read_total"), 5);
}

TEST(FilesSourceTest, MaxOpenFilesIsABound) {
  FakeClock clock;
  std::string dir = TempDir("maxopen");
  for (const char* name : {"a.log", "b.log", "c.log"}) Append(dir + "/" + name, std::string(name) + "\n");
  Harness h(TempDir("spool"), clock);
  auto src = h.Make("paths = [\"" + dir + "/*.log\"]\nstart_at = \"beginning\"\nmax_open_files = 2\n" + kFast);
  ASSERT_TRUE(src->Start("").ok());
  ASSERT_TRUE(h.WaitForRecords(2));
  src->Stop();
  std::vector<Rec> r = h.Records();
  ASSERT_EQ(r.size(), 2u);  // sorted order: a and b; c waits for a free slot
  EXPECT_EQ(r[0].message, "a.log");
  EXPECT_EQ(r[1].message, "b.log");
  EXPECT_EQ(h.Metric("custos_agent_files_open"), 2);
  EXPECT_GE(h.Metric("custos_agent_files_errors_total", {{"kind", "max_open_files"}}), 1);
}

TEST(FilesSourceTest, BadConfigIsRefused) {
  FakeClock clock;
  Harness h(TempDir("spool"), clock);
  for (const char* toml : {"", "paths = [\"relative/*.log\"]\n", "paths = [\"/x\"]\nstart_at = \"middle\"\n",
                           "paths = [\"/x\"]\nmultiline_start = \"([\"\n"}) {
    auto file = ConfigFile::Parse(std::string("[sources.files]\n") + toml, "agent.toml");
    ASSERT_TRUE(file.ok());
    ConfigSection section = file->Section("sources").Section("files");
    auto src = CreateFilesSource(section, *h.context);
    EXPECT_EQ(src.status().code(), StatusCode::kInvalidArgument) << toml;
  }
}

}  // namespace
}  // namespace custos::agent::files
