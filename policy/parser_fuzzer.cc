// libFuzzer target for the policy language: arbitrary bytes through the
// lexer, parser and checker must give diagnostics, never a crash or a hang;
// a set that compiles must also decide and run its tests.
#include <cstddef>
#include <cstdint>
#include <string>

#include "policy/compiler.h"
#include "policy/test_runner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  custos::policy::CompileResult r = custos::policy::Compile({{"fuzz.policy", text}}, {1795000000});
  std::string formatted = r.diagnostics.Format(r.files);
  if (r.policy) {
    (void)custos::policy::RunTests(*r.policy, 1795000000);
  }
  return 0;
}
