#include "collector/ingest/batch_validator.h"

#include <gtest/gtest.h>

namespace custos::ingest {
namespace {

v1::Batch Good() {
  v1::Batch b;
  b.set_agent_id("n1");
  b.set_spool_epoch(5);
  b.set_seq(3);
  b.add_resources()->set_node_id("n1");
  v1::LogRecord* l = b.add_records()->mutable_log();
  l->set_time_unix_nano(10);
  l->set_message("hi");
  return b;
}

TEST(BatchValidatorTest, AcceptsAGoodBatchAndHeartbeat) {
  std::string bytes = Good().SerializeAsString();
  Validated v = DecodeAndValidate(bytes.data(), bytes.size(), "n1", {});
  EXPECT_TRUE(v.ok()) << v.message;
  EXPECT_FALSE(v.heartbeat);
  v1::Batch hb;
  hb.set_agent_id("n1");
  hb.set_spool_epoch(5);
  bytes = hb.SerializeAsString();
  v = DecodeAndValidate(bytes.data(), bytes.size(), "n1", {});
  EXPECT_TRUE(v.ok());
  EXPECT_TRUE(v.heartbeat);
}

TEST(BatchValidatorTest, RefusalsNameTheReason) {
  struct Case {
    const char* name;
    std::function<std::string()> bytes;
    std::string node;
    v1::Ack::Refusal want;
    const char* message_part;
  };
  std::string good = Good().SerializeAsString();
  std::vector<Case> cases = {
      {"empty", [] { return std::string(); }, "n1", v1::Ack::REFUSAL_MALFORMED, "empty frame"},
      {"garbage", [] { return std::string("\xff\xff\xff\xff garbage", 13); }, "n1", v1::Ack::REFUSAL_MALFORMED,
       "not a custos.v1.Batch"},
      {"truncated", [&] { return good.substr(0, good.size() - 3); }, "n1", v1::Ack::REFUSAL_MALFORMED,
       "truncated or garbage"},
      {"oversized", [] { return std::string(2000, 'x'); }, "n1", v1::Ack::REFUSAL_OVERSIZED, "exceeds the limit"},
      {"other node", [&] { return good; }, "n2", v1::Ack::REFUSAL_WRONG_IDENTITY, "enrolled for 'n2'"},
      {"no identity", [&] { return good; }, "", v1::Ack::REFUSAL_WRONG_IDENTITY, "no enrolled identity"},
      {"resource of other node",
       [] {
         v1::Batch b = Good();
         b.mutable_resources(0)->set_node_id("n9");
         return b.SerializeAsString();
       },
       "n1", v1::Ack::REFUSAL_WRONG_IDENTITY, "resource 0 claims node 'n9'"},
      {"zero epoch",
       [] {
         v1::Batch b = Good();
         b.set_spool_epoch(0);
         return b.SerializeAsString();
       },
       "n1", v1::Ack::REFUSAL_INVALID, "spool_epoch is 0"},
      {"kindless record",
       [] {
         v1::Batch b = Good();
         b.add_records();
         return b.SerializeAsString();
       },
       "n1", v1::Ack::REFUSAL_INVALID, "record 1 has no kind"},
      {"dangling resource",
       [] {
         v1::Batch b = Good();
         b.mutable_records(0)->mutable_log()->set_resource_ref(4);
         return b.SerializeAsString();
       },
       "n1", v1::Ack::REFUSAL_INVALID, "record 0 refers to resource 4 of 1"},
      {"no timestamp",
       [] {
         v1::Batch b = Good();
         b.mutable_records(0)->mutable_log()->set_time_unix_nano(0);
         return b.SerializeAsString();
       },
       "n1", v1::Ack::REFUSAL_INVALID, "has no timestamp"},
      {"heartbeat with records",
       [] {
         v1::Batch b = Good();
         b.set_seq(0);
         return b.SerializeAsString();
       },
       "n1", v1::Ack::REFUSAL_INVALID, "heartbeat"},
  };
  ValidationLimits limits;
  limits.max_batch_bytes = 1000;
  for (const Case& c : cases) {
    std::string bytes = c.bytes();
    Validated v = DecodeAndValidate(bytes.data(), bytes.size(), c.node, limits);
    EXPECT_EQ(v.refusal, c.want) << c.name << ": " << v.message;
    EXPECT_NE(v.message.find(c.message_part), std::string::npos) << c.name << ": " << v.message;
  }
}

}  // namespace
}  // namespace custos::ingest
