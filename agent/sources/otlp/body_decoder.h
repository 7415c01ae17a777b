// Collects an HTTP request body as it arrives, inflating gzip or deflate
// (zlib) content encodings on the fly, and bounds it: at most `max_bytes` as
// sent and at most `max_bytes` after decompression, so a small gzip bomb
// cannot balloon.
//
//   BodyDecoder body(BodyDecoder::kGzip, 8 << 20);
//   for (each piece) if (body.Feed(data, n) != BodyDecoder::kOk) break;
//   if (body.Finish() == BodyDecoder::kOk) use(body.body());
//
// Past the bound the kept bytes are released and later input is only
// counted (wire_bytes()), so the caller can read on a little and still
// answer 413 rather than reset the connection. Thread-compatible.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace custos::agent::otlp {

class BodyDecoder {
 public:
  enum Coding { kIdentity, kGzip, kDeflate };
  enum State { kOk, kTooLarge, kBadData };

  // "", "identity", "gzip", "x-gzip", "deflate" (any case); nullopt for others.
  static std::optional<Coding> ParseContentEncoding(std::string_view header);

  BodyDecoder(Coding coding, uint64_t max_bytes);
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  State Feed(const char* data, size_t n);
  // Call at the end of the body: a compressed stream cut short is kBadData.
  State Finish();

  Coding coding() const { return coding_; }
  State state() const { return state_; }
  const std::string& body() const { return body_; }
  std::string&& TakeBody() { return std::move(body_); }
  // Bytes received as sent (compressed), including any past the bound.
  uint64_t wire_bytes() const { return wire_bytes_; }

 private:
  State Inflate(const char* data, size_t n);
  void Overflow();

  const Coding coding_;
  const uint64_t max_bytes_;
  State state_ = kOk;
  std::string body_;
  uint64_t wire_bytes_ = 0;
  z_stream zs_{};
  bool zs_open_ = false;
  bool stream_end_ = false;
};

}  // namespace custos::agent::otlp
