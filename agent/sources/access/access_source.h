// The "access" source: who read, wrote, created, deleted or renamed what in
// the datasets, as v1::AccessEvent records, from two inputs that can be
// enabled separately:
//
// - fanotify on the dataset roots (fanotify_watcher.h): what the kernel sees
//   local processes do to files, with the process's identity (pid, uid,
//   user, executable, systemd unit) from /proc. Repeats of (pid, action,
//   path) within coalesce_window become one record with a count
//   (coalescer.h). The kernel cannot replay: events while the agent is down
//   are not seen, and a queue overflow is reported as a Gap.
// - the access-event socket (access_socket_server.h): data services report
//   accesses they served, with the principal as they know it; the reporting
//   process (SO_PEERCRED) becomes the record's resource (systemd_unit and
//   labels access.reporter_exe / access.reporter_uid).
//
// Paths and URIs map to datasets, and uids/users/units to principal names,
// through DatasetMap (dataset_map.h). No position is saved: an "ok" reply
// means the record is in the batcher; a restart resumes nothing.
//
// Config: [sources.access], every key documented in README.md.
// Thread-safety: Start/Stop from one thread; the source runs two threads.
#pragma once

#include <memory>

#include "agent/core/source.h"

namespace custos::agent::access {

Result<std::unique_ptr<Source>> CreateAccessSource(ConfigSection& config, SourceContext& context);

}  // namespace custos::agent::access
