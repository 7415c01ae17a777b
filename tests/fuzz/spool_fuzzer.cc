// libFuzzer target: opening a spool directory whose segment holds arbitrary
// bytes (a corrupt or hostile spool file). Recovery must never crash, and
// whatever it recovers must be readable.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "agent/core/spool.h"
#include "common/files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::string dir = [] {
    char tmpl[] = "/tmp/custos_spool_fuzz_XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  std::string seg = dir + "/seg-00000000000000000001.spool";
  auto names = custos::ListDir(dir);
  if (names.ok()) {
    for (const std::string& name : *names) ::unlink((dir + "/" + name).c_str());
  }
  FILE* f = std::fopen(seg.c_str(), "wb");
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  custos::MetricsRegistry metrics;
  auto spool = custos::agent::Spool::Open(
      custos::agent::SpoolOptions{.dir = dir, .segment_bytes = 1 << 20, .max_entry_bytes = 1 << 20, .fsync = false},
      metrics);
  if (!spool.ok()) return 0;
  for (uint64_t seq : (*spool)->Pending(0, 1000)) {
    if (!(*spool)->Read(seq).ok()) __builtin_trap();
  }
  return 0;
}
