#include "common/hex.h"

#include <gtest/gtest.h>

namespace custos {
namespace {

TEST(HexLower, EveryByte) {
  EXPECT_EQ(HexLower(""), "");
  EXPECT_EQ(HexLower(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string hex = HexLower(all);
  ASSERT_EQ(hex.size(), 512u);
  EXPECT_EQ(hex.substr(0, 6), "000102");
  EXPECT_EQ(hex.substr(506), "fdfeff");
}

}  // namespace
}  // namespace custos
