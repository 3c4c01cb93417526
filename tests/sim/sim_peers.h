// The simulated peers of one shard: clients (obfuscated2 in the three framings, plus hostile
// ones), middle-ends (the server side of TCP-RPC through RpcLink, echoing RPC_PROXY_REQ as
// RPC_PROXY_ANS) and DCs for direct mode (obfuscated2 server side, echoing the stream). Each
// peer checks what it receives against what the clients sent and reports violations to the
// world. Every decision comes from the world's SimRandom.
//
// Thread ownership: one simulator run.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/aes.h"
#include "crypto/secret.h"
#include "proto/rpc_link.h"
#include "proto/transport_tag.h"
#include "tests/sim/sim_engine.h"

namespace mtp::sim {

enum class ClientKind : uint8_t {
  kGood,              // handshake, frames of random sizes, reads the echoes
  kNonReader,         // like kGood but does not read until the run quiesces
  kSlowSender,        // like kGood but trickles its bytes, often one at a time
  kGarbage,           // random bytes (skip mode)
  kPartialHeader,     // part of a header, then silence
  kWrongSecret,       // a valid-looking header under a secret the proxy does not know
  kBadFrame,          // a valid header, then a frame the decoder must reject
  kHoldPartialFrame,  // a valid header, then part of a large frame, then silence
};
std::string_view ClientKindName(ClientKind kind);

// Per-mille chances of the peers' faults, drawn once per run.
struct PeerFaults {
  uint32_t client_abort = 0;  // per step: one client closes (FIN) or resets mid-stream
  uint32_t slow_reader = 0;   // per step: one peer stops reading for a while
  uint32_t link_loss = 0;     // per step: one connection is reset (network failure)
  uint32_t me_close_ext = 0;  // per request: the ME answers with RPC_CLOSE_EXT afterwards
  uint32_t server_close = 0;  // per step: one ME/DC closes its connection
  uint32_t clock_jump = 0;    // per step: the clock jumps 1-20 s forward
};

// One frame a client sent, kept as a seed so its bytes can be regenerated for checks.
struct SentFrame {
  uint64_t seed = 0;
  uint32_t body_bytes = 0;  // payload + client padding, as written after the length prefix
  uint32_t fwd_bytes = 0;   // what the proxy decodes as payload (padded: body & ~3)
  bool quick_ack = false;
};

class SimWorld;

class SimClient {
 public:
  SimClient(SimWorld& world, uint32_t id, ClientKind kind);

  // One move: connect, write, read. `quiesce`: no new traffic, write and read everything.
  void Step(bool quiesce);
  // Faults the world applies: the client resets or closes mid-stream; stops reading a while.
  void Abort(bool reset);
  void PauseReading(uint64_t until_step) { read_paused_until_ = until_step; }

  uint32_t id() const { return id_; }
  ClientKind kind() const { return kind_; }
  bool connected() const { return conn_ >= 0; }
  uint32_t conn() const { return static_cast<uint32_t>(conn_); }
  // The proxy closed or reset the connection (or refused it).
  bool closed_by_proxy() const;
  bool closed_by_us() const { return closed_by_us_; }
  bool finished_sending() const { return frames_sent_ == frames_total_ && out_.empty(); }
  Transport transport() const { return transport_; }
  int dc_id() const { return dc_id_; }

  // ME mode: the ME checks a request's data against frame `me_got_` (and counts it).
  // Returns "" or what is wrong.
  std::string OnMeRequest(uint64_t ext_conn_id, ByteSpan data, bool quick_ack_flag);
  // End-of-run check: everything sent arrived and came back (when not closed). "" if fine.
  std::string CheckComplete(bool me_mode) const;
  std::string Describe() const;

  uint64_t frames_sent() const { return frames_sent_; }
  // Grows whenever the client's traffic moves (the quiesce phase waits while it does).
  uint64_t progress() const { return me_got_ + echo_got_ + out_.size(); }
  uint64_t frames_echoed() const { return echo_got_; }

  // Regenerates the bytes of a sent frame's body.
  static void FillBody(uint64_t seed, uint32_t kind_bits, std::span<uint8_t> out);
  // The quick-ack token the simulated ME answers for a request's data.
  static uint32_t AckToken(ByteSpan data);

 private:
  void Connect();
  void Generate();
  void WriteSome(bool quiesce);
  void ReadSome(bool quiesce);
  void OnPlaintext(const uint8_t* data, size_t n);
  void DecodeFrames();
  void AppendFrame(uint32_t body_bytes, uint32_t fwd_bytes, uint64_t seed, bool quick_ack,
                   bool ping);
  void Fail(std::string what);

  SimWorld& world_;
  const uint32_t id_;
  const ClientKind kind_;
  int64_t conn_ = -1;
  Transport transport_ = Transport::kIntermediate;
  int dc_id_ = 2;
  bool reads_ = true;
  uint64_t read_paused_until_ = 0;  // step
  bool closed_by_us_ = false;
  bool handshake_sent_ = false;
  uint32_t frames_total_ = 0;
  uint32_t frames_sent_ = 0;
  uint32_t max_frame_bytes_ = 1024;
  uint32_t send_pm_ = 500;
  AesCtr encrypt_;
  AesCtr decrypt_;
  std::vector<uint8_t> out_;  // ciphertext not yet written
  std::vector<uint8_t> rx_;   // received plaintext not yet decoded
  // ME mode expectations, in order.
  std::vector<SentFrame> forwarded_;  // frames the proxy must forward
  size_t me_got_ = 0;                 // ... of which the ME received
  size_t echo_got_ = 0;               // ... of which the client got the echo
  uint64_t ext_conn_id_ = 0;
  std::deque<uint64_t> pings_;  // PONG ids expected
  std::deque<uint32_t> acks_;   // quick-ack tokens expected
  // Direct mode: the plaintext stream sent after the header, not yet echoed back.
  ByteQueue direct_expect_;
  bool failed_ = false;
};

// The server side of one ME link (RpcLink in the server role) on a connection the proxy
// opened.
class SimMeLink final : public RpcLinkVisitor {
 public:
  SimMeLink(SimWorld& world, uint32_t conn, const SocketAddress& me_address);
  void Step(bool quiesce);
  bool done() const { return done_; }
  uint32_t conn() const { return conn_; }
  void Hangup();
  void PauseReading(uint64_t until_step) { read_paused_until_ = until_step; }

  void OnRpcLinkReady(RpcLink& link, const RpcHandshake& peer) override;
  void OnRpcMessage(RpcLink& link, uint32_t type, ByteSpan payload) override;

 private:
  SimWorld& world_;
  uint32_t conn_;
  std::unique_ptr<RpcLink> link_;
  bool ready_ = false;
  bool done_ = false;
  uint64_t read_paused_until_ = 0;
  std::vector<uint64_t> close_ext_;  // RPC_CLOSE_EXT to send after this Feed
  std::vector<uint8_t> scratch_;
};

// The DC end of a direct-mode connection: checks the proxy's obfuscated2 header and echoes
// the decrypted stream back, re-encrypted.
class SimDcLink {
 public:
  SimDcLink(SimWorld& world, uint32_t conn);
  void Step(bool quiesce);
  bool done() const { return done_; }
  uint32_t conn() const { return conn_; }
  void Hangup();
  void PauseReading(uint64_t until_step) { read_paused_until_ = until_step; }

 private:
  SimWorld& world_;
  uint32_t conn_;
  std::vector<uint8_t> header_;
  bool accepted_ = false;
  AesCtr decrypt_;
  AesCtr encrypt_;
  bool done_ = false;
  uint64_t read_paused_until_ = 0;
};

// What the peers share: the engine's network, the run's randomness, the secrets and a sink
// for violations.
class SimWorld {
 public:
  SimEngine* engine = nullptr;
  SimRandom* random = nullptr;
  SimClock* clock = nullptr;
  bool me_mode = true;
  uint16_t listen_port = 443;
  std::vector<ClientSecret> secrets;  // the proxy's -S secrets
  std::vector<uint8_t> proxy_secret;  // ME mode
  PeerFaults faults;
  uint64_t step = 0;
  std::vector<std::unique_ptr<SimClient>> clients;
  std::function<void(std::string)> violation;

  // A client's address encodes its id (the ME finds the client from RPC_PROXY_REQ).
  static SocketAddress ClientAddress(uint32_t id);
  // The client id behind an RPC_PROXY_REQ client_ip, or nullopt.
  static std::optional<uint32_t> ClientIdFromIp(const std::array<uint8_t, 16>& ip);
  SimClient* client(uint32_t id) { return id < clients.size() ? clients[id].get() : nullptr; }
};

}  // namespace mtp::sim
