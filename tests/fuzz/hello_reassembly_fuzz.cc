// Fuzz target: ClientHello reassembly across TLS records. Byte 0 bit 0 picks the mode:
//   0  ReassembleClientHello over arbitrary bytes: the answer is consistent (bounds, the
//      re-framed header, need-more never claims fewer bytes than it has, and a completed hello
//      reassembles the same from exactly its consumed prefix);
//   1  a signed hello (bit 1: modern ~1.8 KiB, else legacy 517) cut into records whose sizes
//      come from the input, delivered in one piece: it must re-frame to exactly the signed
//      record and be accepted by ValidateClientHello.
// Mode 0 also runs the JA4 parser over the bytes (fake_tls_ja4.h).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "proto/fake_tls.h"
#include "proto/fake_tls_ja4.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

constexpr mtp::ClientSecret kSecret = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                       0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
constexpr int64_t kNow = 1700000000;

void ReassembleRaw(mtp::ByteSpan in) {
  // The JA4 parser walks every length of whatever it gets: "t" + 9 + "_" + 12 + "_" + 12.
  const std::optional<std::string> ja4 = mtp::Ja4Fingerprint(in);
  FUZZ_CHECK(!ja4.has_value() || (ja4->size() == 36 && (*ja4)[0] == 't'));
  std::vector<uint8_t> out(mtp::kMaxClientHelloBytes);
  const mtp::HelloReassembly r = mtp::ReassembleClientHello(in, mtp::MutableByteSpan(out));
  FUZZ_CHECK(r.records <= mtp::kMaxHelloRecords + 1);
  switch (r.status) {
    case mtp::HelloReassemblyStatus::kNeedMore:
      FUZZ_CHECK(r.bytes_needed > in.size() && r.error == mtp::HelloReassemblyError::kNone);
      return;
    case mtp::HelloReassemblyStatus::kRejected:
      FUZZ_CHECK(r.error != mtp::HelloReassemblyError::kNone);
      FUZZ_CHECK(std::strcmp(mtp::HelloReassemblyErrorName(r.error), "?") != 0);
      return;
    case mtp::HelloReassemblyStatus::kComplete:
      break;
  }
  FUZZ_CHECK(r.consumed <= in.size() && r.records >= 1 && r.records <= mtp::kMaxHelloRecords);
  FUZZ_CHECK(r.hello_size <= mtp::kMaxClientHelloBytes);
  FUZZ_CHECK(r.hello_size >= 5 + mtp::kMinClientHelloRecordLength);
  FUZZ_CHECK(out[0] == 0x16 && out[1] == 0x03 && out[2] == 0x01);
  FUZZ_CHECK(mtp::LoadBe16(out.data() + 3) == r.hello_size - 5 && out[5] == 0x01);
  // Payload bytes plus 5 header bytes per record make up the consumed bytes.
  FUZZ_CHECK(r.consumed == r.hello_size - 5 + 5 * r.records);
  std::vector<uint8_t> again(mtp::kMaxClientHelloBytes);
  const mtp::HelloReassembly r2 =
      mtp::ReassembleClientHello(in.first(r.consumed), mtp::MutableByteSpan(again));
  FUZZ_CHECK(r2.complete() && r2.consumed == r.consumed && r2.hello_size == r.hello_size);
  FUZZ_CHECK(std::memcmp(out.data(), again.data(), r.hello_size) == 0);
  // One byte short is never complete.
  const mtp::HelloReassembly r3 =
      mtp::ReassembleClientHello(in.first(r.consumed - 1), mtp::MutableByteSpan(again));
  FUZZ_CHECK(r3.need_more());
}

// Input: [sizes...] each byte b gives a record of (b % 64) + 1 bytes, or b * 8 when b >= 192.
void SplitSigned(bool modern, mtp::ByteSpan in) {
  const std::vector<uint8_t> hello =
      mtp::BuildClientHello(
          kSecret, "example.com", static_cast<int32_t>(kNow),
          modern ? mtp::ClientHelloLayout::kModern : mtp::ClientHelloLayout::kLegacy517)
          .value();
  std::vector<uint8_t> raw;
  size_t at = 5;
  size_t i = 0;
  while (at < hello.size()) {
    size_t n = hello.size() - at;
    if (i < in.size()) n = std::min(n, in[i] >= 192 ? size_t{in[i]} * 8 : size_t{in[i]} % 64 + 1);
    const uint8_t header[5] = {0x16, 0x03, i == 0 ? uint8_t{0x01} : uint8_t{0x03},
                               static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    raw.insert(raw.end(), header, header + 5);
    raw.insert(raw.end(), hello.begin() + static_cast<std::ptrdiff_t>(at),
               hello.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
    ++i;
  }
  std::vector<uint8_t> out(mtp::kMaxClientHelloBytes);
  const mtp::HelloReassembly r = mtp::ReassembleClientHello(raw, mtp::MutableByteSpan(out));
  FUZZ_CHECK(r.complete() && r.consumed == raw.size() && r.records == i);
  FUZZ_CHECK(r.hello_size == hello.size());
  FUZZ_CHECK(std::memcmp(out.data(), hello.data(), hello.size()) == 0);
  FUZZ_CHECK(mtp::IsFragmentedClientHello(raw) == (i > 1));
  const std::vector<mtp::ClientSecret> secrets = {kSecret};
  const std::vector<std::string> domains = {"example.com"};
  mtp::SimpleReplayCache cache;
  const mtp::ClientHelloResult v =
      mtp::ValidateClientHello(mtp::ByteSpan(out).first(r.hello_size),
                               mtp::ClientHelloConfig{secrets, domains}, 443, kNow, cache);
  FUZZ_CHECK(v.accepted());
  // The fingerprint of the reassembled hello is the signed hello's.
  FUZZ_CHECK(mtp::Ja4Fingerprint(mtp::ByteSpan(out).first(r.hello_size)) ==
             mtp::Ja4Fingerprint(hello));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const mtp::ByteSpan in(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    ReassembleRaw(in);
  } else {
    SplitSigned((data[0] & 2) != 0, in);
  }
  return 0;
}
