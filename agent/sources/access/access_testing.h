// Test helpers for the access source: a real spool + batcher around the
// source, and a blocking unix-socket client with bounded waits.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/spool.h"
#include "agent/core/spool_testing.h"
#include "agent/sources/access/access_source.h"

namespace custos::agent::access {

inline std::string MakeTempDir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "_XXXXXX";
  char* d = mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  return tmpl;
}

struct SpooledAccess {
  v1::AccessEvent event;
  v1::Resource resource;
};

struct Harness {
  explicit Harness(const std::string& spool_dir, BatcherOptions options = BatcherOptions{.agent_id = "node-1"}) {
    auto s = Spool::Open(SpoolOptions{.dir = spool_dir}, metrics);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    spool = std::move(*s);
    node.set_node_id("node-1");
    batcher = std::make_unique<Batcher>(options, *spool, node, metrics, clock);
    context = std::make_unique<SourceContext>(SourceContext{*batcher, metrics, clock, node});
  }
  // Builds the source from a [sources.access] body; the config must be valid.
  std::unique_ptr<Source> Make(const std::string& body) {
    auto file = ConfigFile::Parse("[sources.access]\n" + body, "agent.toml");
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    ConfigSection section = file->Section("sources").Section("access");
    auto src = CreateAccessSource(section, *context);
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    Status finish = file->Finish();
    EXPECT_TRUE(finish.ok()) << finish.ToString();
    return src.ok() ? std::move(*src) : nullptr;
  }
  std::vector<SpooledAccess> Spooled() {
    EXPECT_TRUE(batcher->FlushNow().ok());
    std::vector<SpooledAccess> out;
    for (const v1::Batch& b : PendingBatches(*spool)) {
      for (const v1::Record& r : b.records()) {
        if (!r.has_access()) continue;
        v1::Resource res;
        if (r.access().resource_ref() < static_cast<uint32_t>(b.resources_size())) {
          res = b.resources(static_cast<int>(r.access().resource_ref()));
        }
        out.push_back({r.access(), res});
      }
    }
    return out;
  }
  // Waits (bounded, 10 s) until `done` holds for the spooled records.
  std::vector<SpooledAccess> WaitFor(const std::function<bool(const std::vector<SpooledAccess>&)>& done) {
    std::vector<SpooledAccess> got;
    for (int i = 0; i < 1000; ++i) {
      got = Spooled();
      if (done(got)) return got;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "timed out waiting for spooled access records; have " << got.size();
    return got;
  }
  MetricsRegistry metrics;
  FakeClock clock;
  v1::Resource node;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<SourceContext> context;
};

// A client of the access socket.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  void Write(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      off += static_cast<size_t>(n);
    }
  }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }
  // The next reply line (without '\n'); "" after timeout_ms or at EOF.
  std::string ReadLine(int timeout_ms = 10000) {
    for (int waited = 0; waited < timeout_ms;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) == 0) {
        waited += 20;
        continue;
      }
      char b[4096];
      ssize_t n = recv(fd_, b, sizeof(b), 0);
      if (n <= 0) return "";
      buf_.append(b, static_cast<size_t>(n));
    }
    return "";
  }
  // True when the server closed the connection (within 10 s).
  bool ClosedByServer() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) return false;
    char b[4096];
    return recv(fd_, b, sizeof(b), 0) == 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

}  // namespace custos::agent::access
