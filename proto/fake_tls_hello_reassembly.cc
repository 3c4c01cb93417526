// ClientHello reassembly across handshake records (see the header).
#include "proto/fake_tls_hello_reassembly.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace mtp {
namespace {

constexpr uint8_t kClientHelloType = 0x01;
constexpr size_t kHandshakeHeaderSize = 4;  // type + BE24 length

HelloReassembly Reject(HelloReassemblyError error, size_t records) {
  HelloReassembly r;
  r.status = HelloReassemblyStatus::kRejected;
  r.error = error;
  r.records = records;
  return r;
}

HelloReassembly NeedMore(size_t bytes_needed, size_t records) {
  HelloReassembly r;
  r.bytes_needed = bytes_needed;
  r.records = records;
  return r;
}

}  // namespace

const char* HelloReassemblyErrorName(HelloReassemblyError error) {
  switch (error) {
    case HelloReassemblyError::kNone:
      return "none";
    case HelloReassemblyError::kNotHandshake:
      return "not_handshake";
    case HelloReassemblyError::kBadVersion:
      return "bad_version";
    case HelloReassemblyError::kEmptyRecord:
      return "empty_record";
    case HelloReassemblyError::kNotClientHello:
      return "not_client_hello";
    case HelloReassemblyError::kTooSmall:
      return "too_small";
    case HelloReassemblyError::kTooBig:
      return "too_big";
    case HelloReassemblyError::kTooManyRecords:
      return "too_many_records";
    case HelloReassemblyError::kTrailingBytes:
      return "trailing_bytes";
  }
  return "?";
}

bool IsFragmentedClientHello(ByteSpan buffered) {
  if (buffered.size() < kClassifyMinBytes) return false;
  if (buffered[0] != kTlsHandshake || buffered[1] != 0x03 || buffered[2] != 0x01) return false;
  const size_t record_length = LoadBe16(buffered.data() + 3);
  if (record_length < kHandshakeHeaderSize) return true;
  // The whole handshake header is in this record: fragmented iff the ClientHello goes on.
  if (buffered[5] != kClientHelloType) return false;
  const size_t message_length = (size_t{buffered[6]} << 16) | LoadBe16(buffered.data() + 7);
  return kHandshakeHeaderSize + message_length > record_length;
}

HelloReassembly ReassembleClientHello(ByteSpan raw, MutableByteSpan out) {
  assert(out.size() >= kMaxClientHelloBytes);
  uint8_t* const payload_out = out.data() + kTlsRecordHeaderSize;
  size_t payload = 0;  // handshake bytes gathered so far
  size_t total = 0;    // handshake message size (header included); 0 until its header is in
  size_t records = 0;
  size_t pos = 0;  // start of the record being read
  for (;;) {
    // Header, checked byte by byte so garbage is rejected as soon as it shows.
    const size_t header_have = std::min(raw.size() - pos, kTlsRecordHeaderSize);
    if (header_have >= 1 && raw[pos] != kTlsHandshake) {
      return Reject(HelloReassemblyError::kNotHandshake, records);
    }
    if (header_have >= 2 && raw[pos + 1] != 0x03) {
      return Reject(HelloReassemblyError::kBadVersion, records);
    }
    if (header_have >= 3) {
      const uint8_t minor = raw[pos + 2];
      const bool ok = records == 0 ? minor == 0x01 : minor <= 0x04;
      if (!ok) return Reject(HelloReassemblyError::kBadVersion, records);
    }
    if (header_have < kTlsRecordHeaderSize) {
      return NeedMore(pos + kTlsRecordHeaderSize, records);
    }
    const size_t length = LoadBe16(raw.data() + pos + 3);
    if (length == 0) return Reject(HelloReassemblyError::kEmptyRecord, records);
    if (++records > kMaxHelloRecords) {
      return Reject(HelloReassemblyError::kTooManyRecords, records);
    }
    if (total != 0 && length > total - payload) {
      return Reject(HelloReassemblyError::kTrailingBytes, records);
    }
    const size_t body = pos + kTlsRecordHeaderSize;
    const size_t end = body + length;
    size_t at = body;
    const size_t have_end = std::min(raw.size(), end);
    // Until the handshake header is complete, take at most the bytes that complete it.
    if (total == 0) {
      const size_t n = std::min(have_end - at, kHandshakeHeaderSize - payload);
      std::memcpy(payload_out + payload, raw.data() + at, n);
      payload += n;
      at += n;
      if (payload >= 1 && payload_out[0] != kClientHelloType) {
        return Reject(HelloReassemblyError::kNotClientHello, records);
      }
      if (payload == kHandshakeHeaderSize) {
        const size_t message_length = (size_t{payload_out[1]} << 16) | LoadBe16(payload_out + 2);
        total = kHandshakeHeaderSize + message_length;
        if (kTlsRecordHeaderSize + total > kMaxClientHelloBytes) {
          return Reject(HelloReassemblyError::kTooBig, records);
        }
        if (total < kMinClientHelloRecordLength) {
          return Reject(HelloReassemblyError::kTooSmall, records);
        }
        if (end - at > total - payload) {
          return Reject(HelloReassemblyError::kTrailingBytes, records);
        }
      }
    }
    // The rest of the record's available bytes: all hello bytes by the checks above.
    const size_t n = have_end - at;
    std::memcpy(payload_out + payload, raw.data() + at, n);
    payload += n;
    if (have_end < end) return NeedMore(end, records);
    if (total != 0 && payload == total) {
      out[0] = kTlsHandshake;
      out[1] = 0x03;
      out[2] = 0x01;
      StoreBe16(out.data() + 3, static_cast<uint16_t>(total));
      HelloReassembly r;
      r.status = HelloReassemblyStatus::kComplete;
      r.consumed = end;
      r.records = records;
      r.hello_size = kTlsRecordHeaderSize + total;
      return r;
    }
    pos = end;
  }
}

std::vector<uint8_t> FragmentClientHello(ByteSpan hello, size_t byte_records, size_t records) {
  assert(hello.size() > kTlsRecordHeaderSize);
  const ByteSpan payload = hello.subspan(kTlsRecordHeaderSize);
  std::vector<uint8_t> out;
  auto append = [&](ByteSpan piece) {
    out.insert(out.end(), {kTlsHandshake, 0x03, 0x01, static_cast<uint8_t>(piece.size() >> 8),
                           static_cast<uint8_t>(piece.size())});
    out.insert(out.end(), piece.begin(), piece.end());
  };
  const size_t singles = std::min(byte_records, payload.size());
  for (size_t i = 0; i < singles; ++i) append(payload.subspan(i, 1));
  const ByteSpan rest = payload.subspan(singles);
  const size_t n = std::clamp<size_t>(records, 1, std::max<size_t>(rest.size(), 1));
  size_t at = 0;
  for (size_t i = 0; i < n && at < rest.size(); ++i) {
    const size_t end = rest.size() * (i + 1) / n;  // about equal; the last ends at the end
    append(rest.subspan(at, end - at));
    at = end;
  }
  return out;
}

}  // namespace mtp
