// Test harness for end-to-end tests: real custos-collector and custos-agent
// processes, with keys, configs and state in a temporary directory, talking
// over real CURVE sockets on loopback. The binaries come from CUSTOS_BIN_DIR.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace custos::e2e {

// A child process with its output appended to a log file.
class Child {
 public:
  Child() = default;
  ~Child() { Kill(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void Start(const std::vector<std::string>& argv, const std::string& log_path);
  // SIGKILL (or `sig`) and reap; a no-op when not running.
  void Kill(int sig = 9);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

class Cluster {
 public:
  // Creates keys, enrols the agent (unless `enroll` is false) and writes
  // configs; `agent_extra` is appended to the agent's TOML.
  explicit Cluster(const std::string& agent_extra, bool enroll = true);
  ~Cluster();

  void StartCollector();
  void StartAgent();
  void KillCollector(int sig = 9) { collector_.Kill(sig); }
  void KillAgent(int sig = 9) { agent_.Kill(sig); }

  // Runs one SQL query against the collector's SQLite file (read-only) and
  // returns the first column of the first row as an integer (-1 on error).
  int64_t QueryInt(const std::string& sql) const;
  // Polls QueryInt(sql) until it returns >= want or the deadline passes.
  bool WaitFor(const std::string& sql, int64_t want, int timeout_seconds) const;
  std::string ReadLog(const std::string& which) const;  // "agent" or "collector"
  // Runs custosctl with `args`; returns its exit code and puts stdout+stderr in `output`.
  int RunCtl(const std::string& args, std::string* output) const;
  // Audit records of `kind` whose line contains `part`, counted in an export
  // made with custosctl (-1 if the export fails). An export holds what
  // checkpoints cover (one a second), so this retries for up to 10 s until
  // at least `at_least` are there.
  int64_t CountAuditRecords(const std::string& kind, const std::string& part = "", int64_t at_least = 1) const;
  // custosctl audit verify --db of the collector's database with its audit key.
  int VerifyAudit(std::string* output) const {
    return RunCtl("audit verify --db " + dir_ + "/collector/custos.db --key " + dir_ + "/collector/audit.vkey",
                  output);
  }

  pid_t agent_pid() const { return agent_.pid(); }
  pid_t collector_pid() const { return collector_.pid(); }
  // Appends to the collector's TOML (before StartCollector).
  void AppendCollectorConfig(const std::string& toml);
  const std::string& dir() const { return dir_; }
  const std::string& node_id() const { return node_id_; }
  std::string spool_dir() const { return dir_ + "/agent/spool"; }

 private:
  std::string dir_;
  std::string node_id_ = "e2e-node";
  std::string bin_;
  int port_ = 0;
  Child collector_;
  Child agent_;
};

// A TCP port that was free a moment ago.
int FreePort();

// Sends `line` on the agent's access socket and returns the reply line
// ("connect failed" / "write failed" when it could not).
std::string SendAccessLine(const std::string& socket_path, const std::string& line);

}  // namespace custos::e2e
