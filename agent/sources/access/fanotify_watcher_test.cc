// Real fanotify: child processes (cat, sh, perl, mv, rm) touch files under a
// watched root in a temp dir; the source must report who did what. Needs
// root (CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH); skipped, saying so, without it.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <future>
#include <iostream>

#include "agent/sources/access/access_testing.h"
#include "agent/sources/access/fanotify_watcher.h"

namespace custos::agent::access {
namespace {

// A child process whose stdin is a pipe: it stays alive (so its /proc
// identity stays readable) until Finish() closes the pipe.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(p[0], 0);
      dup2(devnull, 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(p[0]);
    close(devnull);
    stdin_ = p[1];
  }
  ~Child() { Finish(); }
  pid_t pid() const { return pid_; }
  // Lets it finish; returns its exit status.
  int Finish() {
    if (stdin_ >= 0) {
      close(stdin_);
      stdin_ = -1;
      waitpid(pid_, &status_, 0);
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int status_ = -1;
};

// Starts a short-lived command; the caller reaps it (until then, a zombie
// keeps its uid readable in /proc).
pid_t Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void WriteFile(const std::string& path, size_t bytes) {
  std::ofstream f(path, std::ios::binary);
  f << std::string(bytes, 'x');
}

const SpooledAccess* Find(const std::vector<SpooledAccess>& got, v1::AccessEvent::Action action,
                          const std::string& object, int32_t pid = 0) {
  for (const SpooledAccess& s : got) {
    if (s.event.action() == action && s.event.object() == object && (pid == 0 || s.event.principal().pid() == pid)) {
      return &s;
    }
  }
  return nullptr;
}

// Runs src.Stop() on another thread; true when it returned within 10 s.
// Otherwise calls `unblock` (so that Stop returns and the test can end),
// waits for it and returns false.
bool StopsPromptly(Source& src, const std::function<void()>& unblock) {
  auto done = std::async(std::launch::async, [&src] { src.Stop(); });
  if (done.wait_for(std::chrono::seconds(10)) == std::future_status::ready) return true;
  unblock();
  done.wait();
  return false;
}

class FanotifyTest : public ::testing::Test {
 protected:
  // Coalescing settings: 1 h, so that nothing ends early (Records() flushes).
  virtual std::string CoalesceConfig() const { return "coalesce_window = \"1h\"\n"; }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "fanotify needs root (CAP_SYS_ADMIN); not root here";
    dir_ = MakeTempDir("custos_access_fan");
    root_ = dir_ + "/data";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/imagenet").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/imagenet/train").c_str(), 0755), 0);
    h_ = std::make_unique<Harness>(dir_ + "/spool");
    src_ = h_->Make("roots = [\"" + root_ + "\"]\nsocket = \"\"\n" + CoalesceConfig() +
                    "principal_names = { \"uid:0\" = \"root-principal\" }\n"
                    "[[sources.access.datasets]]\nid = \"imagenet\"\nclassification = \"internal\"\n"
                    "home_region = \"eu-central-1\"\npaths = [\"" + root_ + "/imagenet/**\"]\n");
    ASSERT_TRUE(src_->Start("").ok());
    if (h_->metrics.Value("custos_access_fanotify_enabled") != 1) {
      GTEST_SKIP() << "fanotify is not available in this environment (see the log line above)";
    }
  }
  void TearDown() override {
    if (src_) src_->Stop();
  }
  double Seen() { return h_->metrics.Value("custos_access_events_total", {{"input", "fanotify"}}); }
  // Waits (bounded) until the source has taken at least `n` kernel events.
  bool WaitSeen(double n) {
    for (int i = 0; i < 1000; ++i) {
      if (Seen() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // Stops the source, which drains the kernel queue and flushes every open
  // coalescing window (1 h, so nothing ends early), and returns the records.
  // Events queued before this call are all in them.
  std::vector<SpooledAccess> Records() {
    src_->Stop();
    return h_->Spooled();
  }

  std::string dir_, root_;
  std::unique_ptr<Harness> h_;
  std::unique_ptr<Source> src_;
};

TEST_F(FanotifyTest, ReadWriteCreateRenameDeleteListByRealProcesses) {
  const std::string a = root_ + "/imagenet/train/a.bin";
  WriteFile(a, 4 * 1024 * 1024);  // by the agent's own pid: not reported
  std::string b = root_ + "/imagenet/b.txt";

  Child cat({"/bin/cat", a, "-"});  // reads a, then waits on stdin
  ASSERT_TRUE(WaitSeen(1));
  Child sh({"/bin/sh", "-c", "echo x > " + b + "; read line"});  // create + write
  ASSERT_TRUE(WaitSeen(3));
  Child perl({"/usr/bin/perl", "-e",
              "rename($ARGV[0], $ARGV[1]) or die; mkdir($ARGV[2]) or die; opendir(my $d, $ARGV[3]) or die; "
              "my @x = readdir($d); closedir($d); <STDIN>",
              b, b + ".renamed", root_ + "/imagenet/new", root_ + "/imagenet"});
  ASSERT_TRUE(WaitSeen(7));  // rename (2 records), mkdir, list
  // The new directory is watched: a write inside it is seen.
  std::string inner = root_ + "/imagenet/new/inner.txt";
  Child sh2({"/bin/sh", "-c", "echo y > " + inner + "; read line"});
  ASSERT_TRUE(WaitSeen(9));
  // Short-lived mv and rm: pid, uid, action and path; exe when still readable.
  pid_t mv = Spawn({"/bin/mv", inner, root_ + "/imagenet/moved.txt"});
  ASSERT_TRUE(WaitSeen(11));
  pid_t rm = Spawn({"/bin/rm", root_ + "/imagenet/moved.txt"});
  ASSERT_TRUE(WaitSeen(12));
  waitpid(mv, nullptr, 0);
  waitpid(rm, nullptr, 0);
  // Outside the dataset but under the root: reported without a dataset.
  Child sh3({"/bin/sh", "-c", "echo z > " + root_ + "/other.txt; read line"});
  ASSERT_TRUE(WaitSeen(14));

  std::vector<SpooledAccess> got = Records();
  const std::string sh_exe = "/usr/bin/dash";
  const SpooledAccess* read = Find(got, v1::AccessEvent::ACTION_READ, a, cat.pid());
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->event.principal().executable(), "/usr/bin/cat");
  EXPECT_EQ(read->event.principal().uid(), 0);
  EXPECT_EQ(read->event.principal().user(), "root");
  EXPECT_EQ(read->event.principal().service_identity(), "root-principal");
  EXPECT_EQ(read->event.dataset_id(), "imagenet");
  EXPECT_EQ(read->event.classification(), "internal");
  EXPECT_EQ(read->event.dataset_home_region(), "eu-central-1");
  EXPECT_EQ(read->event.count(), 1u);  // 4 MiB read in many read() calls: one open/close, one event
  EXPECT_EQ(read->event.source(), "fanotify");
  EXPECT_EQ(read->event.outcome(), v1::AccessEvent::OUTCOME_SUCCESS);

  const SpooledAccess* create = Find(got, v1::AccessEvent::ACTION_CREATE, b, sh.pid());
  ASSERT_NE(create, nullptr);
  EXPECT_EQ(create->event.principal().executable(), sh_exe);
  const SpooledAccess* write = Find(got, v1::AccessEvent::ACTION_WRITE, b, sh.pid());
  ASSERT_NE(write, nullptr);
  EXPECT_EQ(write->event.principal().executable(), sh_exe);
  EXPECT_EQ(write->event.dataset_id(), "imagenet");

  const SpooledAccess* from = Find(got, v1::AccessEvent::ACTION_RENAME, b, perl.pid());
  const SpooledAccess* to = Find(got, v1::AccessEvent::ACTION_RENAME, b + ".renamed", perl.pid());
  ASSERT_NE(from, nullptr);
  ASSERT_NE(to, nullptr);
  EXPECT_EQ(to->event.principal().executable(), "/usr/bin/perl");
  const SpooledAccess* mkdir_event = Find(got, v1::AccessEvent::ACTION_CREATE, root_ + "/imagenet/new", perl.pid());
  ASSERT_NE(mkdir_event, nullptr);
  const SpooledAccess* list = Find(got, v1::AccessEvent::ACTION_LIST, root_ + "/imagenet", perl.pid());
  ASSERT_NE(list, nullptr);

  ASSERT_NE(Find(got, v1::AccessEvent::ACTION_CREATE, inner, sh2.pid()), nullptr);
  ASSERT_NE(Find(got, v1::AccessEvent::ACTION_WRITE, inner, sh2.pid()), nullptr);

  const SpooledAccess* mv_from = Find(got, v1::AccessEvent::ACTION_RENAME, inner, mv);
  ASSERT_NE(mv_from, nullptr);
  ASSERT_NE(Find(got, v1::AccessEvent::ACTION_RENAME, root_ + "/imagenet/moved.txt", mv), nullptr);
  const std::string& mv_exe = mv_from->event.principal().executable();
  EXPECT_TRUE(mv_exe.empty() || mv_exe == "/usr/bin/mv") << mv_exe;
  const SpooledAccess* del = Find(got, v1::AccessEvent::ACTION_DELETE, root_ + "/imagenet/moved.txt", rm);
  ASSERT_NE(del, nullptr);
  EXPECT_EQ(del->event.dataset_id(), "imagenet");
  EXPECT_EQ(del->event.principal().uid(), 0);  // unreaped until read: its uid is still in /proc

  const SpooledAccess* other = Find(got, v1::AccessEvent::ACTION_WRITE, root_ + "/other.txt", sh3.pid());
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->event.dataset_id(), "");

  // Nothing from the agent's own pid (it wrote a.bin and walked the tree).
  for (const SpooledAccess& s : got) EXPECT_NE(s.event.principal().pid(), getpid()) << s.event.object();
}

TEST_F(FanotifyTest, RepeatedReadsCoalesceIntoOneRecordWithACount) {
  const std::string f = root_ + "/imagenet/shard.bin";
  WriteFile(f, 4096 * 1000);
  // Perl reads it in 4 KiB chunks 1000 times (one open): one event.
  Child chunks({"/usr/bin/perl", "-e",
                "open(my $h, '<', $ARGV[0]) or die; my $b; for (1..1000) { read($h, $b, 4096) == 4096 or die } "
                "close($h); <STDIN>",
                f});
  ASSERT_TRUE(WaitSeen(1));
  // A shell opens and reads a small file 1000 times: one record with a count.
  const std::string small = root_ + "/imagenet/labels.txt";
  {
    std::ofstream out(small);
    out << "label\n";
  }
  const std::string done = dir_ + "/loop.done";  // outside the root: not an event
  Child loop({"/bin/sh", "-c",
              "i=0; while [ $i -lt 1000 ]; do read x < " + small + "; i=$((i+1)); done; : > " + done + "; read line"});
  struct stat st {};
  for (int i = 0; i < 3000 && stat(done.c_str(), &st) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(stat(done.c_str(), &st), 0) << "the shell loop did not finish";
  ASSERT_TRUE(WaitSeen(2));
  std::vector<SpooledAccess> got = Records();
  const SpooledAccess* one = Find(got, v1::AccessEvent::ACTION_READ, f, chunks.pid());
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->event.count(), 1u);
  int loop_records = 0;
  uint32_t loop_count = 0;
  for (const SpooledAccess& s : got) {
    if (s.event.principal().pid() == loop.pid() && s.event.action() == v1::AccessEvent::ACTION_READ) {
      ++loop_records;
      loop_count += s.event.count();
      EXPECT_EQ(s.event.object(), small);
    }
  }
  EXPECT_EQ(loop_records, 1);  // one record, however many kernel events
  EXPECT_GE(loop_count, 1u);
  EXPECT_LE(loop_count, 1000u);
  std::cout << "1000 open/read/close by one shell: 1 record, count " << loop_count
            << " (the kernel merges identical queued events)\n";
  // Every kernel event taken is in some record's count.
  uint64_t total = 0;
  for (const SpooledAccess& s : got) total += s.event.count();
  EXPECT_EQ(static_cast<double>(total), Seen());
  EXPECT_EQ(h_->metrics.Value("custos_access_coalesced_total"), Seen() - static_cast<double>(got.size()));
}

// A close event on a named FIFO makes the kernel open the FIFO in the
// agent's read(); without O_NONBLOCK that waits for a writer, forever.
TEST_F(FanotifyTest, ANamedFifoUnderARootDoesNotBlockTheWatcher) {
  const std::string fifo = root_ + "/imagenet/pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);  // by the agent's own pid: not reported
  // Opened read-write (no wait for a peer) and closed by another process.
  pid_t opener = Spawn({"/usr/bin/perl", "-e", "open(my $h, '+<', $ARGV[0]) or die; close($h) or die", fifo});
  int status = 0;
  ASSERT_EQ(waitpid(opener, &status, 0), opener);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "perl could not open the FIFO";
  // The watcher goes on: a later read of a regular file is reported.
  const std::string after = root_ + "/imagenet/after.txt";
  WriteFile(after, 100);
  Child cat({"/bin/cat", after, "-"});
  const bool went_on = WaitSeen(1);
  EXPECT_TRUE(went_on) << "no events after the FIFO's: the fanotify thread is blocked";
  int writer = -1;  // if blocked, a writer lets the kernel's open (and so Stop) finish
  EXPECT_TRUE(StopsPromptly(*src_, [&] { writer = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC); }));
  if (writer >= 0) close(writer);
  std::vector<SpooledAccess> got = h_->Spooled();
  EXPECT_NE(Find(got, v1::AccessEvent::ACTION_READ, after, cat.pid()), nullptr);
  // Kernels before ~6.14 report the FIFO's close (the case that blocked);
  // later ones report no events on FIFOs at all.
  std::cout << "the kernel " << (Find(got, v1::AccessEvent::ACTION_WRITE, fifo, opener) ? "reported" : "did not report")
            << " the FIFO's close\n";
}

// Coalescing with a 0 s window: every record is due at the next turn of the
// fanotify thread, so records flowing out show that the thread gets turns.
class FanotifyStormTest : public FanotifyTest {
 protected:
  std::string CoalesceConfig() const override {
    return "coalesce_window = \"0s\"\nmax_coalesce_entries = 10000000\n";
  }
};

// A process opening and closing 2000 files in a loop keeps the kernel queue
// full. Each turn of the fanotify thread reads a bounded amount, so records
// are emitted and Stop() returns while the storm goes on.
TEST_F(FanotifyStormTest, StopReturnsAndRecordsFlowDuringAnEventStorm) {
  const std::string dir = root_ + "/imagenet/train";
  for (int i = 0; i < 2000; ++i) WriteFile(dir + "/s" + std::to_string(i), 1);  // the agent's own: not reported
  pid_t storm = Spawn({"/usr/bin/perl", "-e",
                       "my @f = glob(\"$ARGV[0]/s*\"); @f == 2000 or die; "
                       "for (;;) { for my $f (@f) { open(my $h, '<', $f) or die; close($h) } }",
                       dir});
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reaper{storm};
  ASSERT_TRUE(WaitSeen(20000)) << "the storm did not start";
  std::vector<SpooledAccess> during = h_->WaitFor([](const auto& v) { return !v.empty(); });
  EXPECT_FALSE(during.empty()) << "no record emitted during the storm";
  ASSERT_EQ(waitpid(storm, nullptr, WNOHANG), 0) << "the storm ended early";
  const double seen_before_stop = Seen();
  EXPECT_TRUE(StopsPromptly(*src_, [&] { kill(storm, SIGKILL); }));
  EXPECT_EQ(waitpid(storm, nullptr, WNOHANG), 0) << "Stop returned only once the storm had ended";
  std::cout << "storm: " << seen_before_stop << " kernel events taken before Stop, "
            << h_->metrics.Value("custos_access_fanotify_overflows_total") << " queue overflow(s)\n";
}

// The kernel opens an fd in the reader for each fd-carrying event a read()
// copies, and drops (silently) an event whose fd it cannot open: a read of
// more events than the fd limit allows loses one. Reads are bounded
// (kMaxNotifyEvents), so under a limit of 512 fds, 600 queued events all
// arrive (a 64 KiB read loses one of them).
TEST(FanotifyFdLimitTest, NoEventIsLostToTheOpenFileLimit) {
  if (geteuid() != 0) GTEST_SKIP() << "fanotify needs root";
  std::string dir = MakeTempDir("custos_access_fdlimit");
  constexpr size_t kFiles = 600;
  for (size_t i = 0; i < kFiles; ++i) WriteFile(dir + "/f" + std::to_string(i), 1);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  pid_t child = fork();
  if (child == 0) {
    rlimit rl{512, 512};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(10);
    MetricsRegistry metrics;
    auto w = FanotifyWatcher::Open(FanotifyOptions{.roots = {dir}}, metrics);
    if (!w.ok()) _exit(11);
    pid_t reader = Spawn({"/usr/bin/perl", "-e",
                          "for my $f (glob(\"$ARGV[0]/f*\")) { open(my $h, '<', $f) or die; close($h) or die }", dir});
    int status = 0;
    if (waitpid(reader, &status, 0) != reader || !WIFEXITED(status) || WEXITSTATUS(status) != 0) _exit(12);
    uint64_t reads = 0;
    for (int i = 0; i < 100; ++i) {  // all queued: read until empty
      auto r = (*w)->ReadEvents([&](FileEvent&& e) { reads += e.action == v1::AccessEvent::ACTION_READ; });
      if (r.events == 0) break;
    }
    if (write(p[1], &reads, sizeof(reads)) != sizeof(reads)) _exit(13);
    _exit(0);
  }
  close(p[1]);
  uint64_t reads = 0;
  ssize_t n = read(p[0], &reads, sizeof(reads));
  close(p[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child exit " << WEXITSTATUS(status);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof(reads)));
  EXPECT_EQ(reads, kFiles);
}

// Without CAP_SYS_ADMIN the fanotify input says so and the socket still works.
TEST(FanotifyNoCapTest, WithoutCapSysAdminTheSocketStillWorks) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop a capability it has";
  std::string dir = MakeTempDir("custos_access_nocap");
  ASSERT_EQ(mkdir((dir + "/data").c_str(), 0755), 0);
  pid_t child = fork();
  if (child == 0) {
    // Drop CAP_SYS_ADMIN from the effective set of this (single-threaded) child.
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &hdr, data) != 0) _exit(10);
    data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
    if (syscall(SYS_capset, &hdr, data) != 0) _exit(11);
    MetricsRegistry metrics;
    auto w = FanotifyWatcher::Open(FanotifyOptions{.roots = {dir + "/data"}}, metrics);
    if (w.ok() || w.status().code() != StatusCode::kPermissionDenied) _exit(12);
    {
      Harness h(dir + "/spool");
      auto src = h.Make("roots = [\"" + dir + "/data\"]\nsocket = \"" + dir + "/a.sock\"\n");
      if (!src || !src->Start("").ok()) _exit(13);
      if (h.metrics.Value("custos_access_fanotify_enabled") != 0) _exit(14);
      Client c(dir + "/a.sock");
      c.Write(R"({"action":"read","object":"/x"})" "\n");
      if (c.ReadLine() != R"({"ok":true})") _exit(15);
      src->Stop();
    }
    _exit(::testing::Test::HasFailure() ? 16 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10-11: capset failed; 12: not PERMISSION_DENIED; 13+: source";
}

}  // namespace
}  // namespace custos::agent::access
