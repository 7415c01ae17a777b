// EntryMapper turns the data items of one journal entry ("FIELD=value", the
// value possibly binary) into a custos::v1::LogRecord. It knows nothing of
// sd-journal, so it is tested without a journal:
//
//   EntryMapper mapper(MapperOptions{.extra_fields = {"_EXE"}});
//   mapper.Begin(realtime_usec);
//   for (each data item of the entry) mapper.Consume(item);
//   MappedEntry e = mapper.Finish();   // e.record.log(), e.unit, e.issues
//
// Mapping (the journal's field → the record):
//   MESSAGE            → message (invalid UTF-8 repaired by common/utf8.h: one
//                        U+FFFD per maximal invalid subpart; at most
//                        max_message_bytes, cut on a character boundary)
//   PRIORITY 0..7      → severity EMERGENCY..DEBUG (else UNSPECIFIED and the raw
//                        value kept in fields["PRIORITY"])
//   _SYSTEMD_UNIT      → MappedEntry::unit (the source turns it into a Resource)
//   _PID               → pid (not a number: kept in fields["_PID"])
//   _COMM              → comm
//   _HOSTNAME, SYSLOG_IDENTIFIER, _UID → fields "hostname", "syslog_identifier", "uid"
//   TRACE_ID / SPAN_ID → trace_id (32 hex digits → 16 bytes) / span_id (16 → 8);
//                        anything else is kept verbatim in fields["TRACE_ID"/"SPAN_ID"]
//   any of extra_fields → fields[<journal name>] (at most max_field_bytes)
// time_unix_nano is the entry's __REALTIME_TIMESTAMP in ns; source is "journald".
// A field repeated inside one entry: the first value wins.
//
// Thread-compatible: one mapper per reading thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "custos/v1/records.pb.h"

namespace custos::agent::journald {

struct MapperOptions {
  std::set<std::string, std::less<>> extra_fields;  // journal field names copied into fields
  size_t max_message_bytes = 64 * 1024;
  size_t max_field_bytes = 4 * 1024;
};

// What was wrong with an entry's data; counted by the source, never fatal.
struct EntryIssues {
  int truncated = 0;     // values cut to their bound
  int invalid_utf8 = 0;  // values in which invalid UTF-8 was replaced by U+FFFD
  int malformed = 0;     // PRIORITY, _PID, TRACE_ID, SPAN_ID or an item without '='
};

struct MappedEntry {
  v1::Record record;  // a LogRecord; resource_ref left 0
  std::string unit;   // _SYSTEMD_UNIT, "" when absent
  EntryIssues issues;
};

class EntryMapper {
 public:
  explicit EntryMapper(MapperOptions options) : options_(std::move(options)) {}

  // Starts a new entry whose __REALTIME_TIMESTAMP is `realtime_usec`.
  void Begin(uint64_t realtime_usec);
  // Takes one "FIELD=value" item of the entry. The bytes need not outlive the call.
  void Consume(std::string_view item);
  // Returns the entry built since Begin().
  MappedEntry Finish();

 private:
  void SetOnce(const std::string& key, std::string_view value, size_t max_bytes);

  const MapperOptions options_;
  MappedEntry entry_;
  bool have_message_ = false;
  bool have_priority_ = false;
  bool have_pid_ = false;
  bool have_comm_ = false;
  bool have_trace_ = false;
  bool have_span_ = false;
};

// Syslog priority "0".."7" → Severity (0 → EMERGENCY … 7 → DEBUG);
// SEVERITY_UNSPECIFIED when the text is not a single digit 0..7.
v1::Severity SeverityFromPriority(std::string_view priority);

// Hex text of exactly 2*n digits (either case) → n bytes; false otherwise.
bool DecodeHexId(std::string_view hex, size_t n, std::string* out);

}  // namespace custos::agent::journald
