// Fuzz target: the fake-TLS record layer. Byte 0: bit 0 = start mode (after-ServerHello or
// plain records), bits 1-7 seed the chunking. The rest is either unwrapped (bit 0 of byte 1
// clear) — chunked Next() and whole-buffer UnwrapInPlace must agree — or wrapped with a sizing
// policy and random flush times and then unwrapped again (must round-trip).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "proto/fake_tls_records.h"

namespace {

#define FUZZ_CHECK(cond)         \
  do {                           \
    if (!(cond)) std::abort();   \
  } while (0)

void Unwrap(mtp::TlsRecordReader::Start start, uint32_t seed, mtp::ByteSpan in) {
  // Whole buffer in place.
  std::vector<uint8_t> whole(in.begin(), in.end());
  mtp::TlsRecordReader a(start);
  mtp::TlsReadError error_a;
  const size_t n = a.UnwrapInPlace(mtp::MutableByteSpan(whole), &error_a);
  FUZZ_CHECK(n <= in.size());

  // Chunked through Next(), chunk sizes from a tiny LCG.
  mtp::TlsRecordReader b(start);
  std::vector<uint8_t> got;
  mtp::TlsReadError error_b = mtp::TlsReadError::kNone;
  size_t pos = 0;
  while (pos < in.size() && error_b == mtp::TlsReadError::kNone) {
    seed = seed * 1103515245u + 12345u;
    const size_t chunk = std::min<size_t>(in.size() - pos, 1 + (seed >> 16) % 97);
    mtp::ByteSpan piece = in.subspan(pos, chunk);
    while (!piece.empty()) {
      const mtp::TlsRecordReader::Step s = b.Next(piece);
      if (s.error != mtp::TlsReadError::kNone) {
        error_b = s.error;
        break;
      }
      FUZZ_CHECK(s.consumed > 0 && s.consumed <= piece.size());
      FUZZ_CHECK(s.payload_offset + s.payload_size <= s.consumed);
      got.insert(got.end(), piece.begin() + static_cast<std::ptrdiff_t>(s.payload_offset),
                 piece.begin() + static_cast<std::ptrdiff_t>(s.payload_offset + s.payload_size));
      piece = piece.subspan(s.consumed);
    }
    pos += chunk;
  }
  FUZZ_CHECK(error_a == error_b);
  FUZZ_CHECK(got.size() == n && std::equal(got.begin(), got.end(), whole.begin()));
  FUZZ_CHECK(a.payload_bytes() == n && b.payload_bytes() == n);
}

void WrapRoundTrip(uint32_t seed, mtp::ByteSpan in) {
  mtp::TlsRecordSizer sizer((seed & 1) ? mtp::TlsRecordSizing::kAdaptive
                                       : mtp::TlsRecordSizing::kReference);
  mtp::TlsRecordReader reader(mtp::TlsRecordReader::Start::kRecords);
  std::vector<uint8_t> got;
  int64_t now_ms = 0;
  size_t pos = 0;
  while (pos < in.size()) {
    seed = seed * 1103515245u + 12345u;
    const size_t flush = std::min<size_t>(in.size() - pos, 1 + (seed >> 8) % 20000);
    now_ms += (seed >> 24) * 10;
    std::vector<uint8_t> out(mtp::MaxWrappedSize(flush));
    sizer.BeginFlush(now_ms);
    const size_t written = mtp::WrapTlsRecords(sizer, in.subspan(pos, flush), out);
    FUZZ_CHECK(written > flush && written <= out.size());
    mtp::TlsReadError error;
    const size_t n = reader.UnwrapInPlace(mtp::MutableByteSpan(out).first(written), &error);
    FUZZ_CHECK(error == mtp::TlsReadError::kNone && n == flush);
    got.insert(got.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    pos += flush;
  }
  FUZZ_CHECK(got.size() == in.size() && std::equal(got.begin(), got.end(), in.begin()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto start = (data[0] & 1) ? mtp::TlsRecordReader::Start::kRecords
                                   : mtp::TlsRecordReader::Start::kAfterServerHello;
  const uint32_t seed = data[0] >> 1;
  const mtp::ByteSpan in(data + 2, size - 2);
  if (data[1] & 1) {
    WrapRoundTrip(seed ^ (uint32_t{data[1]} << 8), in);
  } else {
    Unwrap(start, seed, in);
  }
  return 0;
}
