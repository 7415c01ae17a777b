// CURVE key pairs for ZeroMQ, stored as Z85 text files:
//   NAME.key  the secret key, mode 0600 (refused when group/world readable)
//   NAME.pub  the public key, mode 0644
// Thread-compatible.
#pragma once

#include <string>

#include "common/status.h"

namespace custos {

struct CurveKeyPair {
  std::string public_z85;  // 40 characters
  std::string secret_z85;  // 40 characters
};

Result<CurveKeyPair> GenerateCurveKeyPair();

// Writes DIR/NAME.key and DIR/NAME.pub; refuses to overwrite unless `force`.
Status WriteCurveKeyPair(const std::string& dir, const std::string& name, const CurveKeyPair& kp,
                         bool force = false);

// Reads a secret key file and derives its public key. Fails when the file is
// readable by group or others, or does not hold a valid Z85 key.
Result<CurveKeyPair> ReadCurveSecretKey(const std::string& path);

// Reads a public key file (one Z85 key, surrounding whitespace ignored).
Result<std::string> ReadCurvePublicKey(const std::string& path);

// True when `z85` is 40 Z85 characters that decode to 32 bytes.
bool IsValidZ85Key(const std::string& z85);

}  // namespace custos
