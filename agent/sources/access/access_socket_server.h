// The access-event socket: a unix stream socket on which local data services
// send newline-delimited JSON access events (format: access_line.h and
// README.md) and read one reply line per request line:
//
//   {"ok":true}
//   {"ok":false,"error":"line 3: field 'action': unknown value 'raed' (...)"}
//   {"ok":false,"error":"busy","retry_after_ms":200}      // batcher full: retry
//
// An "ok" reply means the event is in the batcher (the agent's durable path);
// the socket itself has no position to resume from. Bounds: max_line_bytes
// (longer: an error reply, then the rest of that line is skipped up to the
// next newline), max_connections (more: an error reply and close), a read
// timeout for a started line and an idle timeout per connection, and at
// most kMaxBufferedReplies of replies held per connection: at that bound the
// server stops answering (and reading) a client until it has read its
// replies, so a client that does not read is throttled, never buffered
// for. One thread polls every connection; nothing a client sends can crash
// or stall it.
//
//   auto server = AccessSocketServer::Listen(options, submit, metrics, clock);
//   (*server)->Start();  ...  (*server)->Stop();
//
// Thread-safety: Start/Stop from one thread; `submit` runs on the server's
// thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/sources/access/access_line.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"

namespace custos::agent::access {

struct SocketOptions {
  std::string path = "/run/custos-agent/access.sock";
  mode_t mode = 0660;
  std::string group;  // chgrp the socket to this group; empty: the agent's
  size_t max_line_bytes = 64 * 1024;
  size_t max_connections = 64;
  int64_t read_timeout_nanos = 10 * kNanosPerSecond;  // to finish a started line
  int64_t idle_timeout_nanos = 300 * kNanosPerSecond;
  int64_t retry_after_ms = 200;
};

// The reporting process, from SO_PEERCRED.
struct Peer {
  int32_t pid = 0;
  int64_t uid = -1;
  int64_t gid = -1;
};

// Takes the valid requests of one read; RESOURCE_EXHAUSTED answers "busy"
// (the client retries), any other error is sent back as the error text.
using SubmitFn = std::function<Status(const Peer& peer, std::vector<AccessRequest>&& requests)>;

class AccessSocketServer {
 public:
  // Binds the socket (replacing a stale socket file that nobody serves;
  // refusing a live one or a non-socket), creating its directory 0750.
  static Result<std::unique_ptr<AccessSocketServer>> Listen(SocketOptions options, SubmitFn submit,
                                                            MetricsRegistry& metrics, Clock& clock);
  ~AccessSocketServer();
  AccessSocketServer(const AccessSocketServer&) = delete;
  AccessSocketServer& operator=(const AccessSocketServer&) = delete;

  void Start();
  // Closes every connection, removes the socket file and joins. Idempotent.
  void Stop();

  // Reply bytes a connection holds at most, plus one reply (those of a read
  // are added line by line until this is reached).
  static constexpr size_t kMaxBufferedReplies = 256 * 1024;

 private:
  struct Connection;
  AccessSocketServer(SocketOptions options, SubmitFn submit, MetricsRegistry& metrics, Clock& clock);
  void Run();
  void Accept();
  // Reads what is available; false when the connection is to be closed.
  bool ReadFrom(Connection& c);
  // Answers the complete lines of c.in up to the reply bound, then updates
  // the read timeout of what is left; `line_began`: c.in was empty before.
  void Answer(Connection& c, bool line_began, int64_t now);
  // Answers complete lines of c.in until the reply bound (then sets
  // c.blocked); true when it consumed any bytes.
  bool HandleLines(Connection& c, bool at_eof);
  // Sends what the client takes; false when the client is gone.
  bool Flush(Connection& c, int64_t now);

  // Constant after construction.
  const SocketOptions options_;
  const SubmitFn submit_;
  Clock& clock_;
  Counter& lines_ok_;
  Counter& lines_malformed_;
  Counter& lines_too_long_;
  Counter& lines_busy_;
  Counter& lines_failed_;
  Counter& refused_connections_;
  Counter& timeouts_;
  Gauge& connections_gauge_;
  Gauge& reply_bytes_gauge_;

  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd
  ino_t socket_ino_ = 0;
  std::vector<std::unique_ptr<Connection>> connections_;  // server thread only
  std::thread thread_;
};

}  // namespace custos::agent::access
