#include "common/curve_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "common/files.h"

namespace custos {
namespace {

TEST(CurveKeysTest, GenerateWriteReadRoundTrip) {
  char tmpl[] = "/tmp/custos_keys_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto kp = GenerateCurveKeyPair();
  ASSERT_TRUE(kp.ok()) << kp.status().ToString();
  EXPECT_TRUE(IsValidZ85Key(kp->public_z85));
  ASSERT_TRUE(WriteCurveKeyPair(dir, "agent", *kp).ok());

  struct stat st{};
  ASSERT_EQ(stat((dir + "/agent.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto secret = ReadCurveSecretKey(dir + "/agent.key");
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->public_z85, kp->public_z85);  // derived, not stored
  auto pub = ReadCurvePublicKey(dir + "/agent.pub");
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub, kp->public_z85);

  // No silent overwrite of an existing identity.
  EXPECT_EQ(WriteCurveKeyPair(dir, "agent", *kp).code(), StatusCode::kAlreadyExists);
}

TEST(CurveKeysTest, RefusesLooseSecretKeyModes) {
  char tmpl[] = "/tmp/custos_keys_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto kp = GenerateCurveKeyPair();
  ASSERT_TRUE(kp.ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/loose.key", kp->secret_z85, 0644).ok());
  auto r = ReadCurveSecretKey(dir + "/loose.key");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("chmod 600"), std::string::npos);
}

TEST(CurveKeysTest, RejectsGarbageKeys) {
  char tmpl[] = "/tmp/custos_keys_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  ASSERT_TRUE(WriteFileAtomic(dir + "/bad.pub", "not-a-key", 0644).ok());
  EXPECT_EQ(ReadCurvePublicKey(dir + "/bad.pub").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsValidZ85Key(std::string(40, '~')));
}

}  // namespace
}  // namespace custos
