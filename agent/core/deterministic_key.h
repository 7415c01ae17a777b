// DeterministicKey(): bytes that identify a protobuf message by value, for
// in-memory dedup tables (the batcher's resource table, the otlp mapper's
// resource cache).
//
//   std::string key = DeterministicKey(resource);
//   auto [it, inserted] = ids.try_emplace(std::move(key), next_id);
//
// Why not SerializeAsString(): map fields (v1::Resource.labels) serialize in
// each instance's own hash order, so two equal messages can give different
// bytes. Deterministic serialization writes map entries sorted by key.
// The key is stable within one binary; it is not a canonical form to store
// or to compare across protobuf versions.
//
// Header-only so that libraries outside custos_agent_core (the otlp decoder)
// can use it without linking the core. Thread-safe (reads `message` only).
#pragma once

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message_lite.h>

#include <string>

namespace custos::agent {

inline std::string DeterministicKey(const google::protobuf::MessageLite& message) {
  std::string key;
  {
    google::protobuf::io::StringOutputStream stream(&key);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    // Fails only for a proto2 message missing a required field: custos
    // messages are proto3, and the partial bytes would still be a fine key.
    (void)message.SerializePartialToCodedStream(&coded);
  }  // the CodedOutputStream flushes into `key` here
  return key;
}

}  // namespace custos::agent
