// Fuzz target: every framing decoder over an arbitrary plaintext stream. Byte 0 selects the
// transport (bits 0-1, mod 3) and the side (bit 2: 0 = proxy decoding client frames and
// filtering payloads, 1 = client decoding server frames); the rest is the stream.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "proto/framing.h"
#include "proto/mtproto_filter.h"

namespace {

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) std::abort(); \
  } while (0)

void ClientSide(mtp::Transport transport, mtp::ByteSpan stream) {
  while (true) {
    mtp::ClientFrame f = mtp::DecodeClientFrame(transport, stream);
    if (f.status == mtp::FrameStatus::kError) {
      FUZZ_CHECK(f.error != mtp::FrameError::kNone);
      return;
    }
    FUZZ_CHECK(f.error == mtp::FrameError::kNone);
    if (f.status == mtp::FrameStatus::kNeedMore) {
      FUZZ_CHECK(f.wanted_bytes > stream.size());
      return;
    }
    FUZZ_CHECK(f.frame_bytes() == f.wanted_bytes && f.frame_bytes() <= stream.size());
    FUZZ_CHECK(f.payload_bytes % 4 == 0 && f.payload_bytes <= mtp::kMaxFramePayloadBytes);
    FUZZ_CHECK(f.prefix_bytes == 1 || f.prefix_bytes == 4);
    FUZZ_CHECK(f.padding_bytes < 4);
    FUZZ_CHECK(transport == mtp::Transport::kPadded || f.padding_bytes == 0);
    FUZZ_CHECK(f.frame_bytes() > 0);
    // The client encoder reproduces the prefix bit for bit (no two encodings of one frame).
    std::array<uint8_t, mtp::kMaxFrameHeaderBytes> hdr{};
    size_t n = mtp::EncodeClientFrameHeader(transport, f.payload_bytes, f.padding_bytes,
                                            f.quick_ack, hdr);
    FUZZ_CHECK(n == f.prefix_bytes && std::memcmp(hdr.data(), stream.data(), n) == 0);

    mtp::ByteSpan payload = stream.subspan(f.prefix_bytes, f.payload_bytes);
    mtp::FilterResult r = mtp::ClassifyClientPayload(payload);
    if (r.verdict == mtp::FilterVerdict::kAnswerPong) {
      std::array<uint8_t, mtp::kPongPayloadBytes> pong{};
      mtp::BuildPong(payload, pong);
      FUZZ_CHECK(std::memcmp(pong.data() + 4, payload.data() + 4, 8) == 0);
    } else if (r.verdict == mtp::FilterVerdict::kForward) {
      FUZZ_CHECK(payload.size() >= 28 && payload.size() % 4 == 0);
      FUZZ_CHECK(r.drop_reason == mtp::FilterDropReason::kNone);
    } else {
      FUZZ_CHECK(r.drop_reason != mtp::FilterDropReason::kNone);
    }
    stream = stream.subspan(f.frame_bytes());
  }
}

void ServerSide(mtp::Transport transport, mtp::ByteSpan stream) {
  while (true) {
    mtp::ServerFrame f = mtp::DecodeServerFrame(transport, stream);
    switch (f.kind) {
      case mtp::ServerFrameKind::kError:
        return;
      case mtp::ServerFrameKind::kNeedMore:
        FUZZ_CHECK(f.wanted_bytes > stream.size());
        return;
      case mtp::ServerFrameKind::kFrame:
        FUZZ_CHECK(f.payload_bytes % 4 == 0 && f.padding_bytes < 4);
        break;
      case mtp::ServerFrameKind::kQuickAck:
      case mtp::ServerFrameKind::kNoOp:
        break;
    }
    FUZZ_CHECK(f.frame_bytes() > 0 && f.frame_bytes() <= stream.size());
    stream = stream.subspan(f.frame_bytes());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto transport = static_cast<mtp::Transport>((data[0] & 3) % 3);
  mtp::ByteSpan stream(data + 1, size - 1);
  if ((data[0] & 4) == 0) {
    ClientSide(transport, stream);
  } else {
    ServerSide(transport, stream);
  }
  return 0;
}
