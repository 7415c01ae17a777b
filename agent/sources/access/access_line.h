// The wire format of the access-event socket: one JSON object per line, sent
// by data services (object-store gateway, feature store, DB proxy) that know
// who accessed what better than the kernel does. See README.md for the
// format; this header turns one line (untrusted bytes) into an AccessRequest
// or an error that names the field and what was expected:
//
//   Result<AccessRequest> r = ParseAccessLine(R"({"action":"read","object":"s3://b/k"})");
//   if (!r.ok()) reply = r.status().message();  // "field 'action': unknown value ..."
//
// The parser is strict (unknown or duplicate fields, wrong types, invalid
// UTF-8 and out-of-range numbers are errors) and bounded (recursion-free,
// linear in the line). Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "custos/v1/records.pb.h"

namespace custos::agent::access {

// Longest accepted "object"; other string fields are bounded by kMaxFieldBytes.
constexpr size_t kMaxObjectBytes = 4096;
constexpr size_t kMaxFieldBytes = 1024;

struct AccessRequest {
  v1::AccessEvent::Action action = v1::AccessEvent::ACTION_UNSPECIFIED;
  v1::AccessEvent::Outcome outcome = v1::AccessEvent::OUTCOME_SUCCESS;
  std::string object;            // path or URI, required
  std::string dataset;           // explicit dataset id; empty: mapped from object
  std::string service_identity;  // the principal as the service knows it
  std::string user;
  int64_t uid = -1;
  uint64_t bytes = 0;
  uint32_t count = 1;
  std::optional<int64_t> time_unix_nano;  // absent: the time the agent received it
};

// Parses one line (without its newline). Errors are INVALID_ARGUMENT with a
// message fit to send back to the client (the caller prefixes "line N: ").
Result<AccessRequest> ParseAccessLine(std::string_view line);

// "2026-11-26T14:52:34.123456789Z" or with a "+01:00" offset → Unix nanos.
Result<int64_t> ParseRfc3339(std::string_view text);

}  // namespace custos::agent::access
