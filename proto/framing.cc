// Abridged / intermediate / padded frame codecs for both sides of the obfuscated2 stream.
#include "proto/framing.h"

#include <cassert>
#include <cstring>

#include "crypto/random.h"

namespace mtp {
namespace {

constexpr uint32_t kQuickAckBit = 0x80000000u;
constexpr uint32_t kBit30 = 0x40000000u;
constexpr uint8_t kAbridgedQuickAck = 0x80;
constexpr uint8_t kAbridgedLongMarker = 0x7f;
// Reference minimum buffering: 1 + 8 (abridged) and 4 + 8 (intermediate, padded).
constexpr size_t kAbridgedMinBuffered = 9;
constexpr size_t kIntermediateMinBuffered = 12;
// Clients (tdlib) pad with 0..15 bytes; the proxy with 0..3.
constexpr uint32_t kMaxClientPaddingBytes = 15;

ClientFrame Error(FrameError error) {
  ClientFrame frame;
  frame.status = FrameStatus::kError;
  frame.error = error;
  return frame;
}

ServerFrame ServerError() {
  ServerFrame frame;
  frame.kind = ServerFrameKind::kError;
  return frame;
}

}  // namespace

ClientFrame DecodeClientFrame(Transport transport, ByteSpan buffered) {
  ClientFrame frame;
  const size_t min_buffered =
      transport == Transport::kAbridged ? kAbridgedMinBuffered : kIntermediateMinBuffered;
  if (buffered.size() < min_buffered) {
    frame.wanted_bytes = min_buffered;
    return frame;
  }
  const uint32_t word = LoadLe32(buffered.data());
  uint32_t length = 0;
  switch (transport) {
    case Transport::kAbridged: {
      frame.quick_ack = (word & kAbridgedQuickAck) != 0;
      if ((word & 0x7f) == kAbridgedLongMarker) {
        const uint32_t words = word >> 8;
        if (words < kAbridgedLongMarker) return Error(FrameError::kOverlongAbridged);
        frame.prefix_bytes = 4;
        length = words * 4;  // < 2^26: no overflow
      } else {
        frame.prefix_bytes = 1;
        length = (word & 0x7f) * 4;
      }
      if (length == 0) return Error(FrameError::kZeroLength);
      break;
    }
    case Transport::kIntermediate:
    case Transport::kPadded: {
      frame.quick_ack = (word & kQuickAckBit) != 0;
      frame.prefix_bytes = 4;
      length = word & ~kQuickAckBit;
      if (length == 0) return Error(FrameError::kZeroLength);
      if ((length & kBit30) != 0) return Error(FrameError::kBit30Set);
      if (transport == Transport::kIntermediate && length % 4 != 0) {
        return Error(FrameError::kNotMultipleOf4);
      }
      break;
    }
  }
  if (length > kMaxFramePayloadBytes) return Error(FrameError::kTooLong);

  frame.payload_bytes = length & ~3u;
  frame.padding_bytes = length & 3u;
  frame.wanted_bytes = frame.frame_bytes();
  frame.status = buffered.size() < frame.wanted_bytes ? FrameStatus::kNeedMore : FrameStatus::kFrame;
  return frame;
}

size_t EncodeServerFrameHeader(Transport transport, uint32_t payload_bytes,
                               uint32_t padding_bytes, FrameHeaderBuffer out) {
  return EncodeClientFrameHeader(transport, payload_bytes, padding_bytes, false, out);
}

uint32_t ServerPaddingBytes(Transport transport) {
  return transport == Transport::kPadded ? FastRandomBelow(4) : 0;
}

QuickAckRandom DrawQuickAckRandom() {
  QuickAckRandom random;
  uint64_t bits = FastRandom64();
  random.bare = (bits & 1) != 0;
  random.extra_word_a = (bits & 2) != 0;
  random.extra_word_b = (bits & 4) != 0;
  random.padding_a = static_cast<uint8_t>((bits >> 3) & 3);
  random.padding_b = static_cast<uint8_t>((bits >> 5) & 3);
  uint64_t filler[2] = {FastRandom64(), FastRandom64()};
  std::memcpy(random.filler.data(), filler, random.filler.size());
  return random;
}

size_t EncodeServerQuickAck(Transport transport, uint32_t token, const QuickAckRandom& random,
                            std::span<uint8_t, kMaxServerQuickAckBytes> out) {
  switch (transport) {
    case Transport::kAbridged:
      out[0] = static_cast<uint8_t>(token >> 24);
      out[1] = static_cast<uint8_t>(token >> 16);
      out[2] = static_cast<uint8_t>(token >> 8);
      out[3] = static_cast<uint8_t>(token);
      return 4;
    case Transport::kIntermediate:
      StoreLe32(out.data(), token);
      return 4;
    case Transport::kPadded:
      break;
  }
  if (random.bare) {
    StoreLe32(out.data(), token);
    return 4;
  }
  assert(random.padding_a < 4 && random.padding_b < 4);
  const uint8_t* filler = random.filler.data();
  size_t pos = 0;
  // Frame A: -1, token, optional random word, then 0..3 pad bytes.
  uint32_t body_a = 8 + (random.extra_word_a ? 4 : 0);
  uint32_t pad_a = random.padding_a & 3u;
  StoreLe32(out.data() + pos, body_a + pad_a);
  StoreLe32(out.data() + pos + 4, 0xffffffffu);
  StoreLe32(out.data() + pos + 8, token);
  pos += 12;
  size_t filler_a = (random.extra_word_a ? 4 : 0) + pad_a;
  std::memcpy(out.data() + pos, filler, filler_a);
  pos += filler_a;
  filler += 7;
  // Frame B: 0, optional random word, then 0..3 pad bytes.
  uint32_t body_b = 4 + (random.extra_word_b ? 4 : 0);
  uint32_t pad_b = random.padding_b & 3u;
  StoreLe32(out.data() + pos, body_b + pad_b);
  StoreLe32(out.data() + pos + 4, 0);
  pos += 8;
  size_t filler_b = (random.extra_word_b ? 4 : 0) + pad_b;
  std::memcpy(out.data() + pos, filler, filler_b);
  pos += filler_b;
  return pos;
}

size_t EncodeClientFrameHeader(Transport transport, uint32_t payload_bytes,
                               uint32_t padding_bytes, bool quick_ack, FrameHeaderBuffer out) {
  assert(payload_bytes % 4 == 0);
  switch (transport) {
    case Transport::kAbridged: {
      assert(padding_bytes == 0);
      const uint32_t words = payload_bytes / 4;
      assert(words < (1u << 24));
      const uint8_t ack = quick_ack ? kAbridgedQuickAck : 0;
      if (words < kAbridgedLongMarker) {
        out[0] = static_cast<uint8_t>(words | ack);
        return 1;
      }
      StoreLe32(out.data(), (words << 8) | kAbridgedLongMarker | ack);
      return 4;
    }
    case Transport::kIntermediate:
      assert(padding_bytes == 0);
      StoreLe32(out.data(), payload_bytes | (quick_ack ? kQuickAckBit : 0));
      return 4;
    case Transport::kPadded:
      StoreLe32(out.data(), (payload_bytes + padding_bytes) | (quick_ack ? kQuickAckBit : 0));
      return 4;
  }
  return 0;
}

uint32_t ClientPaddingBytes(Transport transport) {
  return transport == Transport::kPadded ? FastRandomBelow(kMaxClientPaddingBytes + 1) : 0;
}

ServerFrame DecodeServerFrame(Transport transport, ByteSpan buffered) {
  ServerFrame frame;
  uint32_t length = 0;
  if (transport == Transport::kAbridged) {
    if (buffered.empty()) {
      frame.wanted_bytes = 1;
      return frame;
    }
    const uint8_t first = buffered[0];
    if ((first & kAbridgedQuickAck) != 0 || first == kAbridgedLongMarker) {
      if (buffered.size() < 4) {
        frame.wanted_bytes = 4;
        return frame;
      }
    }
    if ((first & kAbridgedQuickAck) != 0) {
      frame.kind = ServerFrameKind::kQuickAck;
      frame.prefix_bytes = 4;
      frame.quick_ack_token = LoadBe32(buffered.data());
      frame.wanted_bytes = 4;
      return frame;
    }
    if (first == kAbridgedLongMarker) {
      frame.prefix_bytes = 4;
      length = (LoadLe32(buffered.data()) >> 8) * 4;
    } else {
      frame.prefix_bytes = 1;
      length = first * 4u;
    }
    if (length == 0 || length > kMaxFramePayloadBytes) return ServerError();
  } else {
    if (buffered.size() < 4) {
      frame.wanted_bytes = 4;
      return frame;
    }
    const uint32_t word = LoadLe32(buffered.data());
    if ((word & kQuickAckBit) != 0) {
      frame.kind = ServerFrameKind::kQuickAck;
      frame.prefix_bytes = 4;
      frame.quick_ack_token = word;
      frame.wanted_bytes = 4;
      return frame;
    }
    frame.prefix_bytes = 4;
    length = word;
    if (length == 0) return ServerError();
    if (transport == Transport::kIntermediate) {
      if (length % 4 != 0 || length > kMaxFramePayloadBytes) return ServerError();
    } else if (length > kMaxFramePayloadBytes + kMaxClientPaddingBytes) {
      return ServerError();
    }
  }
  frame.payload_bytes = length & ~3u;
  frame.padding_bytes = length & 3u;
  frame.wanted_bytes = frame.frame_bytes();
  if (buffered.size() < frame.wanted_bytes) return frame;  // kNeedMore

  frame.kind = ServerFrameKind::kFrame;
  if (transport == Transport::kPadded && length >= 4) {
    const uint32_t first_word = LoadLe32(buffered.data() + 4);
    if (first_word == 0xffffffffu && length >= 8 && length < 16) {
      frame.kind = ServerFrameKind::kQuickAck;
      frame.quick_ack_token = LoadLe32(buffered.data() + 8);
    } else if (first_word == 0 && length < 12) {
      frame.kind = ServerFrameKind::kNoOp;
    }
  }
  return frame;
}

}  // namespace mtp
