// TlsFront (-D): fake-TLS in front of a session's obfuscated2 streams. The ClientHello step
// (reassembly and checks, tls_layer.h), client records unwrapped before the obfuscated2
// logic, the handshake and fronting-connect timers, and fronting: a connection that fails the
// checks is piped byte for byte to the domain's real site over the session's upstream leg
// (DirectUpstream's leg, without any cipher).
//
// Thread ownership: the shard thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/deadline_fifo.h"
#include "dataplane/shard/shard_context.h"
#include "proto/transport_tag.h"

namespace mtp {

class ClientSessions;
class InputBudget;

// Why a fake-TLS connection is piped to the real site (ClientHelloStatus rejections, plus the
// handshake timer and a wrong inner transport).
enum class FrontReason : uint8_t {
  kNotTls,
  kBadSni,
  kUnknownSni,
  kPort80,
  kExtraBytes,
  kTooBig,
  kReplay,
  kBadDigest,
  kBadTimestamp,
  kNoTls13Cipher,
  kTimeout,
  kBadInnerTag,
  kBadFragments,  // a ClientHello split over records that cannot be reassembled
  kAccessDenied,  // --allow-list / --block-list refuse the client's address
};
std::string_view FrontReasonName(FrontReason reason);

class TlsFront {
 public:
  explicit TlsFront(ShardContext& ctx);
  void Connect(ClientSessions& clients, InputBudget& budget) {
    clients_ = &clients;
    budget_ = &budget;
  }

  // An accepted session: allocates its TLS state, starts the hello phase and its handshake
  // timer (no-op without -D, where nothing is allocated). False if it closed the session.
  bool BeginTls(uint32_t slot, ClientSession& s);
  // Client bytes while fake-TLS is on: true when the buffer was taken care of (hello phase,
  // fronting, or released); false to go on with the normal path using the unwrapped *n bytes.
  bool TlsClientBytes(uint32_t slot, ClientSession& s, int32_t buffer_id, uint32_t* n);
  // After the inner obfuscated2 header: false (and fronting started) for a wrong transport.
  bool CheckTlsInnerTag(uint32_t slot, ClientSession& s, Transport transport);
  // Hello bytes already in s.in (they came with a PROXY header): checked as if just received.
  void OnHelloInput(uint32_t slot, ClientSession& s) { OnClientHelloBytes(slot, s); }
  // The real site could not be reached (no address, socket, connect error or timeout): counts
  // it, logs it (warning, at most one line per second per shard) and closes the client.
  void FrontFailed(uint32_t slot, ClientSession& s, std::string_view why);
  // From the tick: expires handshake and fronting-connect timers.
  void Tick();

 private:
  void OnClientHelloBytes(uint32_t slot, ClientSession& s);
  // --tls-unknown-sni close|alert: the hello named no -D domain and is not fronted.
  void RefuseUnknownSni(uint32_t slot, ClientSession& s);
  // --tls-front-proxy-protocol: the PROXY v2 header as the fronted connection's first bytes.
  // False if no buffer could hold it.
  bool QueueFrontProxyHeader(ClientSession& s);
  void StartFronting(uint32_t slot, ClientSession& s, size_t domain_index, FrontReason reason);
  void OnTlsHandshakeExpired(const DeadlineFifo::Entry& e);
  void OnFrontConnectExpired(const DeadlineFifo::Entry& e);

  ShardContext& ctx_;
  ClientSessions* clients_ = nullptr;
  InputBudget* budget_ = nullptr;
  // Fixed-length timers: handshake (from accept) and fronting connect.
  DeadlineFifo tls_deadlines_;
  DeadlineFifo front_deadlines_;
  int64_t front_fail_logged_ms_ = INT64_MIN;  // FrontFailed's log rate limit
  uint64_t front_fail_unlogged_ = 0;
};

}  // namespace mtp
