// Names the calling thread, so that `top -H`, `ps -L` and /proc/PID/task
// show which part of a daemon uses the CPU ("journald", "otlp-http", ...).
#pragma once

#include <pthread.h>

#include <string>

namespace custos {

// Linux keeps 15 bytes of a thread name; longer names are cut.
inline void SetThreadName(const std::string& name) { pthread_setname_np(pthread_self(), name.substr(0, 15).c_str()); }

}  // namespace custos
