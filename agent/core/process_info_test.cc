#include "agent/core/process_info.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/files.h"

namespace custos::agent {
namespace {

TEST(ProcessInfoTest, CgroupPathFromV2AndV1Files) {
  EXPECT_EQ(CgroupPathFromFile("0::/system.slice/train.service\n"), "/system.slice/train.service");
  EXPECT_EQ(CgroupPathFromFile("12:memory:/x\n1:name=systemd:/system.slice/cron.service\n0::/\n"), "/");
  EXPECT_EQ(CgroupPathFromFile("12:memory:/x\n1:name=systemd:/system.slice/cron.service\n"),
            "/system.slice/cron.service");
  EXPECT_EQ(CgroupPathFromFile("garbage without colons\n"), "");
  EXPECT_EQ(CgroupPathFromFile(""), "");
}

TEST(ProcessInfoTest, InnermostUnitOfACgroupPath) {
  struct Case {
    const char* path;
    const char* unit;
  } cases[] = {
      {"/system.slice/train.service", "train.service"},
      {"/user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope", "run-1.scope"},
      {"/system.slice/docker-abc.scope/inner", "docker-abc.scope"},
      {"/user.slice/user-1000.slice", "user-1000.slice"},
      {"/", ""},
      {"", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(UnitFromCgroupPath(c.path), c.unit) << c.path;
}

TEST(ProcessInfoTest, ReadsThisProcess) {
  auto info = ReadProcessInfo(getpid());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->pid, getpid());
  EXPECT_EQ(info->uid, static_cast<int64_t>(getuid()));
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(n, 0);
  EXPECT_EQ(info->executable, std::string(self, static_cast<size_t>(n)));
  EXPECT_GT(info->start_time, 0u);
  EXPECT_FALSE(info->comm.empty());
}

TEST(ProcessInfoTest, FixtureWithCommContainingParenthesesAndSpaces) {
  char tmpl[] = "/tmp/custos_proc_XXXXXX";
  std::string root = mkdtemp(tmpl);
  ASSERT_TRUE(MakeDirs(root + "/77").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/77/stat",
                              "77 (a) b (c) S 1 77 77 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 424242 1000 10\n")
                  .ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/77/status", "Name:\ta\nUmask:\t0022\nUid:\t1234\t1234\t1234\t1234\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/77/cgroup", "0::/system.slice/feature-store.service\n").ok());
  auto info = ReadProcessInfo(77, root);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->start_time, 424242u);
  EXPECT_EQ(info->uid, 1234);
  EXPECT_EQ(info->systemd_unit, "feature-store.service");
  EXPECT_EQ(info->executable, "");  // no exe link in the fixture
  EXPECT_FALSE(ReadProcessInfo(78, root).has_value());
}

TEST(ProcessInfoTest, CacheRemembersAnExitedProcessAndIsBounded) {
  ProcessInfoCache cache(2);
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  auto info = cache.Lookup(child);
  ASSERT_TRUE(info.has_value());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // Gone from /proc, still known to the cache (events it caused arrive late).
  auto late = cache.Lookup(child);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->start_time, info->start_time);
  // Two more distinct lookups push it out (capacity 2).
  ASSERT_TRUE(cache.Lookup(getpid()).has_value());
  ASSERT_TRUE(cache.Lookup(getppid()).has_value());
  EXPECT_FALSE(cache.Lookup(child).has_value());
}

}  // namespace
}  // namespace custos::agent
