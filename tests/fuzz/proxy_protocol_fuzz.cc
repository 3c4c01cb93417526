// Fuzz target: the PROXY protocol v1/v2 parser (proto/proxy_protocol.h) over arbitrary bytes,
// fed one prefix at a time as a reader would see them. Checks that the verdict never changes
// once given (the same error, or the same header, for every longer prefix), that it is given
// by kMaxProxyHeaderBytes, that a complete header parses alone to the same result, and that
// its addresses survive a rebuild with the builder of the same version.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/bytes.h"
#include "proto/proxy_protocol.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

bool Same(const mtp::ProxyHeader& a, const mtp::ProxyHeader& b) {
  return a.status == b.status && a.error == b.error && a.version == b.version &&
         a.header_len == b.header_len && a.is_local == b.is_local && a.source == b.source &&
         a.destination == b.destination;
}

void CheckDone(const mtp::ProxyHeader& h, const uint8_t* data, size_t seen) {
  using mtp::ProxyHeaderStatus;
  FUZZ_CHECK(h.error == mtp::ProxyHeaderError::kNone);
  FUZZ_CHECK(h.version == 1 || h.version == 2);
  FUZZ_CHECK(h.header_len > 0 && h.header_len <= seen);
  FUZZ_CHECK(h.header_len <= (h.version == 1 ? mtp::kMaxProxyV1Bytes : mtp::kMaxProxyV2Bytes));
  if (h.version == 1) {
    FUZZ_CHECK(data[h.header_len - 2] == '\r' && data[h.header_len - 1] == '\n');
  }
  // The header alone is the same header.
  FUZZ_CHECK(Same(mtp::ParseProxyHeader(mtp::ByteSpan(data, h.header_len)), h));
  if (h.is_local) {
    FUZZ_CHECK(!h.source.valid() && !h.destination.valid());
    return;
  }
  FUZZ_CHECK(h.source.valid() && h.destination.valid());
  FUZZ_CHECK(h.source.family() == h.destination.family());
  const std::string rebuilt = h.version == 1 ? mtp::BuildProxyV1(h.source, h.destination)
                                             : mtp::BuildProxyV2(h.source, h.destination);
  const mtp::ProxyHeader again = mtp::ParseProxyHeader(
      mtp::ByteSpan(reinterpret_cast<const uint8_t*>(rebuilt.data()), rebuilt.size()));
  FUZZ_CHECK(again.status == ProxyHeaderStatus::kDone && !again.is_local);
  FUZZ_CHECK(again.header_len == rebuilt.size());
  FUZZ_CHECK(again.source.Unmapped() == h.source.Unmapped());
  FUZZ_CHECK(again.destination.Unmapped() == h.destination.Unmapped());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mtp::ProxyHeaderStatus;
  // Past the longest header nothing can change the verdict; a little more shows that.
  const size_t limit = size < mtp::kMaxProxyHeaderBytes + 8 ? size : mtp::kMaxProxyHeaderBytes + 8;
  bool decided = false;
  mtp::ProxyHeader verdict;
  for (size_t n = 0; n <= limit; ++n) {
    const mtp::ProxyHeader h = mtp::ParseProxyHeader(mtp::ByteSpan(data, n));
    if (decided) {
      FUZZ_CHECK(Same(h, verdict));
      continue;
    }
    switch (h.status) {
      case ProxyHeaderStatus::kNeedMore:
        FUZZ_CHECK(n < mtp::kMaxProxyHeaderBytes);
        FUZZ_CHECK(h.error == mtp::ProxyHeaderError::kNone);
        break;
      case ProxyHeaderStatus::kError:
        FUZZ_CHECK(h.error != mtp::ProxyHeaderError::kNone);
        FUZZ_CHECK(n > 0);
        decided = true;
        verdict = h;
        break;
      case ProxyHeaderStatus::kDone:
        CheckDone(h, data, n);
        // Done exactly when the last header byte arrives, never later.
        FUZZ_CHECK(h.header_len == n);
        decided = true;
        verdict = h;
        break;
    }
  }
  return 0;
}
