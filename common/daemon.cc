#include "common/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdio>

#include "common/clock.h"

#include "common/log.h"
#include "common/thread_name.h"

namespace custos {
namespace {

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);  // used only to wake the waiter at shutdown
  return set;
}

}  // namespace

SignalWaiter::SignalWaiter() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  thread_ = std::thread([this] {
    SetThreadName("signals");
    Run();
  });
}

SignalWaiter::~SignalWaiter() {
  stop_.store(true);
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void SignalWaiter::Run() {
  sigset_t set = HandledSignals();
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      log::Info("daemon", "SIGHUP received: reload requested");
      reload_.store(true);
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) {
      log::Info("daemon", sig == SIGTERM ? "SIGTERM received: stopping" : "SIGINT received: stopping");
    }
    RequestStop();
    return;
  }
}

void SignalWaiter::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
}

bool SignalWaiter::WaitForStop(int64_t nanos) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::nanoseconds(nanos), [this] { return stop_.load(); });
  return stop_.load();
}

int ParseDaemonArgs(int argc, char** argv, const std::string& name, const std::string& default_config,
                    DaemonArgs* args) {
  const std::string usage = "usage: " + name + " [--config PATH] [--check-config] [--version]\n" +
                            "  --config PATH     configuration file (default " + default_config + ")\n" +
                            "  --check-config    validate the configuration and keys, then exit\n";
  args->config_path = default_config;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      args->config_path = argv[++i];
    } else if (a == "--check-config") {
      args->check_only = true;
    } else if (a == "--version") {
      std::printf("%s %s\n", name.c_str(), CUSTOS_VERSION);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(usage.c_str(), stdout);
      return 0;
    } else {
      std::fprintf(stderr, "%s: unknown argument '%s'\n%s", name.c_str(), a.c_str(), usage.c_str());
      return 2;
    }
  }
  return -1;
}

void RunService(SignalWaiter& signals, const std::function<std::string()>& status,
                const std::function<void()>& reload) {
  systemd::NotifyReady(status());
  int64_t ping = systemd::WatchdogPingIntervalNanos();
  int64_t tick = ping > 0 ? std::min<int64_t>(ping, 5 * kNanosPerSecond) : 5 * kNanosPerSecond;
  while (!signals.WaitForStop(tick)) {
    if (signals.TakeReload() && reload) reload();
    systemd::NotifyWatchdog();
    systemd::NotifyStatus(status());
  }
  systemd::NotifyStopping();
}

namespace systemd {

void NotifyReady(const std::string& status) { sd_notify(0, ("READY=1\nSTATUS=" + status).c_str()); }
void NotifyStatus(const std::string& status) { sd_notify(0, ("STATUS=" + status).c_str()); }
void NotifyStopping() { sd_notify(0, "STOPPING=1"); }
void NotifyWatchdog() { sd_notify(0, "WATCHDOG=1"); }

int64_t WatchdogPingIntervalNanos() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return 0;
  return static_cast<int64_t>(usec) * 1000 / 2;
}

}  // namespace systemd
}  // namespace custos
