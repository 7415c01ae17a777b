// Process plumbing shared by custos-agent and custos-collector: signals and
// the systemd notify protocol (Type=notify, WatchdogSec, STATUS= lines).
//
// Call SignalWaiter's constructor first in main(), before any thread starts,
// so that SIGTERM/SIGINT/SIGHUP are blocked everywhere and delivered only to
// its waiting thread. All methods are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace custos {

class SignalWaiter {
 public:
  SignalWaiter();
  ~SignalWaiter();
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  // Waits up to `nanos`; returns true once SIGTERM or SIGINT has arrived.
  bool WaitForStop(int64_t nanos);
  bool stop_requested() const { return stop_.load(); }
  // True once per SIGHUP received since the last call.
  bool TakeReload() { return reload_.exchange(false); }
  // Requests a stop as if a signal had arrived (tests, fatal errors).
  void RequestStop();

 private:
  void Run();

  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

namespace systemd {

// Each is a no-op when not run by systemd (NOTIFY_SOCKET unset).
void NotifyReady(const std::string& status);
void NotifyStatus(const std::string& status);
void NotifyStopping();
void NotifyWatchdog();
// Half the watchdog interval systemd asked for, or 0 when there is none.
int64_t WatchdogPingIntervalNanos();

}  // namespace systemd
}  // namespace custos
