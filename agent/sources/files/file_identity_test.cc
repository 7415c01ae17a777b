#include "agent/sources/files/file_identity.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace custos::agent::files {
namespace {

TEST(FilePositionsTest, RoundTrips) {
  std::vector<FilePosition> in = {
      {{1, 2, 10, 0xdeadbeefcafef00dULL}, "/var/log/a.log", 12345, false},
      {{3, 4, 0, 0}, "/odd dir/with%percent\nand newline", 0, true},
  };
  Result<std::vector<FilePosition>> out = DecodePositions(EncodePositions(in));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, in);
  Result<std::vector<FilePosition>> empty = DecodePositions(EncodePositions({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(FilePositionsTest, CorruptTextIsDataLoss) {
  std::string good = EncodePositions({{{1, 2, 10, 0xab}, "/x.log", 5, false}});
  for (std::string bad : {std::string(""), std::string("garbage"), std::string("custos-files 2\n"),
                          good.substr(0, good.size() - 1), good + "1 2 3\n", good + "1 2 3 zz 5 0 /p\n",
                          good + "1 2 3 ab 5 7 /p\n", good + "1 2 3 ab 5 0 relative\n", good + "1 2 99999 ab 5 0 /p\n",
                          good + "1 2 3 ab 5 0 /bad%G1\n", good + "1 2 3 ab 5 0 /trail%4\n"}) {
    Result<std::vector<FilePosition>> r = DecodePositions(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << bad;
  }
}

TEST(FileIdentityTest, FingerprintTellsFilesApart) {
  char tmpl[] = "/tmp/custos_files_id_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string path = dir + "/f";
  int w = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(w, 0);
  ASSERT_EQ(write(w, "hello\n", 6), 6);
  int fd = open(path.c_str(), O_RDONLY);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  Result<FileIdentity> id = IdentifyFile(fd, st);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->fp_len, 6u);
  EXPECT_TRUE(SameFile(*id, fd, st));
  // Growth keeps the identity (the first fp_len bytes are unchanged).
  ASSERT_EQ(write(w, "more\n", 5), 5);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_TRUE(SameFile(*id, fd, st));
  // Rewritten in place (same inode): no longer the same file.
  ASSERT_EQ(ftruncate(w, 0), 0);
  ASSERT_EQ(pwrite(w, "HELLO\nmore\n", 11, 0), 11);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_FALSE(SameFile(*id, fd, st));
  // Shorter than the fingerprint: not the same file.
  ASSERT_EQ(ftruncate(w, 3), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_FALSE(SameFile(*id, fd, st));
  close(w);
  close(fd);
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace custos::agent::files
