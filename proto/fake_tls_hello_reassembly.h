// Reassembly of a ClientHello that arrives fragmented over several TLS handshake records
// (DPI-evasion tools such as ByeDPI and zapret cut the client's single record into many, down
// to 1-byte records). The client signed the single record `16 03 01 BE16(L)` + handshake
// message (spec client-transports §6.4 step 7: the HMAC covers the 5-byte header too), so the
// payloads are concatenated and re-framed as exactly that record; ValidateClientHello then
// checks it unchanged. Pure function over the raw bytes buffered so far; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/bytes.h"
#include "proto/fake_tls_common.h"

namespace mtp {

// Bound on the records one hello may be cut into: every split of a hello up to 2 KiB (the
// ~1.8 KiB post-quantum hellos included) fits even as 1-byte records.
inline constexpr size_t kMaxHelloRecords = 2048;

enum class HelloReassemblyStatus : uint8_t {
  kNeedMore,  // call again with more bytes (bytes_needed is the least total that can help)
  kComplete,  // the re-framed hello is in out[0..hello_size); `consumed` raw bytes carried it
  kRejected,  // `error` says why; the connection is fronted from its first byte
};

enum class HelloReassemblyError : uint8_t {
  kNone,
  kNotHandshake,    // a record's content type is not handshake (0x16)
  kBadVersion,      // first record not `03 01` (what the client signs); a later one not 03 0x
  kEmptyRecord,     // zero-length record (TLS forbids empty handshake fragments)
  kNotClientHello,  // the handshake message type is not ClientHello (1)
  kTooSmall,        // re-framed record length under 512 (the single-record rule, §6.2)
  kTooBig,          // re-framed record over kMaxClientHelloBytes
  kTooManyRecords,  // more than kMaxHelloRecords records before the hello completed
  kTrailingBytes,   // the record that ends the hello carries more bytes after it
};

// Short stable name ("not_handshake", "too_big", ...) for logs.
const char* HelloReassemblyErrorName(HelloReassemblyError error);

struct HelloReassembly {
  HelloReassemblyStatus status = HelloReassemblyStatus::kNeedMore;
  HelloReassemblyError error = HelloReassemblyError::kNone;
  size_t bytes_needed = 0;  // kNeedMore: end of the header or record being read
  size_t consumed = 0;      // kComplete: raw bytes of the records that carried the hello
  size_t records = 0;       // records seen (the last one possibly incomplete)
  size_t hello_size = 0;    // kComplete: 5 + handshake message length

  bool complete() const { return status == HelloReassemblyStatus::kComplete; }
  bool need_more() const { return status == HelloReassemblyStatus::kNeedMore; }
  bool rejected() const { return status == HelloReassemblyStatus::kRejected; }
};

// True when `buffered` (at least kClassifyMinBytes, else false) starts with a `16 03 01`
// record that cannot hold the whole ClientHello: its length is under 4 (the handshake header
// is cut), or the ClientHello's own length says it continues past the record. Hellos that fit
// their first record keep the single-record path (§6.2) unchanged.
bool IsFragmentedClientHello(ByteSpan buffered);

// Walks the handshake records at the start of `raw`, concatenating their payloads into
// out[5..), and once the ClientHello message is complete writes the header `16 03 01 BE16(L)`
// at out[0..5). `out` must hold kMaxClientHelloBytes bytes. Bytes after the last record are
// not looked at (the caller applies the extra-bytes rule to them). Rejections are decided as
// early as the bytes allow.
HelloReassembly ReassembleClientHello(ByteSpan raw, MutableByteSpan out);

// The client side, for the test client and tests: cuts the single-record hello `hello` the way
// DPI-evasion tools do. The first `byte_records` payload bytes go as 1-byte records, the rest
// as `records` records of about equal size (at least 1 byte each; 1 = one record). Every
// record keeps the `16 03 01` header. The proxy reassembles the result into `hello` again.
std::vector<uint8_t> FragmentClientHello(ByteSpan hello, size_t byte_records, size_t records);

}  // namespace mtp
