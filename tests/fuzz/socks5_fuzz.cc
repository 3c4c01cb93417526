// Fuzz target: the SOCKS5 reply reader (proto/socks5.h) over arbitrary bytes. The first byte
// picks the stage and the offered method; the rest is the server's stream, fed once whole and
// once in pieces whose sizes come from the input. Checks that both feedings give the same
// verdict after the same number of bytes, that the reader never takes a byte past its reply
// (kSocks5MaxReplyBytes), that kDone replies have the length their header announces, and that
// a CONNECT reply's IPv4/IPv6 bound address survives a rebuild as a CONNECT request.
#include <cstdint>
#include <cstdlib>

#include "core/bytes.h"
#include "proto/socks5.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

bool Same(const mtp::Socks5Reply& a, const mtp::Socks5Reply& b) {
  return a.status == b.status && a.error == b.error && a.method == b.method &&
         a.reply_code == b.reply_code && a.address_type == b.address_type && a.bound == b.bound;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mtp::Socks5Stage;
  using mtp::Socks5Status;
  if (size < 2) return 0;
  const Socks5Stage stage = static_cast<Socks5Stage>(data[0] % mtp::kSocks5StageCount);
  const bool creds = (data[0] & 0x80) != 0;
  const uint8_t split_seed = data[1];
  const mtp::ByteSpan stream(data + 2, size - 2);

  size_t whole_taken = 0;
  const mtp::Socks5Reply whole = mtp::ParseSocks5Reply(stage, creds, stream, &whole_taken);
  FUZZ_CHECK(whole_taken <= stream.size());
  FUZZ_CHECK(whole_taken <= mtp::kSocks5MaxReplyBytes);
  if (whole.status == Socks5Status::kNeedMore) FUZZ_CHECK(whole_taken == stream.size());
  if (whole.status == Socks5Status::kError) {
    FUZZ_CHECK(whole.error != mtp::Socks5Error::kNone);
  } else {
    FUZZ_CHECK(whole.error == mtp::Socks5Error::kNone);
  }

  // Pieces of 1..8 bytes, sizes drawn from the seed.
  mtp::Socks5ReplyReader reader;
  reader.Expect(stage, creds);
  size_t pos = 0;
  size_t taken = 0;
  uint32_t x = split_seed | 1u;
  mtp::Socks5Reply pieces;
  while (pos < stream.size()) {
    x = x * 1103515245u + 12345u;
    size_t len = 1 + ((x >> 16) % 8);
    if (len > stream.size() - pos) len = stream.size() - pos;
    size_t n = 0;
    pieces = reader.Feed(stream.subspan(pos, len), &n);
    FUZZ_CHECK(n <= len);
    taken += n;
    if (reader.finished()) {
      FUZZ_CHECK(pieces.status != Socks5Status::kNeedMore);
      break;
    }
    FUZZ_CHECK(n == len);
    pos += len;
  }
  if (!stream.empty()) {
    FUZZ_CHECK(Same(pieces, whole));
    FUZZ_CHECK(taken == whole_taken);
  }

  if (whole.status == Socks5Status::kDone) {
    switch (stage) {
      case Socks5Stage::kMethod:
      case Socks5Stage::kAuth:
        FUZZ_CHECK(whole_taken == 2);
        break;
      case Socks5Stage::kConnect:
        FUZZ_CHECK(whole.reply_code == 0);
        if (whole.address_type == mtp::kSocks5AtypDomain) {
          FUZZ_CHECK(!whole.bound.valid());
          FUZZ_CHECK(whole_taken == size_t{7} + stream[4]);
        } else {
          FUZZ_CHECK(whole.bound.valid());
          FUZZ_CHECK(whole_taken == mtp::Socks5ConnectBytes(whole.bound.is_v6()));
          // The bound address in the shape of a CONNECT request: same bytes after the header.
          const mtp::Socks5Request again = mtp::BuildSocks5Connect(whole.bound);
          if (whole.bound.is_v6() && whole.bound.is_v4_mapped()) break;  // sent as IPv4
          FUZZ_CHECK(again.size == whole_taken);
          for (size_t i = 3; i < again.size; ++i) FUZZ_CHECK(again.bytes[i] == stream[i]);
        }
        break;
    }
  }
  return 0;
}
