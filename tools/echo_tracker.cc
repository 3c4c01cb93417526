// EchoTracker implementation.
#include "tools/echo_tracker.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "crypto/crc32.h"
#include "crypto/random.h"
#include "tools/echo_payload.h"

namespace mtp::tools {

EchoTracker::EchoTracker(uint64_t auth_key_id, uint64_t stream_seed, ClientPadding padding)
    : auth_key_id_(auth_key_id), stream_seed_(stream_seed), padding_(padding) {}

size_t EchoTracker::PickPadding(std::array<uint8_t, 16>* pad) const {
  size_t n = 0;
  switch (padding_) {
    case ClientPadding::kTdlib:
      n = FastRandomBelow(16);
      break;
    case ClientPadding::kMod4:
      n = FastRandomBelow(4);
      break;
    case ClientPadding::kNone:
      return 0;
  }
  uint64_t r[2] = {FastRandom64(), FastRandom64()};
  std::memcpy(pad->data(), r, 16);
  return n;
}

void EchoTracker::SendGenerated(ClientCodec& codec, size_t size, bool quick_ack, int64_t now_ns,
                                std::vector<uint8_t>* out) {
  InFlight f;
  f.seq = next_seq_++;
  f.size = static_cast<uint32_t>(size);
  f.quick_ack = quick_ack;
  f.sent_ns = now_ns;
  size_t pad = codec.transport() == Transport::kPadded ? PickPadding(&f.pad) : 0;
  // The frame length counts the padding: stay within the largest frame a server accepts.
  pad = std::min(pad, size < kMaxPayloadBytes ? kMaxPayloadBytes - size : size_t{0});
  f.echo_pad = static_cast<uint8_t>(pad & ~size_t{3});
  uint32_t crc = 0;
  codec.AppendFrame(size, quick_ack, ByteSpan(f.pad.data(), pad), [&](MutableByteSpan dst) {
    FillPayload(auth_key_id_, stream_seed_, f.seq, dst);
    if (quick_ack) crc = Crc32c(dst);
  }, out);
  if (quick_ack) f.token = Crc32c(ByteSpan(f.pad.data(), f.echo_pad), crc) | 0x80000000u;
  payload_bytes_sent_ += size;
  in_flight_.push_back(std::move(f));
}

void EchoTracker::SendLiteral(ClientCodec& codec, ByteSpan payload, bool quick_ack,
                              int64_t now_ns, std::vector<uint8_t>* out) {
  InFlight f;
  f.seq = next_seq_++;
  f.literal = true;
  f.quick_ack = quick_ack;
  f.sent_ns = now_ns;
  f.literal_bytes.assign(payload.begin(), payload.end());
  size_t pad = codec.transport() == Transport::kPadded ? PickPadding(&f.pad) : 0;
  pad = std::min(pad, payload.size() < kMaxPayloadBytes ? kMaxPayloadBytes - payload.size()
                                                        : size_t{0});
  f.echo_pad = static_cast<uint8_t>(pad & ~size_t{3});
  codec.AppendFrame(payload.size(), quick_ack, ByteSpan(f.pad.data(), pad),
                    [&](MutableByteSpan dst) {
                      std::memcpy(dst.data(), payload.data(), payload.size());
                    },
                    out);
  if (quick_ack) {
    f.token = Crc32c(ByteSpan(f.pad.data(), f.echo_pad), Crc32c(payload)) | 0x80000000u;
  }
  payload_bytes_sent_ += payload.size();
  in_flight_.push_back(std::move(f));
}

bool EchoTracker::OnEcho(ByteSpan payload, int64_t now_ns, int64_t* rtt_ns,
                         std::string* error) {
  if (in_flight_.empty()) {
    *error = absl::StrCat("unexpected frame of ", payload.size(), " bytes (nothing in flight)");
    return false;
  }
  InFlight& f = in_flight_.front();
  if (f.quick_ack && !f.acked) {
    *error = absl::StrCat("echo of frame ", f.seq, " arrived before its quick ack");
    return false;
  }
  const size_t body = f.literal ? f.literal_bytes.size() : f.size;
  if (payload.size() != body + f.echo_pad) {
    *error = absl::StrCat("frame ", f.seq, ": echo has ", payload.size(), " bytes, expected ",
                          body + f.echo_pad);
    return false;
  }
  size_t bad = 0;
  bool ok = f.literal ? std::memcmp(payload.data(), f.literal_bytes.data(), body) == 0
                      : VerifyPayload(auth_key_id_, stream_seed_, f.seq, body,
                                      payload.first(body), &bad);
  if (ok && f.echo_pad > 0) {
    ok = std::memcmp(payload.data() + body, f.pad.data(), f.echo_pad) == 0;
    bad = body;
  }
  if (!ok) {
    *error = absl::StrCat("frame ", f.seq, ": echo differs at byte ", bad);
    return false;
  }
  *rtt_ns = now_ns - f.sent_ns;
  ++verified_;
  payload_bytes_verified_ += body;
  in_flight_.pop_front();
  return true;
}

bool EchoTracker::OnQuickAck(uint32_t token, std::string* error) {
  for (InFlight& f : in_flight_) {
    if (!f.quick_ack || f.acked) continue;
    if (f.token != token) {
      *error = absl::StrFormat("frame %d: quick ack token %08x, expected %08x", f.seq, token,
                               f.token);
      return false;
    }
    f.acked = true;
    ++quick_acks_;
    return true;
  }
  *error = absl::StrFormat("unexpected quick ack %08x", token);
  return false;
}

}  // namespace mtp::tools
