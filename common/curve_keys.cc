#include "common/curve_keys.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdio>

#include "common/files.h"

namespace custos {

bool IsValidZ85Key(const std::string& z85) {
  if (z85.size() != 40) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, z85.c_str()) != nullptr;
}

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Internal("zmq_curve_keypair failed: libzmq built without CURVE support");
  }
  return CurveKeyPair{pub, sec};
}

Status WriteCurveKeyPair(const std::string& dir, const std::string& name, const CurveKeyPair& kp,
                         bool force) {
  CUSTOS_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  std::string secret_path = dir + "/" + name + ".key";
  if (!force && ::access(secret_path.c_str(), F_OK) == 0) {
    return AlreadyExists(secret_path + " exists (use --force to replace it)");
  }
  CUSTOS_RETURN_IF_ERROR(WriteFileAtomic(secret_path, kp.secret_z85 + "\n", 0600));
  return WriteFileAtomic(dir + "/" + name + ".pub", kp.public_z85 + "\n", 0644);
}

Result<CurveKeyPair> ReadCurveSecretKey(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat " + path, errno);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return PermissionDenied("secret key " + path + " is readable by group or others (mode " +
                            mode + "); run: chmod 600 " + path);
  }
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::string secret(Trim(text));
  if (!IsValidZ85Key(secret)) return InvalidArgument(path + " does not hold a 40-character Z85 CURVE key");
  char pub[41];
  if (zmq_curve_public(pub, secret.c_str()) != 0) return InvalidArgument(path + ": cannot derive public key");
  return CurveKeyPair{pub, secret};
}

Result<std::string> ReadCurvePublicKey(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::string key(Trim(text));
  if (!IsValidZ85Key(key)) return InvalidArgument(path + " does not hold a 40-character Z85 CURVE key");
  return key;
}

}  // namespace custos
