#include "collector/audit/note_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "common/files.h"

namespace custos::audit {
namespace {

// Public test vectors: the Go checksum database's key, the key pair of the
// golang.org/x/mod/sumdb/note examples, a cosignature/v1 witness key and a
// key whose base64 contains '+'.
constexpr char kSumdbVkey[] = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
constexpr char kPeterVkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr char kPeterSkey[] = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr char kWitnessVkey[] = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
constexpr char kPlusVkey[] = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";

std::string TempDir() {
  char tmpl[] = "/tmp/custos_audit_keys_XXXXXX";
  return mkdtemp(tmpl);
}

TEST(NoteKeyTest, KnownVerifierKeysParseAndKeyIdsRecompute) {
  const struct {
    const char* vkey;
    const char* name;
    KeyType type;
    uint32_t id;
  } cases[] = {
      {kSumdbVkey, "sum.golang.org", KeyType::kEd25519, 0x033de0ae},
      {kPeterVkey, "PeterNeumann", KeyType::kEd25519, 0xc74f20a3},
      {kWitnessVkey, "remora.n621.de", KeyType::kCosignatureV1, 0xda77ade7},
      {kPlusVkey, "TEST", KeyType::kEd25519, 0x7997405c},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.vkey);
    Result<VerifierKey> key = VerifierKey::Parse(c.vkey);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(key->name(), c.name);
    EXPECT_EQ(key->type(), c.type);
    EXPECT_EQ(key->id(), c.id);
    EXPECT_EQ(KeyId(c.name, c.type, key->public_key()), c.id);
    EXPECT_EQ(key->ToString(), c.vkey);
  }
  EXPECT_EQ(FormatKeyId(0x033de0ae), "033de0ae");
}

TEST(NoteKeyTest, KeyIdDependsOnTheType) {
  Result<VerifierKey> key = VerifierKey::Parse(kPeterVkey);
  ASSERT_TRUE(key.ok());
  EXPECT_NE(KeyId(key->name(), KeyType::kEd25519, key->public_key()),
            KeyId(key->name(), KeyType::kCosignatureV1, key->public_key()));
}

TEST(NoteKeyTest, GoSignerKeyParsesAndDerivesItsVerifier) {
  Result<SignerKey> key = SignerKey::Parse(kPeterSkey);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->verifier().ToString(), kPeterVkey);
  EXPECT_EQ(key->ToString(), kPeterSkey);
}

TEST(NoteKeyTest, RejectsBadVerifierKeys) {
  const struct {
    const char* name;
    std::string vkey;
    const char* reason;
  } cases[] = {
      {"no_fields", "sum.golang.org", "want <name>+<key ID>+<key>"},
      {"two_fields", "sum.golang.org+033de0ae", "want <name>+<key ID>+<key>"},
      {"empty_name", "+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "invalid key name"},
      {"space_in_name", "sum golang+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "invalid key name"},
      {"wrong_id", "sum.golang.org+033de0af+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "does not match"},
      {"upper_case_id", "sum.golang.org+033DE0AE+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "lower-case hex"},
      {"short_id", "sum.golang.org+033de0a+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "lower-case hex"},
      {"other_name", "sum.golang.org.evil+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "does not match"},
      {"bad_base64", "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn", "base64"},
      {"empty_key", "sum.golang.org+033de0ae+", "empty"},
      {"unknown_type", "sum.golang.org+033de0ae+" + Base64Encode(std::vector<uint8_t>(33, 0x02)),
       "unsupported key type 0x02"},
      {"short_key", "sum.golang.org+033de0ae+" + Base64Encode(std::vector<uint8_t>(32, 0x01)), "32 bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Result<VerifierKey> key = VerifierKey::Parse(c.vkey);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(key.status().message().find(c.reason), std::string::npos) << key.status().message();
  }
}

// As Go's note tests do: no proper substring of a vkey and no one-byte
// change of it is accepted.
TEST(NoteKeyTest, RejectsEveryManglingOfAVerifierKey) {
  const std::string vkey = kSumdbVkey;
  for (size_t i = 0; i < vkey.size(); ++i) {
    for (size_t j = i + 1; j <= vkey.size(); ++j) {
      if (i == 0 && j == vkey.size()) continue;
      EXPECT_FALSE(VerifierKey::Parse(vkey.substr(i, j - i)).ok()) << vkey.substr(i, j - i);
    }
    std::string changed = vkey;
    ++changed[i];
    EXPECT_FALSE(VerifierKey::Parse(changed).ok()) << changed;
  }
}

TEST(NoteKeyTest, RejectsBadSignerKeys) {
  const std::string skey = kPeterSkey;
  const struct {
    const char* name;
    std::string skey;
    const char* reason;
  } cases[] = {
      {"vkey_instead", kPeterVkey, "PRIVATE+KEY+"},
      {"wrong_id", "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "does not match"},
      {"wrong_name", "PRIVATE+KEY+PeterNeumann2+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
       "does not match"},
      {"short_seed", skey.substr(0, skey.size() - 4), "32 bytes"},
      {"bad_base64", skey.substr(0, skey.size() - 1), "base64"},
      {"missing_fields", "PRIVATE+KEY+PeterNeumann", "want <name>+<key ID>+<key>"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Result<SignerKey> key = SignerKey::Parse(c.skey);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(key.status().message().find(c.reason), std::string::npos) << key.status().message();
    // The secret never appears in an error.
    EXPECT_EQ(key.status().message().find("AYEKFALV"), std::string::npos) << key.status().message();
  }
}

TEST(NoteKeyTest, GeneratedKeysSignAndVerify) {
  for (KeyType type : {KeyType::kEd25519, KeyType::kCosignatureV1}) {
    Result<SignerKey> key = SignerKey::Generate("audit.example/t1/v1", type);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(key->verifier().type(), type);
    Signature sig = key->SignMessage(AsBytes("message"));
    EXPECT_TRUE(key->verifier().VerifyMessage(AsBytes("message"), sig));
    EXPECT_FALSE(key->verifier().VerifyMessage(AsBytes("messagE"), sig));
    EXPECT_FALSE(key->verifier().VerifyMessage(AsBytes("message"), ByteView(sig).first(63)));
    // Text forms round trip.
    Result<SignerKey> again = SignerKey::Parse(key->ToString());
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->verifier().ToString(), key->verifier().ToString());
  }
  EXPECT_EQ(SignerKey::Generate("bad name", KeyType::kEd25519).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifierKey::Create("", KeyType::kEd25519, PublicKey{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(NoteKeyTest, KeyFilesRoundTripWithModes) {
  const std::string dir = TempDir();
  Result<SignerKey> key = SignerKey::Generate("audit.example/t1/v1", KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(WriteSignerKeyFile(dir + "/log.key", *key).ok());
  ASSERT_TRUE(WriteVerifierKeyFile(dir + "/log.vkey", key->verifier()).ok());

  struct stat st {};
  ASSERT_EQ(stat((dir + "/log.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir + "/log.vkey").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  Result<SignerKey> secret = ReadSignerKeyFile(dir + "/log.key");
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->ToString(), key->ToString());
  Result<VerifierKey> vkey = ReadVerifierKeyFile(dir + "/log.vkey");
  ASSERT_TRUE(vkey.ok()) << vkey.status().ToString();
  EXPECT_EQ(vkey->ToString(), key->verifier().ToString());

  // No silent replacement of a signing identity.
  EXPECT_EQ(WriteSignerKeyFile(dir + "/log.key", *key).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(WriteSignerKeyFile(dir + "/log.key", *key, /*force=*/true).ok());
}

TEST(NoteKeyTest, RefusesSecretKeyFilesOthersCanRead) {
  const std::string dir = TempDir();
  for (mode_t mode : {0640, 0604, 0660, 0644, 0610}) {
    SCOPED_TRACE(mode);
    const std::string path = dir + "/loose.key";
    ASSERT_TRUE(WriteFileAtomic(path, std::string(kPeterSkey) + "\n", mode).ok());
    Result<SignerKey> key = ReadSignerKeyFile(path);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), StatusCode::kPermissionDenied);
    EXPECT_NE(key.status().message().find("chmod 600"), std::string::npos);
  }
}

TEST(NoteKeyTest, KeyFileErrorsNameThePath) {
  const std::string dir = TempDir();
  ASSERT_TRUE(WriteFileAtomic(dir + "/bad.key", "garbage\n", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/bad.vkey", "garbage\n", 0644).ok());
  Result<SignerKey> secret = ReadSignerKeyFile(dir + "/bad.key");
  EXPECT_EQ(secret.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(secret.status().message().find(dir + "/bad.key"), std::string::npos);
  Result<VerifierKey> vkey = ReadVerifierKeyFile(dir + "/bad.vkey");
  EXPECT_EQ(vkey.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(vkey.status().message().find(dir + "/bad.vkey"), std::string::npos);
  EXPECT_FALSE(ReadSignerKeyFile(dir + "/missing.key").ok());
}

}  // namespace
}  // namespace custos::audit
