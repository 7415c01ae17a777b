// Real fanotify: child processes (cat, sh, perl, mv, rm) touch files under a
// watched root in a temp dir; the source must report who did what. Needs
// root (CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH); skipped, saying so, without it.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <fstream>
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

class FanotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "fanotify needs root (CAP_SYS_ADMIN); not root here";
    dir_ = MakeTempDir("custos_access_fan");
    root_ = dir_ + "/data";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/imagenet").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/imagenet/train").c_str(), 0755), 0);
    h_ = std::make_unique<Harness>(dir_ + "/spool");
    src_ = h_->Make("roots = [\"" + root_ + "\"]\nsocket = \"\"\ncoalesce_window = \"1h\"\n"
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
