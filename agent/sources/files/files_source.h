// The "files" source tails log files, like Fluent Bit's `tail` input or
// rsyslog's imfile: every line of the files matching `paths` (and none of
// `exclude`) becomes a custos::v1::LogRecord, exactly once across rotations,
// truncation and agent restarts.
//
//   [sources.files]
//   enabled = true
//   paths = ["/var/log/app/*.log"]
//   exclude = ["/var/log/app/debug.log"]
//
//   auto source = CreateFilesSource(section, context);   // agent start-up
//   (*source)->Start(spool.RecoveredPositions()["files"]);
//
// How it works (see README.md for every option):
// - Polling, no inotify: every poll_interval each open file is read to its
//   end in 64 KiB chunks and its path is stat()ed; every rescan_interval (and
//   at once after a rotation) the globs are expanded to find new files.
// - A file is known by device + inode + fingerprint (file_identity.h).
//   Rename-and-create rotation: the old file is read through its open
//   descriptor to its end before the new file at that path is read; it is
//   closed once it has not grown for rotate_wait. Copytruncate: a size below
//   the read offset, or first bytes that changed, restart the file at 0.
// - Records: message = the line without "\n" / "\r\n" (invalid UTF-8 replaced
//   by U+FFFD), time = read time, source = "file:<path>", fields path and
//   offset (+ truncated, continued, multiline_split, invalid_utf8,
//   unterminated when they apply). Optional multi-line joining.
// - Position: for every tracked file its identity, path and the offset after
//   the last record handed to the batcher (file_identity.h), saved with those
//   records; Start() resumes each file there, finding it by identity even if
//   it was renamed while the agent was down.
// - Backpressure: when the batcher refuses a chunk, reading stops and the same
//   chunk is offered again every 5 ms (at most poll_interval); nothing is dropped.
//
// Thread-safety: Start() (once; a second call is FAILED_PRECONDITION) and
// Stop() from one controlling thread; the source reads on its own thread.
#pragma once

#include <memory>

#include "agent/core/source.h"

namespace custos::agent::files {

Result<std::unique_ptr<Source>> CreateFilesSource(ConfigSection& config, SourceContext& context);

}  // namespace custos::agent::files
