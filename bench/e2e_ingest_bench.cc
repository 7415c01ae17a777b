// End-to-end ingest rate: records/s from a full agent spool to committed rows
// in the collector's SQLite, CURVE on, real processes on loopback. In the same
// run, the physical limits for the same records: raw ZeroMQ CURVE throughput
// (DEALER→ROUTER, same batch bytes) and raw batched SQLite inserts (same rows).
//
//   e2e_ingest_bench [records=1000000] [runs=3] [policy_dir]
//
// With a policy directory, each run is made twice, without and with the
// collector evaluating that policy (verdicts, rules over every record), and
// the line reports both.
//
// Prints one summary line (medians); see bench/README.md.
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/curve_keys.h"
#include "common/files.h"
#include "custos/v1/transport.pb.h"
#include "tests/e2e/harness.h"

namespace {

using Clock = std::chrono::steady_clock;
double Secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

constexpr int kBatchRecords = 2000;

custos::v1::Batch MakeBatch(uint64_t seq) {
  custos::v1::Batch b;
  b.set_agent_id("bench");
  b.set_spool_epoch(1);
  b.set_seq(seq);
  b.set_created_unix_nano(1);
  b.add_resources()->set_node_id("bench");
  for (int i = 0; i < kBatchRecords; ++i) {
    custos::v1::LogRecord* l = b.add_records()->mutable_log();
    l->set_time_unix_nano(1'700'000'000'000'000'000ULL + seq * kBatchRecords + i);
    l->set_severity(custos::v1::SEVERITY_INFO);
    l->set_message("generator record " + std::to_string(seq * kBatchRecords + i));
    l->set_source("generator");
    (*l->mutable_fields())["index"] = std::to_string(seq * kBatchRecords + i);
  }
  return b;
}

// End to end through the real daemons; returns records/s.
double EndToEnd(int records, const std::string& policy_dir = "") {
  custos::e2e::Cluster c(
      "[batch]\nmax_records = 2000\nflush_interval = \"100ms\"\nmax_pending_records = 200000\n"
      "[spool]\nquota = \"4GiB\"\n"
      "[sender]\nwindow = 32\nheartbeat = \"1s\"\n"
      "[sources.host_metrics]\nenabled = false\n"
      "[sources.generator]\nenabled = true\ncount = " +
      std::to_string(records) + "\nrate = 10000000\n");
  if (!policy_dir.empty()) c.AppendCollectorConfig("[policy]\npaths = [\"" + policy_dir + "\"]\n");
  // Fill the spool with no collector running, then stop the agent cleanly.
  c.StartAgent();
  while (c.ReadLog("agent").find("all records handed") == std::string::npos) usleep(100'000);
  c.KillAgent(SIGTERM);
  auto t0 = Clock::now();
  c.StartCollector();
  c.StartAgent();
  const std::string sql = "SELECT count(*) FROM logs";
  while (c.QueryInt(sql) < records) usleep(20'000);
  double secs = Secs(t0, Clock::now());
  return records / secs;
}

// Raw CURVE DEALER→ROUTER with a window of in-flight batches; returns records/s.
double RawCurve(int records) {
  auto server = *custos::GenerateCurveKeyPair();
  auto client = *custos::GenerateCurveKeyPair();
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::curve_server, 1);
  router.set(zmq::sockopt::curve_secretkey, server.secret_z85);
  router.bind("tcp://127.0.0.1:0");
  std::string ep = router.get(zmq::sockopt::last_endpoint);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::curve_serverkey, server.public_z85);
  dealer.set(zmq::sockopt::curve_publickey, client.public_z85);
  dealer.set(zmq::sockopt::curve_secretkey, client.secret_z85);
  dealer.connect(ep);
  std::string bytes = MakeBatch(1).SerializeAsString();
  int batches = records / kBatchRecords;
  std::thread echo([&] {
    for (int i = 0; i < batches; ++i) {
      zmq::message_t id, body;
      (void)router.recv(id);
      (void)router.recv(body);
      (void)router.send(id, zmq::send_flags::sndmore);
      (void)router.send(zmq::buffer("ack", 3));
    }
  });
  auto t0 = Clock::now();
  int sent = 0, acked = 0;
  while (acked < batches) {
    while (sent < batches && sent - acked < 32) {
      (void)dealer.send(zmq::buffer(bytes));
      ++sent;
    }
    zmq::message_t ack;
    (void)dealer.recv(ack);
    ++acked;
  }
  double secs = Secs(t0, Clock::now());
  echo.join();
  return batches * kBatchRecords / secs;
}

// Raw SQLite: the same log rows, one index, 50k-row transactions, WAL + FULL.
double RawSqlite(int records) {
  char tmpl[] = "/tmp/custos_bench_XXXXXX";
  std::string path = std::string(mkdtemp(tmpl)) + "/raw.db";
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE logs(ts INTEGER NOT NULL, resource INTEGER NOT NULL, severity INTEGER, source TEXT,"
               " message TEXT, fields TEXT, trace_id BLOB, span_id BLOB, pid INTEGER, comm TEXT);"
               "CREATE INDEX logs_ts ON logs(ts);",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO logs VALUES(?,?,?,?,?,?,NULL,NULL,0,'')", -1, &st, nullptr);
  auto t0 = Clock::now();
  for (int i = 0; i < records; ++i) {
    if (i % 50'000 == 0) sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    std::string msg = "generator record " + std::to_string(i);
    std::string fields = "{\"index\":\"" + std::to_string(i) + "\"}";
    sqlite3_bind_int64(st, 1, 1'700'000'000'000'000'000LL + i);
    sqlite3_bind_int64(st, 2, 1);
    sqlite3_bind_int64(st, 3, 2);
    sqlite3_bind_text(st, 4, "generator", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, msg.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, fields.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_reset(st);
    if (i % 50'000 == 49'999 || i + 1 == records) sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double secs = Secs(t0, Clock::now());
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::string rm = "rm -rf " + path.substr(0, path.rfind('/'));
  (void)std::system(rm.c_str());
  return records / secs;
}

}  // namespace

int main(int argc, char** argv) {
  int records = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  std::string policy_dir = argc > 3 ? argv[3] : "";
  std::vector<double> e2e, curve, sql, with_policy;
  for (int r = 0; r < runs; ++r) {
    e2e.push_back(EndToEnd(records));
    if (!policy_dir.empty()) {
      with_policy.push_back(EndToEnd(records, policy_dir));
      std::fprintf(stderr, "run %d: with the policy in %s: %.0f rec/s\n", r + 1, policy_dir.c_str(), with_policy.back());
    }
    curve.push_back(RawCurve(records));
    sql.push_back(RawSqlite(records));
    std::fprintf(stderr, "run %d: e2e %.0f rec/s, raw CURVE %.0f rec/s, raw SQLite %.0f rows/s\n", r + 1, e2e.back(),
                 curve.back(), sql.back());
  }
  size_t batch_bytes = MakeBatch(1).ByteSizeLong();
  std::printf(
      "e2e_ingest: %d records x %d runs, median %.0f records/s end to end (CURVE, SQLite FULL) | raw CURVE %.0f "
      "records/s (%.0f MB/s) | raw SQLite %.0f rows/s | e2e/raw-SQLite %.2f | target >= 150000\n",
      records, runs, Median(e2e), Median(curve), Median(curve) / kBatchRecords * batch_bytes / 1e6, Median(sql),
      Median(e2e) / Median(sql));
  if (!policy_dir.empty()) {
    std::printf("e2e_ingest with policy %s: median %.0f records/s (%.2f of the same run without)\n", policy_dir.c_str(),
                Median(with_policy), Median(with_policy) / Median(e2e));
  }
  return 0;
}
