#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

namespace custos {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/custos_files_XXXXXX";
  return mkdtemp(tmpl);
}

TEST(FilesTest, AtomicWriteThenRead) {
  std::string dir = TempDir();
  ASSERT_TRUE(WriteFileAtomic(dir + "/a", "hello", 0600).ok());
  auto r = ReadFile(dir + "/a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello");
  struct stat st{};
  ASSERT_EQ(stat((dir + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Overwrite replaces the whole content and leaves no temp file.
  ASSERT_TRUE(WriteFileAtomic(dir + "/a", "x", 0600).ok());
  EXPECT_EQ(*ReadFile(dir + "/a"), "x");
  auto names = ListDir(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"a"});
}

TEST(FilesTest, MissingFileNamesThePath) {
  auto r = ReadFile("/nonexistent/custos/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/custos/file"), std::string::npos);
}

TEST(FilesTest, MakeDirsCreatesNestedAndRefusesFiles) {
  std::string dir = TempDir();
  ASSERT_TRUE(MakeDirs(dir + "/a/b/c", 0700).ok());
  ASSERT_TRUE(MakeDirs(dir + "/a/b/c", 0700).ok());  // idempotent
  ASSERT_TRUE(WriteFileAtomic(dir + "/f", "", 0644).ok());
  EXPECT_EQ(MakeDirs(dir + "/f").code(), StatusCode::kFailedPrecondition);
}

TEST(FilesTest, Trim) {
  EXPECT_EQ(Trim("  a b \n"), "a b");
  EXPECT_EQ(Trim(" \t"), "");
}

}  // namespace
}  // namespace custos
