// Lower-case hexadecimal text of bytes ("\x01\xab" -> "01ab"). Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace custos {

std::string HexLower(std::string_view bytes);

}  // namespace custos
