#include "tests/e2e/harness.h"

#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/curve_keys.h"
#include "common/files.h"

namespace custos::e2e {

void Child::Start(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* log = std::fopen(log_path.c_str(), "a");
    if (log != nullptr) {
      dup2(fileno(log), 1);
      dup2(fileno(log), 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  pid_ = pid;
}

void Child::Kill(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

namespace {

// The sources that run by default and would reach outside the test's
// directory (the system journal, the GPU) are turned off unless the test
// configures them itself.
std::string QuietSources(const std::string& agent_extra) {
  std::string out;
  for (const char* name : {"journald", "gpu"}) {
    std::string table = std::string("[sources.") + name + "]";
    if (agent_extra.find(table) == std::string::npos) out += "\n" + table + "\nenabled = false\n";
  }
  return out;
}

}  // namespace

Cluster::Cluster(const std::string& agent_extra, bool enroll) {
  char tmpl[] = "/tmp/custos_e2e_XXXXXX";
  dir_ = mkdtemp(tmpl);
  const char* bin = std::getenv("CUSTOS_BIN_DIR");
  bin_ = bin != nullptr ? bin : "build/bin";
  port_ = FreePort();
  auto server = GenerateCurveKeyPair();
  auto agent = GenerateCurveKeyPair();
  (void)WriteCurveKeyPair(dir_ + "/keys", "collector", *server);
  (void)WriteCurveKeyPair(dir_ + "/keys", "agent", *agent);
  (void)MakeDirs(dir_ + "/agents");
  if (enroll) (void)WriteFileAtomic(dir_ + "/agents/" + node_id_ + ".pub", agent->public_z85 + "\n");
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port_);
  (void)WriteFileAtomic(dir_ + "/collector.toml",
                        "[state]\ndir = \"" + dir_ + "/collector\"\n"
                        "[ingest]\nlisten = \"" + endpoint + "\"\nkey = \"" + dir_ + "/keys/collector.key\"\n"
                        "enrolled_dir = \"" + dir_ + "/agents\"\n"
                        "[api]\nenabled = false\n");
  (void)WriteFileAtomic(dir_ + "/agent.toml",
                        "[node]\nid = \"" + node_id_ + "\"\nregion = \"test\"\n"
                        "[collector]\nendpoint = \"" + endpoint + "\"\nserver_key = \"" + dir_ +
                            "/keys/collector.pub\"\n"
                        "[identity]\nkey = \"" + dir_ + "/keys/agent.key\"\n"
                        "[state]\ndir = \"" + dir_ + "/agent\"\n" + agent_extra + QuietSources(agent_extra));
}

Cluster::~Cluster() {
  agent_.Kill();
  collector_.Kill();
  if (std::getenv("CUSTOS_KEEP_TEST_DIRS") == nullptr) {
    std::string cmd = "rm -rf '" + dir_ + "'";
    (void)std::system(cmd.c_str());
  }
}

void Cluster::AppendCollectorConfig(const std::string& toml) {
  auto text = ReadFile(dir_ + "/collector.toml");
  (void)WriteFileAtomic(dir_ + "/collector.toml", (text.ok() ? *text : std::string()) + toml);
}

void Cluster::StartCollector() {
  collector_.Start({bin_ + "/custos-collector", "--config", dir_ + "/collector.toml"}, dir_ + "/collector.log");
}

void Cluster::StartAgent() {
  agent_.Start({bin_ + "/custos-agent", "--config", dir_ + "/agent.toml"}, dir_ + "/agent.log");
}

int64_t Cluster::QueryInt(const std::string& sql) const {
  sqlite3* db = nullptr;
  std::string path = dir_ + "/collector/custos.db";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* stmt = nullptr;
  int64_t out = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    out = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

int64_t Cluster::CountAuditRecords(const std::string& kind, const std::string& part, int64_t at_least) const {
  const std::string out_dir = dir_ + "/audit-export";
  const std::string kind_field = "\"kind\":\"" + kind + "\"";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::string output;
    (void)std::system(("rm -rf " + out_dir).c_str());
    if (RunCtl("audit export --out " + out_dir + " --db " + dir_ + "/collector/custos.db", &output) != 0) return -1;
    std::ifstream in(out_dir + "/records.jsonl");
    int64_t n = 0;
    for (std::string line; std::getline(in, line);) {
      n += line.find(kind_field) != std::string::npos && line.find(part) != std::string::npos;
    }
    if (n >= at_least || std::chrono::steady_clock::now() > deadline) return n;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

bool Cluster::WaitFor(const std::string& sql, int64_t want, int timeout_seconds) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (QueryInt(sql) >= want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return QueryInt(sql) >= want;
}

int Cluster::RunCtl(const std::string& args, std::string* output) const {
  std::string cmd = bin_ + "/custosctl " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  output->clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Cluster::ReadLog(const std::string& which) const {
  std::ifstream in(dir_ + "/" + which + ".log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SendAccessLine(const std::string& socket_path, const std::string& line) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "connect failed";
  }
  std::string data = line + "\n";
  if (write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    close(fd);
    return "write failed";
  }
  std::string reply;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') reply += c;
  close(fd);
  return reply;
}

}  // namespace custos::e2e
