// The ingest stage over real ZeroMQ sockets with CURVE and the ZAP allow-list,
// and a real SQLite file.
#include "collector/ingest/ingest_server.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <zmq.hpp>

#include "collector/store/sqlite_store.h"
#include "common/curve_keys.h"
#include "common/files.h"

namespace custos::ingest {
namespace {

class IngestServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_ingest_XXXXXX";
    dir_ = mkdtemp(tmpl);
    server_keys_ = *GenerateCurveKeyPair();
    agent_keys_ = *GenerateCurveKeyPair();
    stranger_keys_ = *GenerateCurveKeyPair();
    ASSERT_TRUE(MakeDirs(dir_ + "/agents").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/agents/n1.pub", agent_keys_.public_z85 + "\n").ok());
    auto store = store::SqliteStore::Open({.path = dir_ + "/custos.db"});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    allow_list_ = std::make_unique<AllowList>(dir_ + "/agents");
    IngestOptions opts;
    opts.bind = "tcp://127.0.0.1:0";
    opts.secret_key = server_keys_.secret_z85;
    opts.limits.max_batch_bytes = 64 * 1024;
    server_ = std::make_unique<IngestServer>(opts, *store_, *allow_list_, metrics_);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_->Stop(); }

  std::unique_ptr<zmq::socket_t> Connect(const CurveKeyPair& keys) {
    auto s = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    s->set(zmq::sockopt::curve_serverkey, server_keys_.public_z85);
    s->set(zmq::sockopt::curve_publickey, keys.public_z85);
    s->set(zmq::sockopt::curve_secretkey, keys.secret_z85);
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::rcvtimeo, 5000);
    s->connect(server_->endpoint());
    return s;
  }

  static v1::Batch MakeBatch(const std::string& agent, uint64_t seq, int records) {
    v1::Batch b;
    b.set_agent_id(agent);
    b.set_spool_epoch(42);
    b.set_seq(seq);
    b.set_created_unix_nano(1);
    b.add_resources()->set_node_id(agent);
    for (int i = 0; i < records; ++i) {
      v1::LogRecord* l = b.add_records()->mutable_log();
      l->set_time_unix_nano(100 + i);
      l->set_message("r" + std::to_string(seq) + "-" + std::to_string(i));
    }
    return b;
  }

  // Sends bytes and waits for the collector's reply.
  std::optional<v1::Ack> Exchange(zmq::socket_t& s, const std::string& bytes) {
    (void)s.send(zmq::buffer(bytes), zmq::send_flags::none);
    zmq::message_t reply;
    if (!s.recv(reply)) return std::nullopt;
    v1::Ack ack;
    EXPECT_TRUE(ack.ParseFromArray(reply.data(), static_cast<int>(reply.size())));
    return ack;
  }

  int64_t StoredLogs() { return (*store_->Counts())["logs"].get<int64_t>(); }

  std::string dir_;
  CurveKeyPair server_keys_, agent_keys_, stranger_keys_;
  MetricsRegistry metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<AllowList> allow_list_;
  std::unique_ptr<IngestServer> server_;
  zmq::context_t ctx_;
};

TEST_F(IngestServerTest, EnrolledAgentIsStoredAndAckedOnceAcrossResends) {
  auto s = Connect(agent_keys_);
  std::string bytes = MakeBatch("n1", 1, 5).SerializeAsString();
  auto ack = Exchange(*s, bytes);
  ASSERT_TRUE(ack.has_value());
  ASSERT_EQ(ack->committed_seqs_size(), 1);
  EXPECT_EQ(ack->committed_seqs(0), 1u);
  EXPECT_EQ(ack->spool_epoch(), 42u);
  // The same batch again (a resend): acked, not stored twice.
  ack = Exchange(*s, bytes);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->committed_seqs(0), 1u);
  EXPECT_EQ(StoredLogs(), 5);
  EXPECT_EQ(metrics_.Value("custos_collector_batches_duplicate_total"), 1);
  EXPECT_EQ(metrics_.Value("custos_collector_records_stored_total"), 5);
}

TEST_F(IngestServerTest, UnenrolledKeyIsRefusedAndNothingIsStored) {
  auto s = Connect(stranger_keys_);
  s->set(zmq::sockopt::rcvtimeo, 1500);
  auto ack = Exchange(*s, MakeBatch("n1", 1, 5).SerializeAsString());
  EXPECT_FALSE(ack.has_value());  // the handshake never completes
  EXPECT_EQ(StoredLogs(), 0);
  EXPECT_GE(metrics_.Value("custos_collector_handshakes_refused_total"), 1);
  EXPECT_EQ(metrics_.Value("custos_collector_frames_received_total"), 0);
}

TEST_F(IngestServerTest, EnrollingLaterAdmitsTheKeyWithoutRestart) {
  std::mutex mu;  // the callback runs on the thread that refreshed the list
  std::vector<std::string> changes;
  allow_list_->SetOnChange([&](const std::string& node, const std::string&, const std::string& action) {
    std::lock_guard<std::mutex> lock(mu);
    changes.push_back(action + " " + node);
  });
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/agents/n2.pub", stranger_keys_.public_z85 + "\n").ok());
  auto s = Connect(stranger_keys_);
  auto ack = Exchange(*s, MakeBatch("n2", 1, 2).SerializeAsString());
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->committed_seqs_size(), 1);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(changes, std::vector<std::string>{"enroll n2"});  // reported for the audit log
}

TEST_F(IngestServerTest, ClaimingAnotherNodesIdIsRefused) {
  auto s = Connect(agent_keys_);  // enrolled as n1
  auto ack = Exchange(*s, MakeBatch("n2", 1, 5).SerializeAsString());
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->committed_seqs_size(), 0);
  ASSERT_EQ(ack->refused_size(), 1);
  EXPECT_EQ(ack->refused(0).reason(), v1::Ack::REFUSAL_WRONG_IDENTITY);
  EXPECT_NE(ack->refused(0).message().find("enrolled for 'n1'"), std::string::npos);
  EXPECT_EQ(StoredLogs(), 0);
  EXPECT_EQ(metrics_.Value("custos_collector_frames_refused_total", {{"reason", "REFUSAL_WRONG_IDENTITY"}}), 1);
}

TEST_F(IngestServerTest, BadFramesAreRefusedCountedAndServiceContinues) {
  auto s = Connect(agent_keys_);
  std::string good = MakeBatch("n1", 1, 3).SerializeAsString();
  struct Case {
    const char* name;
    std::string bytes;
    v1::Ack::Refusal want;
  } cases[] = {
      {"garbage", std::string("\x0a\xff\xff\xff\xff\xff", 6), v1::Ack::REFUSAL_MALFORMED},
      {"truncated", good.substr(0, good.size() / 2), v1::Ack::REFUSAL_MALFORMED},
      {"oversized", std::string(100 * 1024, 'x'), v1::Ack::REFUSAL_OVERSIZED},
  };
  for (const Case& c : cases) {
    auto ack = Exchange(*s, c.bytes);
    ASSERT_TRUE(ack.has_value()) << c.name;
    ASSERT_EQ(ack->refused_size(), 1) << c.name;
    EXPECT_EQ(ack->refused(0).reason(), c.want) << c.name;
    EXPECT_EQ(metrics_.Value("custos_collector_frames_refused_total", {{"reason", v1::Ack::Refusal_Name(c.want)}}),
              c.want == v1::Ack::REFUSAL_MALFORMED ? (std::string(c.name) == "garbage" ? 1 : 2) : 1)
        << c.name;
  }
  // Beyond libzmq's own limit the connection is dropped, not the process.
  (void)s->send(zmq::buffer(std::string(200 * 1024, 'y')), zmq::send_flags::none);
  // Still serving: a fresh connection stores a good batch.
  auto s2 = Connect(agent_keys_);
  auto ack = Exchange(*s2, good);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->committed_seqs_size(), 1);
  EXPECT_EQ(StoredLogs(), 3);
}

}  // namespace
}  // namespace custos::ingest
