// Peak file-tail rate: the files source reading a pre-written file of N lines
// (~120 B each) into a real spool (fsync on, the agent's default batcher),
// against rsyslog's imfile reading the same file and writing it out with
// omfile (no fsync), timed until every line is out.
//
//   files_tail_bench [lines=1500000] [runs=3]
//
// Each run uses fresh directories (empty spool, empty rsyslog state). Prints
// one summary line with the medians; see bench/README.md. Needs rsyslogd
// (Debian package rsyslog) for the peer figure; without it that side is 0.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/batcher.h"
#include "agent/core/spool.h"
#include "agent/sources/files/files_source.h"
#include "common/log.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string TempDir(const char* what) {
  std::string tmpl = std::string("/tmp/custos_files_bench_") + what + "_XXXXXX";
  return mkdtemp(tmpl.data());
}

void RemoveTree(const std::string& dir) { std::system(("rm -rf '" + dir + "'").c_str()); }

// Writes `lines` lines of 120 bytes (newline included); returns the file size.
uint64_t WriteInput(const std::string& path, int lines) {
  std::ofstream out(path, std::ios::binary);
  std::string buf;
  char line[160];
  for (int i = 1; i <= lines; ++i) {
    int n = std::snprintf(line, sizeof line, "2026-11-26T14:52:34.123456Z app[%d]: request %010d served in 12 ms ", 1000 + i % 7, i);
    buf.append(line, static_cast<size_t>(n));
    buf.append(119 - static_cast<size_t>(n), 'x');
    buf.push_back('\n');
    if (buf.size() > (1 << 20)) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
  }
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  return static_cast<uint64_t>(lines) * 120;
}

double RunCustosIn(const std::string& spool_dir, const std::string& input, int lines);

// Lines per second for the files source, from Start() until all records are durable.
double RunCustos(const std::string& input, int lines) {
  std::string spool_dir = TempDir("spool");
  double secs = RunCustosIn(spool_dir, input, lines);
  RemoveTree(spool_dir);
  return lines / secs;
}

double RunCustosIn(const std::string& spool_dir, const std::string& input, int lines) {
  using namespace custos;
  using namespace custos::agent;
  MetricsRegistry metrics;
  auto spool = Spool::Open(SpoolOptions{.dir = spool_dir, .quota_bytes = 16ULL << 30}, metrics);
  if (!spool.ok()) {
    std::fprintf(stderr, "spool: %s\n", spool.status().ToString().c_str());
    std::exit(1);
  }
  v1::Resource node;
  node.set_node_id("bench");
  Batcher batcher(BatcherOptions{.agent_id = "bench"}, **spool, node, metrics, custos::Clock::Real());
  SourceContext context{batcher, metrics, custos::Clock::Real(), node};
  auto file = ConfigFile::Parse("[sources.files]\npaths = [\"" + input + "\"]\nstart_at = \"beginning\"\n", "bench.toml");
  ConfigSection section = file->Section("sources").Section("files");
  auto source = files::CreateFilesSource(section, context);
  if (!source.ok() || !file->Finish().ok()) {
    std::fprintf(stderr, "files source: %s\n", source.status().ToString().c_str());
    std::exit(1);
  }
  batcher.Start();
  auto t0 = Clock::now();
  if (!(*source)->Start("").ok()) std::exit(1);
  while (metrics.Value("custos_agent_records_accepted_total") < lines) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  (*source)->Stop();
  batcher.Stop();
  return secs;
}

// Lines per second for rsyslogd (imfile -> omfile), from its start until the
// output file holds every line.
double RunRsyslog(const std::string& input, int lines, uint64_t input_bytes) {
  const char* rsyslogd = "/usr/sbin/rsyslogd";
  if (access(rsyslogd, X_OK) != 0) return 0;
  std::string dir = TempDir("rsyslog");
  std::string out = dir + "/out.log";
  std::string conf = dir + "/rsyslog.conf";
  std::ofstream(conf) << "global(workDirectory=\"" << dir << "\")\n"
                      << "module(load=\"imfile\")\n"
                      << "template(name=\"raw\" type=\"string\" string=\"%msg%\\n\")\n"
                      << "ruleset(name=\"bench\") { action(type=\"omfile\" file=\"" << out << "\" template=\"raw\") }\n"
                      << "input(type=\"imfile\" file=\"" << input << "\" tag=\"bench\" ruleset=\"bench\")\n";
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    execl(rsyslogd, rsyslogd, "-n", "-f", conf.c_str(), "-i", (dir + "/rsyslogd.pid").c_str(), nullptr);
    _exit(127);
  }
  double secs = 0;
  for (;;) {
    struct stat st;
    if (stat(out.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) >= input_bytes) {
      secs = std::chrono::duration<double>(Clock::now() - t0).count();
      break;
    }
    if (std::chrono::duration<double>(Clock::now() - t0).count() > 600 || waitpid(pid, nullptr, WNOHANG) == pid) {
      std::fprintf(stderr, "rsyslogd did not write every line\n");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  RemoveTree(dir);
  return secs > 0 ? lines / secs : 0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Join(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += (out.empty() ? "" : " / ") + std::to_string(static_cast<long>(x));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int lines = argc > 1 ? std::atoi(argv[1]) : 1'500'000;
  int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  custos::log::SetMinLevel(custos::log::Level::kWarning);
  std::string input_dir = TempDir("input");
  std::string input = input_dir + "/app.log";
  uint64_t bytes = WriteInput(input, lines);
  std::vector<double> custos_rates, rsyslog_rates;
  for (int i = 0; i < runs; ++i) {
    custos_rates.push_back(RunCustos(input, lines));
    rsyslog_rates.push_back(RunRsyslog(input, lines, bytes));
  }
  RemoveTree(input_dir);
  double c = Median(custos_rates), r = Median(rsyslog_rates);
  std::printf(
      "files_tail: %d lines of 120 B, median of %d: custos files source -> spool (fsync) %.0f lines/s (%s) | "
      "rsyslog imfile -> omfile %.0f lines/s (%s) | ratio %.2f\n",
      lines, runs, c, Join(custos_rates).c_str(), r, Join(rsyslog_rates).c_str(), r > 0 ? c / r : 0.0);
  return 0;
}
