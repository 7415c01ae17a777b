#include "common/time_format.h"

#include <gtest/gtest.h>

namespace custos {
namespace {

TEST(FormatUtc, SecondsAndFractions) {
  EXPECT_EQ(FormatUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtc(1'795'000'000'123'456'789), "2026-11-18T11:06:40Z");
  EXPECT_EQ(FormatUtc(1'795'000'000'123'456'789, 3), "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(FormatUtc(1'795'000'000'123'456'789, 9), "2026-11-18T11:06:40.123456789Z");
  EXPECT_EQ(FormatUtc(-1, 3), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace custos
