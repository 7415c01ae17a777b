// A collector on loopback for tests: real CURVE keys, an enrolled agent "n1"
// whose DEALER socket sends batches, and the audit records read back from the
// store file.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <zmq.hpp>

#include "collector/audit/verify.h"
#include "collector/collector.h"
#include "common/curve_keys.h"
#include "common/files.h"

namespace custos::collector {

// Success when `toml` parses as a collector.toml but ReadCollectorConfig
// refuses it with a message containing `error`.
inline ::testing::AssertionResult ConfigRefused(const char* toml, const char* error) {
  auto file = ConfigFile::Parse(toml, "collector.toml");
  if (!file.ok()) return ::testing::AssertionFailure() << "not TOML: " << file.status().ToString() << "\n" << toml;
  auto config = ReadCollectorConfig(*file);
  if (config.ok()) return ::testing::AssertionFailure() << "accepted:\n" << toml;
  if (config.status().message().find(error) == std::string::npos) {
    return ::testing::AssertionFailure() << "refused with \"" << config.status().message() << "\", wanted \"" << error
                                         << "\"";
  }
  return ::testing::AssertionSuccess();
}

class CollectorTestBase : public ::testing::Test {
 protected:
  // Creates the directory and keys; StartCollector() then starts it.
  void SetUp() override {
    char tmpl[] = "/tmp/custos_collector_test_XXXXXX";
    dir_ = mkdtemp(tmpl);
    server_ = *GenerateCurveKeyPair();
    agent_ = *GenerateCurveKeyPair();
    ASSERT_TRUE(WriteCurveKeyPair(dir_ + "/keys", "collector", server_).ok());
    ASSERT_TRUE(MakeDirs(dir_ + "/agents").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/agents/n1.pub", agent_.public_z85 + "\n").ok());
  }

  // Starts the collector with `extra_toml` appended to a minimal config;
  // with `api`, its HTTP API listens on a free loopback port.
  void StartCollector(const std::string& extra_toml, bool api = false) {
    const std::string api_toml = api ? "[api]\nlisten = \"127.0.0.1:0\"\n" : "[api]\nenabled = false\n";
    auto file = ConfigFile::Parse("[state]\ndir = \"" + dir_ +
                                      "/state\"\n[ingest]\nlisten = \"tcp://127.0.0.1:0\"\n"
                                      "key = \"" +
                                      dir_ + "/keys/collector.key\"\nenrolled_dir = \"" + dir_ + "/agents\"\n" +
                                      api_toml + "[audit]\norigin = \"custos.audit/test\"\n" + extra_toml,
                                  "collector.toml");
    ASSERT_TRUE(file.ok());
    auto config = ReadCollectorConfig(*file);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto c = Collector::Create(*config);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    collector_ = std::move(*c);
    ASSERT_TRUE(collector_->Start().ok());
    socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    socket_->set(zmq::sockopt::curve_serverkey, server_.public_z85);
    socket_->set(zmq::sockopt::curve_publickey, agent_.public_z85);
    socket_->set(zmq::sockopt::curve_secretkey, agent_.secret_z85);
    socket_->set(zmq::sockopt::linger, 0);
    socket_->set(zmq::sockopt::rcvtimeo, 5000);
    socket_->connect(collector_->ingest_endpoint());
  }

  v1::Batch NewBatch() {
    v1::Batch b;
    b.set_agent_id("n1");
    b.set_spool_epoch(1);
    b.set_seq(++seq_);
    v1::Resource* r = b.add_resources();
    r->set_node_id("n1");
    r->set_hostname("host-1");
    r->set_region("eu-west-1");
    return b;
  }

  // Sends a batch and waits for its ack (the batch is committed).
  void Send(const v1::Batch& b) {
    std::string bytes = b.SerializeAsString();
    (void)socket_->send(zmq::buffer(bytes));
    zmq::message_t ack;
    ASSERT_TRUE(socket_->recv(ack));
  }

  // Audit records of `kind`, once at least `n` exist (the feed appends posted
  // entries at the writer's next tick).
  std::vector<audit::AuditRecord> Records(const std::string& kind, size_t n = 0) {
    std::vector<audit::AuditRecord> out;
    for (int attempt = 0; attempt < 100; ++attempt) {
      out.clear();
      auto db = store::Db::Open(dir_ + "/state/custos.db", false, true);
      if (db.ok()) {
        auto data = audit::LoadAuditData(**db);
        if (data.ok()) {
          for (const auto& line : data->record_lines) {
            auto r = audit::ParseRecord(line);
            if (r.ok() && r->kind == kind) out.push_back(*r);
          }
        }
      }
      if (out.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }

  std::string dir_;
  CurveKeyPair server_, agent_;
  std::unique_ptr<Collector> collector_;
  zmq::context_t ctx_;
  std::unique_ptr<zmq::socket_t> socket_;
  uint64_t seq_ = 0;
};

}  // namespace custos::collector
