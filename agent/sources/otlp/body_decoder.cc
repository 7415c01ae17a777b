#include "agent/sources/otlp/body_decoder.h"

#include <algorithm>

namespace custos::agent::otlp {

std::optional<BodyDecoder::Coding> BodyDecoder::ParseContentEncoding(std::string_view header) {
  std::string lower(header);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  if (lower.empty() || lower == "identity") return kIdentity;
  if (lower == "gzip" || lower == "x-gzip") return kGzip;
  if (lower == "deflate") return kDeflate;
  return std::nullopt;
}

BodyDecoder::BodyDecoder(Coding coding, uint64_t max_bytes) : coding_(coding), max_bytes_(max_bytes) {
  if (coding_ == kIdentity) return;
  // 16 + 15: gzip only; 32 + 15: zlib or gzip, detected from the header
  // ("deflate" in HTTP means zlib-wrapped, and some clients send gzip).
  zs_open_ = inflateInit2(&zs_, coding_ == kGzip ? 16 + MAX_WBITS : 32 + MAX_WBITS) == Z_OK;
  if (!zs_open_) state_ = kBadData;
}

BodyDecoder::~BodyDecoder() {
  if (zs_open_) inflateEnd(&zs_);
}

void BodyDecoder::Overflow() {
  state_ = kTooLarge;
  body_.clear();
  body_.shrink_to_fit();
}

BodyDecoder::State BodyDecoder::Feed(const char* data, size_t n) {
  wire_bytes_ += n;
  if (state_ != kOk) return state_;
  if (wire_bytes_ > max_bytes_) {
    Overflow();
    return state_;
  }
  if (coding_ != kIdentity) return Inflate(data, n);
  if (body_.size() + n > max_bytes_) {
    Overflow();
  } else {
    body_.append(data, n);
  }
  return state_;
}

BodyDecoder::State BodyDecoder::Inflate(const char* data, size_t n) {
  if (stream_end_) {
    if (n > 0) state_ = kBadData;  // bytes after the end of the compressed stream
    return state_;
  }
  zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  zs_.avail_in = static_cast<uInt>(n);
  char out[16384];
  while (true) {
    zs_.next_out = reinterpret_cast<Bytef*>(out);
    zs_.avail_out = sizeof out;
    int rc = inflate(&zs_, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      state_ = kBadData;
      return state_;
    }
    size_t produced = sizeof out - zs_.avail_out;
    if (body_.size() + produced > max_bytes_) {
      Overflow();
      return state_;
    }
    body_.append(out, produced);
    if (rc == Z_STREAM_END) {
      stream_end_ = true;
      break;
    }
    if (zs_.avail_out != 0) break;  // input used up; a full buffer may have more to come
  }
  // Bytes after the end of the compressed stream are not part of any body.
  if (stream_end_ && zs_.avail_in > 0) state_ = kBadData;
  return state_;
}

BodyDecoder::State BodyDecoder::Finish() {
  if (state_ == kOk && coding_ != kIdentity && !stream_end_) state_ = kBadData;
  return state_;
}

}  // namespace custos::agent::otlp
