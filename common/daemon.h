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
#include <functional>
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

// The command line both daemons share: --config PATH, --check-config,
// --version, --help.
struct DaemonArgs {
  std::string config_path;
  bool check_only = false;
};

// Parses argv into `args`. Returns an exit code when the process should exit
// now (--version, --help, a usage error), or -1 to go on.
int ParseDaemonArgs(int argc, char** argv, const std::string& name, const std::string& default_config,
                    DaemonArgs* args);

// The service's main loop: until SIGTERM/SIGINT, pings the systemd watchdog,
// refreshes STATUS= with `status()` and calls `reload()` on SIGHUP. Sends
// READY=1 first and STOPPING=1 last.
void RunService(SignalWaiter& signals, const std::function<std::string()>& status,
                const std::function<void()>& reload);

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
