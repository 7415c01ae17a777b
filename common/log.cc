#include "common/log.h"

#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <vector>

namespace custos::log {
namespace {

std::atomic<int> g_min_level{[] {
  Level l = Level::kInfo;
  if (const char* env = std::getenv("CUSTOS_LOG_LEVEL")) ParseLevel(env, &l);
  return static_cast<int>(l);
}()};
std::mutex g_mu;

// systemd sets JOURNAL_STREAM=dev:inode for the stream stderr is connected to.
bool StderrIsJournal() {
  static const bool is_journal = [] {
    const char* env = std::getenv("JOURNAL_STREAM");
    if (env == nullptr) return false;
    struct stat st{};
    if (fstat(STDERR_FILENO, &st) != 0) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
    return dev == st.st_dev && ino == st.st_ino;
  }();
  return is_journal;
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO";
    case Level::kWarning: return "WARN";
    case Level::kError: return "ERROR";
  }
  return "?";
}

int Priority(Level l) {
  switch (l) {
    case Level::kDebug: return LOG_DEBUG;
    case Level::kInfo: return LOG_INFO;
    case Level::kWarning: return LOG_WARNING;
    case Level::kError: return LOG_ERR;
  }
  return LOG_INFO;
}

bool NeedsQuotes(const std::string& v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

void WriteJournal(Level level, std::string_view component, std::string_view message,
                  std::initializer_list<Field> fields) {
  std::vector<std::string> lines;
  lines.reserve(fields.size() + 3);
  lines.push_back("MESSAGE=" + std::string(component) + ": " + std::string(message));
  lines.push_back("PRIORITY=" + std::to_string(Priority(level)));
  lines.push_back("CUSTOS_COMPONENT=" + std::string(component));
  for (const Field& f : fields) {
    std::string key = "CUSTOS_";
    for (char c : f.key) key += std::isalnum(static_cast<unsigned char>(c)) ? std::toupper(c) : '_';
    lines.push_back(key + "=" + f.value);
  }
  std::vector<iovec> iov(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) iov[i] = {lines[i].data(), lines[i].size()};
  sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

}  // namespace

void SetMinLevel(Level level) { g_min_level.store(static_cast<int>(level)); }

bool ParseLevel(std::string_view text, Level* out) {
  if (text == "debug") *out = Level::kDebug;
  else if (text == "info") *out = Level::kInfo;
  else if (text == "warn" || text == "warning") *out = Level::kWarning;
  else if (text == "error") *out = Level::kError;
  else return false;
  return true;
}

void Write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  if (StderrIsJournal()) {
    WriteJournal(level, component, message, fields);
    return;
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char when[64];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                ts.tv_nsec / 1'000'000);
  std::string line;
  line.reserve(128);
  line += when;
  line += ' ';
  line += LevelName(level);
  line += ' ';
  line += component;
  line += ": ";
  line += message;
  for (const Field& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    if (NeedsQuotes(f.value)) {
      line += '"';
      for (char c : f.value) {
        if (c == '"' || c == '\\') line += '\\';
        line += (c == '\n') ? ' ' : c;
      }
      line += '"';
    } else {
      line += f.value;
    }
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace custos::log
