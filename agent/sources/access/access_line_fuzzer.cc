// libFuzzer target: one line of the access-event socket (untrusted bytes
// from any local process allowed to connect). Build with clang and
// -DCUSTOS_BUILD_FUZZERS=ON; run: build-fuzz/bin/access_line_fuzzer -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/sources/access/access_line.h"
#include "common/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto r = custos::agent::access::ParseAccessLine(line);
  if (!r.ok()) {
    // Every refusal says why, and the reason is safe to send back as JSON text.
    if (r.status().message().empty()) __builtin_trap();
    return 0;
  }
  // An accepted line yields fields the record can carry: valid UTF-8, bounded.
  if (!custos::IsValidUtf8(r->object) || r->object.empty() ||
      r->object.size() > custos::agent::access::kMaxObjectBytes || r->count == 0 ||
      r->action == custos::v1::AccessEvent::ACTION_UNSPECIFIED) {
    __builtin_trap();
  }
  custos::v1::AccessEvent e;
  e.set_object(r->object);
  e.mutable_principal()->set_user(r->user);
  e.mutable_principal()->set_service_identity(r->service_identity);
  e.set_dataset_id(r->dataset);
  std::string bytes;
  if (!e.SerializeToString(&bytes)) __builtin_trap();
  custos::v1::AccessEvent back;
  if (!back.ParseFromString(bytes)) __builtin_trap();  // proto3 refuses invalid UTF-8 strings
  return 0;
}
