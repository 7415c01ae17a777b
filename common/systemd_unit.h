// systemd unit names as the agent reports them (Resource.systemd_unit): the
// unit that owns a process's cgroup, else the slice above it.
#pragma once

#include <string_view>

namespace custos {

// The unit types that own processes' cgroups; a slice only groups units.
inline constexpr std::string_view kProcessUnitSuffixes[] = {".service", ".scope", ".socket", ".mount", ".swap"};

inline bool IsSystemdUnitName(std::string_view name) {
  for (std::string_view suffix : kProcessUnitSuffixes) {
    if (name.ends_with(suffix)) return true;
  }
  return name.ends_with(".slice");
}

}  // namespace custos
