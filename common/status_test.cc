#include "common/status.h"

#include <gtest/gtest.h>

namespace custos {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  CUSTOS_ASSIGN_OR_RETURN(int h, Half(x));
  CUSTOS_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, OkIsDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ContextIsPrefixed) {
  Status s = NotFound("no such file").WithContext("opening spool /x");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: opening spool /x: no such file");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

TEST(StatusTest, ErrnoMapsToCanonicalCodes) {
  struct Case {
    const char* name;
    int err;
    StatusCode want;
  } cases[] = {
      {"enoent", ENOENT, StatusCode::kNotFound},
      {"enospc", ENOSPC, StatusCode::kResourceExhausted},
      {"eacces", EACCES, StatusCode::kPermissionDenied},
      {"eio", EIO, StatusCode::kDataLoss},
      {"other", EXDEV, StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    Status s = ErrnoStatus("op", c.err);
    EXPECT_EQ(s.code(), c.want) << c.name;
    EXPECT_EQ(s.message().rfind("op: ", 0), 0u) << c.name;
  }
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);  // 6/2 = 3 is odd
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "3 is odd");
}

}  // namespace
}  // namespace custos
