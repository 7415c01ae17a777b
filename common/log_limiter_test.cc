#include "common/log_limiter.h"

#include <gtest/gtest.h>

namespace custos {
namespace {

TEST(LogLimiterTest, OneLineAnIntervalAndTheCountHeldBack) {
  LogLimiter limiter(10);
  uint64_t suppressed = 99;
  ASSERT_TRUE(limiter.Allow(-5, &suppressed));  // the first line always goes, whatever the clock
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(limiter.Allow(0, &suppressed));
  EXPECT_FALSE(limiter.Allow(4, &suppressed));
  ASSERT_TRUE(limiter.Allow(5, &suppressed));  // 10 after the last written one
  EXPECT_EQ(suppressed, 2u);
  EXPECT_FALSE(limiter.Allow(14, &suppressed));
  ASSERT_TRUE(limiter.Allow(100, &suppressed));
  EXPECT_EQ(suppressed, 1u);
}

}  // namespace
}  // namespace custos
