#include "agent/sources/files/tailed_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

namespace custos::agent::files {
namespace {

struct Fixture {
  Fixture() {
    char tmpl[] = "/tmp/custos_files_tailed_XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/f.log";
    writer = open(path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
    options.multiline_start = *StartPattern::Compile("");
  }
  ~Fixture() {
    close(writer);
    std::system(("rm -rf " + dir).c_str());
  }
  std::unique_ptr<TailedFile> Open() {
    int fd = open(path.c_str(), O_RDONLY);
    struct stat st;
    EXPECT_EQ(fstat(fd, &st), 0);
    return std::make_unique<TailedFile>(fd, *IdentifyFile(fd, st), path, 0, false, options, 0);
  }
  void Write(const std::string& s) { ASSERT_EQ(write(writer, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  std::vector<std::string> ReadAll(TailedFile& f) {
    std::vector<Line> out;
    int error = 0;
    while (!f.Read(1 << 20, 0, buffer, &out, counters, &error)) {
    }
    EXPECT_EQ(error, 0);
    std::vector<std::string> texts;
    for (const Line& l : out) texts.push_back(l.text);
    return texts;
  }

  std::string dir, path;
  int writer;
  TailOptions options;
  std::string buffer = std::string(4096, '\0');
  Counter bytes, truncations, cut, errors;
  TailCounters counters{bytes, truncations, cut, errors};
};

TEST(TailedFileTest, TruncationBelowTheOffsetRestartsAtZero) {
  Fixture fx;
  fx.Write("aaaa\nbbbb\n");
  auto f = fx.Open();
  EXPECT_EQ(fx.ReadAll(*f), (std::vector<std::string>{"aaaa", "bbbb"}));
  ASSERT_EQ(ftruncate(fx.writer, 0), 0);
  fx.Write("c\n");
  EXPECT_EQ(fx.ReadAll(*f), (std::vector<std::string>{"c"}));
  EXPECT_EQ(fx.truncations.value(), 1u);
  EXPECT_EQ(f->position().offset, 2u);
}

TEST(TailedFileTest, RewrittenPastTheOffsetIsNoticedByTheFingerprint) {
  // Truncated and written again beyond our offset before we looked: the size
  // says nothing, the changed first bytes do.
  Fixture fx;
  fx.Write("first generation\n");
  auto f = fx.Open();
  EXPECT_EQ(fx.ReadAll(*f), (std::vector<std::string>{"first generation"}));
  ASSERT_EQ(ftruncate(fx.writer, 0), 0);
  fx.Write("SECOND generation, longer than the first\nand more\n");
  EXPECT_EQ(fx.ReadAll(*f), (std::vector<std::string>{"SECOND generation, longer than the first", "and more"}));
  EXPECT_EQ(fx.truncations.value(), 1u);
}

TEST(TailedFileTest, GrowthIsNotTruncationAndTheFingerprintGrows) {
  Fixture fx;
  fx.Write("ab\n");
  auto f = fx.Open();
  EXPECT_EQ(f->id().fp_len, 3u);
  EXPECT_EQ(fx.ReadAll(*f).size(), 1u);
  fx.Write(std::string(2000, 'x') + "\n");
  EXPECT_EQ(fx.ReadAll(*f).size(), 1u);
  EXPECT_EQ(fx.truncations.value(), 0u);
  EXPECT_EQ(f->id().fp_len, kFingerprintBytes);
  EXPECT_EQ(f->position().offset, 2004u);
}

TEST(TailedFileTest, FlushAllHandsOutTheUnterminatedTail) {
  Fixture fx;
  fx.Write("done\ntail");
  auto f = fx.Open();
  EXPECT_EQ(fx.ReadAll(*f), (std::vector<std::string>{"done"}));
  EXPECT_EQ(f->position().offset, 5u);
  std::vector<Line> out;
  f->FlushAll(&out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "tail");
  EXPECT_TRUE(out[0].unterminated);
  EXPECT_EQ(f->position().offset, 9u);
}

}  // namespace
}  // namespace custos::agent::files
