// Fake-TLS record layer after the ServerHello (spec client-transports §6.7, §6.8): a streaming
// unwrapper for the client->proxy direction and a record wrapper with pluggable record sizing
// for proxy->client. Each object belongs to one connection and is used by that connection's
// thread only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/bytes.h"
#include "crypto/aes.h"
#include "proto/fake_tls_common.h"

namespace mtp {

// ---- Client -> proxy -------------------------------------------------------------------------

enum class TlsReadError : uint8_t {
  kNone,
  kBadFirstPrefix,       // bytes after the ServerHello are not 14 03 03 00 01 01 17 03 03 (close)
  kFirstRecordTooShort,  // first record shorter than the 64-byte obfuscated2 header (close)
  kBadRecordHeader,      // a later record does not start with 17 03 03 (close)
};
const char* TlsReadErrorName(TlsReadError error);

// Strips record headers from a byte stream and hands back payload pieces that point into the
// caller's buffers (zero-copy). Header bytes split across reads are kept inside (at most 11),
// so every input byte is always consumed. Record lengths 0..65535 are accepted (reference).
//
// The first payload bytes of a kAfterServerHello stream are the 64-byte obfuscated2 header;
// unlike the reference, the first record is streamed instead of buffered whole (the 64-byte
// minimum is checked from its header).
class TlsRecordReader {
 public:
  enum class Start : uint8_t {
    kAfterServerHello,  // proxy side: CCS + first application-data record, then records
    kRecords,           // only `17 03 03` records (the client side, after the ServerHello)
  };

  struct Step {
    size_t consumed = 0;        // input bytes used by this step (header bytes + payload)
    size_t payload_offset = 0;  // payload = input.subspan(payload_offset, payload_size)
    size_t payload_size = 0;
    TlsReadError error = TlsReadError::kNone;  // sticky: every later call reports it again
  };

  explicit TlsRecordReader(Start start = Start::kAfterServerHello);

  // Consumes a prefix of `input`: any pending/next header bytes, then as much payload of the
  // current record as `input` holds. Call repeatedly on input.subspan(step.consumed) until the
  // input is used up. An empty payload is normal (header only, or zero-length record).
  Step Next(ByteSpan input);

  // Convenience: unwraps all of `data` in place, moving payload bytes to the front. Returns
  // the payload size (data[0..n)); on error returns the payload recovered before it and sets
  // *error (the connection must be closed).
  size_t UnwrapInPlace(MutableByteSpan data, TlsReadError* error);

  TlsReadError error() const { return error_; }
  // Payload bytes delivered so far (the obfuscated2 header is payload bytes [0, 64)).
  uint64_t payload_bytes() const { return payload_bytes_; }
  // Payload bytes still expected in the current record (0 between records).
  size_t record_left() const { return record_left_; }

 private:
  size_t header_size() const;
  TlsReadError CheckHeader() const;

  bool first_ = true;               // next header is the 11-byte CCS + first record header
  uint8_t header_[kClientFirstRecordPrefixSize] = {};
  size_t header_have_ = 0;
  size_t record_left_ = 0;
  uint64_t payload_bytes_ = 0;
  TlsReadError error_ = TlsReadError::kNone;
};

// ---- Proxy -> client -------------------------------------------------------------------------

// Writes `17 03 03` + BE16 `payload_size` at out[0..5).
void WriteTlsRecordHeader(uint8_t* out, uint16_t payload_size);

enum class TlsRecordSizing : uint8_t {
  // Reference: records of at most 1425 payload bytes, the cut restarting at every flush.
  kReference,
  // Like real TLS servers (dynamic record sizing as in Go's crypto/tls and nginx/Cloudflare):
  // a burst starts small so the first bytes fit one TCP segment each, then grows to full-size
  // records. Schedule per burst: record lengths 1400, 2800, 5600, 11200, then 16401 (TLS 1.3
  // maximum: 16384 plaintext + content type + 16-byte AEAD tag). A burst begins at the first
  // flush and again at any flush after >= 1000 ms without one. A flush that has fewer bytes
  // than the allowance emits one shorter record (as a real server does); every record, short
  // or not, advances the schedule by one step.
  kAdaptive,
};

// Decides record sizes for one connection's proxy->client stream.
class TlsRecordSizer {
 public:
  static constexpr size_t kReferenceRecordSize = 1425;
  static constexpr size_t kAdaptiveFirstRecordSize = 1400;
  static constexpr size_t kAdaptiveMaxRecordSize = 16384 + 1 + 16;
  static constexpr int64_t kAdaptiveIdleResetMs = 1000;
  // Smallest allowance any policy uses for a non-final record: bounds the header overhead.
  static constexpr size_t kMinRecordSize = kAdaptiveFirstRecordSize;

  explicit TlsRecordSizer(TlsRecordSizing sizing = TlsRecordSizing::kReference)
      : sizing_(sizing) {}

  // Call once before wrapping each flush's worth of output.
  void BeginFlush(int64_t now_ms);
  // Payload size of the next record when `pending` (> 0) bytes remain in this flush.
  size_t NextRecordSize(size_t pending);

  TlsRecordSizing sizing() const { return sizing_; }

 private:
  TlsRecordSizing sizing_;
  bool seen_flush_ = false;
  int64_t last_flush_ms_ = 0;
  uint32_t records_in_burst_ = 0;
};

// Upper bound of the wrapped size of `payload_size` bytes under any sizing policy.
constexpr size_t MaxWrappedSize(size_t payload_size) {
  return payload_size +
         kTlsRecordHeaderSize * ((payload_size + TlsRecordSizer::kMinRecordSize - 1) /
                                 TlsRecordSizer::kMinRecordSize);
}

// Cuts `payload` into records sized by `sizer` (call sizer.BeginFlush first) and writes them to
// `out` (out.size() >= MaxWrappedSize(payload.size()), asserted). With `ctr` the payload is
// AES-CTR encrypted on the way (one pass, no extra copy). `payload` must not overlap `out`.
// Returns the bytes written.
size_t WrapTlsRecords(TlsRecordSizer& sizer, ByteSpan payload, MutableByteSpan out,
                      AesCtr* ctr = nullptr);

}  // namespace mtp
