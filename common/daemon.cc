#include "common/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <chrono>

#include "common/log.h"

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
  thread_ = std::thread([this] { Run(); });
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
