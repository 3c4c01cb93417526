// Per-connection bookkeeping of the echo peers' clients (mtp-client, mtp-loadgen): builds
// outgoing frames with deterministic payloads, remembers what is in flight, and verifies each
// echo byte for byte and each quick-ack token, in order. Owned by the connection's thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "tools/client_codec.h"

namespace mtp::tools {

// How the client pads frames on the padded transport.
enum class ClientPadding : uint8_t {
  kTdlib,  // 0..15 random bytes (what tdlib does); whole words of it come back in the echo
  kMod4,   // 0..3 random bytes (all stripped by the receiver)
  kNone,
};

class EchoTracker {
 public:
  EchoTracker(uint64_t auth_key_id, uint64_t stream_seed, ClientPadding padding);

  // Appends one frame with a FillPayload() body of `size` bytes (a multiple of 4).
  void SendGenerated(ClientCodec& codec, size_t size, bool quick_ack, int64_t now_ns,
                     std::vector<uint8_t>* out);
  // Appends one frame carrying `payload` verbatim (e.g. an unencrypted req_pq_multi).
  void SendLiteral(ClientCodec& codec, ByteSpan payload, bool quick_ack, int64_t now_ns,
                   std::vector<uint8_t>* out);

  // Checks an echo against the oldest frame in flight. False (with `error`) on any mismatch,
  // an echo nobody asked for, or an echo that overtook its quick ack. `rtt_ns` gets the round
  // trip of the frame.
  bool OnEcho(ByteSpan payload, int64_t now_ns, int64_t* rtt_ns, std::string* error);
  // Checks a quick-ack token against the oldest frame that asked for one and is not acked.
  bool OnQuickAck(uint32_t token, std::string* error);

  size_t in_flight() const { return in_flight_.size(); }
  uint64_t sent() const { return next_seq_; }
  uint64_t verified() const { return verified_; }
  uint64_t quick_acks() const { return quick_acks_; }
  uint64_t payload_bytes_sent() const { return payload_bytes_sent_; }
  uint64_t payload_bytes_verified() const { return payload_bytes_verified_; }

 private:
  struct InFlight {
    uint64_t seq = 0;
    uint32_t size = 0;          // generated payload bytes (0 for literals)
    uint8_t echo_pad = 0;       // whole words of client padding that come back
    bool literal = false;
    bool quick_ack = false;
    bool acked = false;
    uint32_t token = 0;         // expected quick-ack token
    std::array<uint8_t, 16> pad{};
    std::vector<uint8_t> literal_bytes;
    int64_t sent_ns = 0;
  };
  size_t PickPadding(std::array<uint8_t, 16>* pad) const;

  uint64_t auth_key_id_;
  uint64_t stream_seed_;
  ClientPadding padding_;
  std::deque<InFlight> in_flight_;
  uint64_t next_seq_ = 0;
  uint64_t verified_ = 0;
  uint64_t quick_acks_ = 0;
  uint64_t payload_bytes_sent_ = 0;
  uint64_t payload_bytes_verified_ = 0;
};

}  // namespace mtp::tools
